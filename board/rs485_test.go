package board

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"
	"unsafe"
)

func TestSerialRS485Layout(t *testing.T) {
	// struct serial_rs485 is 32 bytes on every Linux architecture.
	if n := unsafe.Sizeof(serialRS485{}); n != 32 {
		t.Fatalf("sizeof(serialRS485) = %d, want 32", n)
	}
}

// u32s lays out 32-bit words in the host's byte order, as the kernel
// reads them.
func u32s(words ...uint32) []byte {
	var b []byte
	for _, w := range words {
		b = binary.NativeEndian.AppendUint32(b, w)
	}
	return append(b, make([]byte, 32-len(b))...)
}

func TestRS485Encode(t *testing.T) {
	tests := []struct {
		name string
		cfg  RS485Config
		want []byte // the struct as the ioctl passes it
	}{
		{"off", RS485Config{}, u32s(0, 0, 0)},
		{"active-high driver enable", RS485Config{Enabled: true, RTSOnSend: true}, u32s(0x03, 0, 0)},
		{"active-low driver enable", RS485Config{Enabled: true, RTSAfterSend: true}, u32s(0x05, 0, 0)},
		{"rx during tx", RS485Config{Enabled: true, RTSOnSend: true, RXDuringTX: true}, u32s(0x13, 0, 0)},
		{"delays", RS485Config{Enabled: true, RTSOnSend: true, DelayBeforeSend: 2 * time.Millisecond, DelayAfterSend: 100 * time.Millisecond},
			u32s(0x03, 2, 100)},
		{"sub-millisecond delay rounds up", RS485Config{Enabled: true, DelayBeforeSend: 1500 * time.Microsecond, DelayAfterSend: time.Nanosecond},
			u32s(0x01, 2, 1)},
	}
	for _, tc := range tests {
		s, err := tc.cfg.encode()
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		got := unsafe.Slice((*byte)(unsafe.Pointer(&s)), unsafe.Sizeof(s))
		if !bytes.Equal(got, tc.want) {
			t.Errorf("%s: encoded % x, want % x", tc.name, got, tc.want)
		}
		back := s.decode()
		want := tc.cfg
		want.DelayBeforeSend = time.Duration(s.DelayRTSBeforeSend) * time.Millisecond
		want.DelayAfterSend = time.Duration(s.DelayRTSAfterSend) * time.Millisecond
		if back != want {
			t.Errorf("%s: decode = %+v, want %+v", tc.name, back, want)
		}
	}
}

func TestRS485EncodeRejectsBadDelays(t *testing.T) {
	for _, cfg := range []RS485Config{
		{DelayBeforeSend: -time.Millisecond},
		{DelayAfterSend: 2 * time.Hour},
	} {
		_, err := cfg.encode()
		if err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("encode(%+v) = %v, want an out of range error", cfg, err)
		}
		if err := SetRS485(0, cfg); err == nil || !strings.Contains(err.Error(), "delay") {
			t.Errorf("SetRS485(%+v) = %v, want the delay named", cfg, err)
		}
	}
}
