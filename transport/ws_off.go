//go:build nows

// With the nows build tag edgemq is built without WebSocket listeners:
// they link net/http and gorilla/websocket, about 850 KB of a linux/mipsle
// binary (docs/size.md), which the smallest routers may not spare.

package transport

import (
	"errors"
	"fmt"
	"log/slog"
)

// Subprotocol is the WebSocket subprotocol of MQTT [MQTT-6.0.0-3].
const Subprotocol = "mqtt"

// ErrNoWebSocket is returned by ListenWS in a build with the nows tag.
var ErrNoWebSocket = fmt.Errorf("this edgemq was built without WebSocket listeners (nows build tag): %w", errors.ErrUnsupported)

// ListenWS returns ErrNoWebSocket: this binary has no WebSocket support.
func ListenWS(name, address, path string, certs *Certificates, h Handler, log *slog.Logger) (Listener, error) {
	return nil, ErrNoWebSocket
}
