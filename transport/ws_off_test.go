//go:build nows

package transport_test

import (
	"errors"
	"testing"

	"github.com/edgemq/edgemq/transport"
)

func TestListenWSWithoutWebSocket(t *testing.T) {
	l, err := transport.ListenWS("ws", "127.0.0.1:0", "/mqtt", nil, nil, nil)
	if l != nil || !errors.Is(err, errors.ErrUnsupported) || !errors.Is(err, transport.ErrNoWebSocket) {
		t.Fatalf("ListenWS in a nows build = %v, %v; want ErrNoWebSocket", l, err)
	}
}
