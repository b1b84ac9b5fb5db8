package board

import (
	"errors"
	"fmt"
	"time"
)

// ErrRS485Unsupported is wrapped by SetRS485 and GetRS485 when the UART
// has no kernel RS-485 mode (the ioctl fails with ENOTTY, which the error
// also wraps): most USB adapters, ptys, and UARTs whose driver lacks
// rs485 support. The caller then drives RTS around each frame itself.
var ErrRS485Unsupported = errors.New("board: UART has no kernel RS-485 mode")

// RS485Config is the kernel's RS-485 mode of a UART (struct serial_rs485
// in linux/serial.h). With Enabled, the driver raises and drops RTS
// around each transmission, which user space cannot time as precisely.
type RS485Config struct {
	Enabled bool
	// RTSOnSend is the logical RTS level while sending, RTSAfterSend the
	// level after. Transceivers with an active-high driver enable want
	// RTSOnSend and not RTSAfterSend; the kernel replaces an equal pair
	// with RTSOnSend only.
	RTSOnSend    bool
	RTSAfterSend bool
	// RXDuringTX keeps the receiver on while sending (echo of own frames).
	RXDuringTX bool
	// DelayBeforeSend and DelayAfterSend hold RTS before the first and
	// after the last bit; the kernel takes whole milliseconds (rounded
	// up here) and clamps each to 100 ms on current kernels.
	DelayBeforeSend time.Duration
	DelayAfterSend  time.Duration
}

// Flags of struct serial_rs485 (linux/serial.h). Bit 3 was
// SER_RS485_RTS_BEFORE_SEND, unused since 3.x.
const (
	serRS485Enabled      = 1 << 0
	serRS485RTSOnSend    = 1 << 1
	serRS485RTSAfterSend = 1 << 2
	serRS485RXDuringTX   = 1 << 4
)

// serialRS485 is struct serial_rs485: three __u32 then a 20-byte union
// (padding[5], or addr_recv/addr_dest and padding), 32 bytes on every
// architecture; the MIPS ioctl numbers encode that size (0xc020542f).
type serialRS485 struct {
	Flags              uint32
	DelayRTSBeforeSend uint32 // milliseconds
	DelayRTSAfterSend  uint32 // milliseconds
	Padding            [5]uint32
}

// maxRS485Delay bounds a delay to what fits the kernel's u32 milliseconds
// with room to spare; the kernel clamps far lower anyway.
const maxRS485Delay = time.Hour

func (c RS485Config) encode() (serialRS485, error) {
	var s serialRS485
	if c.Enabled {
		s.Flags |= serRS485Enabled
	}
	if c.RTSOnSend {
		s.Flags |= serRS485RTSOnSend
	}
	if c.RTSAfterSend {
		s.Flags |= serRS485RTSAfterSend
	}
	if c.RXDuringTX {
		s.Flags |= serRS485RXDuringTX
	}
	var err error
	if s.DelayRTSBeforeSend, err = delayMillis("delay_before_send", c.DelayBeforeSend); err != nil {
		return s, err
	}
	if s.DelayRTSAfterSend, err = delayMillis("delay_after_send", c.DelayAfterSend); err != nil {
		return s, err
	}
	return s, nil
}

func delayMillis(name string, d time.Duration) (uint32, error) {
	if d < 0 || d > maxRS485Delay {
		return 0, fmt.Errorf("board: rs485 %s %v out of range [0, %v]", name, d, maxRS485Delay)
	}
	return uint32((d + time.Millisecond - 1) / time.Millisecond), nil
}

func (s serialRS485) decode() RS485Config {
	return RS485Config{
		Enabled:         s.Flags&serRS485Enabled != 0,
		RTSOnSend:       s.Flags&serRS485RTSOnSend != 0,
		RTSAfterSend:    s.Flags&serRS485RTSAfterSend != 0,
		RXDuringTX:      s.Flags&serRS485RXDuringTX != 0,
		DelayBeforeSend: time.Duration(s.DelayRTSBeforeSend) * time.Millisecond,
		DelayAfterSend:  time.Duration(s.DelayRTSAfterSend) * time.Millisecond,
	}
}
