package gateway

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/edgemq/edgemq/board"
)

// lineMode is how the RS-485 transceiver's driver is enabled.
type lineMode string

const (
	// lineKernel: the UART's kernel RS-485 mode (TIOCSRS485) raises RTS
	// for each transmission, with the configured delays, timed by the
	// driver.
	lineKernel lineMode = "kernel"
	// lineRTS: the UART has no kernel RS-485 mode; the gateway raises RTS
	// before each frame, waits delay_before_send, writes, waits until the
	// frame has left (tcdrain), waits delay_after_send and drops RTS.
	lineRTS lineMode = "rts"
	// lineNone: the adapter switches direction itself (rts_on_send:
	// false), or RTS cannot be driven on this port.
	lineNone lineMode = "none"
)

// rtsPort is what lineRTS needs of a go.bug.st/serial port.
type rtsPort interface {
	SetRTS(bool) error
	Drain() error
}

// lineControl times transmissions on a half-duplex line.
type lineControl struct {
	mode     lineMode
	port     rtsPort
	before   time.Duration
	after    time.Duration
	charTime time.Duration // one 10-bit character (8N1) at the line's baud rate
	log      *slog.Logger
	cnt      *counters // LineControl in Stats; may be nil
	warned   bool
}

// charTime is how long one character takes on the wire: start bit, 8
// data bits, stop bit.
func charTime(baud int) time.Duration {
	return (10*time.Second + time.Duration(baud) - 1) / time.Duration(baud)
}

// setup chooses the driver-enable method: the kernel's RS-485 mode where
// the UART supports it, else RTS toggled by the gateway. The mode is set
// on a separate descriptor before the port is opened (go.bug.st/serial
// takes the port exclusively); the UART keeps it.
func (l *lineControl) setup(device string, cfg RS485Config) {
	l.before, l.after = cfg.DelayBeforeSend, cfg.DelayAfterSend
	l.mode = lineRTS
	f, err := os.OpenFile(device, os.O_RDWR|syscall.O_NOCTTY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return // Open reports it
	}
	defer f.Close()
	err = board.SetRS485(f.Fd(), board.RS485Config{Enabled: true, RTSOnSend: true,
		DelayBeforeSend: cfg.DelayBeforeSend, DelayAfterSend: cfg.DelayAfterSend})
	switch {
	case err == nil:
		l.mode = lineKernel
	case errors.Is(err, board.ErrRS485Unsupported):
		l.log.Info("mqttsn gateway: UART has no kernel RS-485 mode; toggling RTS around each frame",
			"device", device)
	default:
		l.log.Warn("mqttsn gateway: cannot set the kernel RS-485 mode; toggling RTS around each frame",
			"device", device, "err", err)
	}
}

// transmit writes one frame and returns when the line is idle again,
// as best it knows: with RTS toggling, after the frame has drained and
// delay_after_send; otherwise at the time the frame's characters take at
// the baud rate (Write returns when the kernel has them, not the wire).
func (l *lineControl) transmit(w io.Writer, frame []byte) (time.Time, error) {
	rts := l.mode == lineRTS && l.port != nil
	if rts {
		if err := l.port.SetRTS(true); err != nil {
			l.rtsFailed(err)
			rts = false
		} else if l.before > 0 {
			time.Sleep(l.before)
		}
	}
	start := time.Now()
	_, err := w.Write(frame)
	end := start.Add(time.Duration(len(frame)) * l.charTime)
	if rts {
		_ = l.port.Drain()
		if d := time.Until(end); d > 0 {
			time.Sleep(d)
		}
		if l.after > 0 {
			time.Sleep(l.after)
		}
		if e := l.port.SetRTS(false); e != nil {
			l.rtsFailed(e)
		}
		return time.Now(), err
	}
	if l.mode == lineKernel {
		end = end.Add(l.before + l.after)
	}
	return end, err
}

// rtsFailed gives up on RTS toggling for a port that cannot drive it (a
// pseudo-terminal, an adapter without the line), once and loudly.
func (l *lineControl) rtsFailed(err error) {
	l.mode = lineNone
	if l.cnt != nil {
		l.cnt.lineControl.Store(string(lineNone))
	}
	if !l.warned {
		l.warned = true
		l.log.Warn("mqttsn gateway: cannot drive RTS; sending without driver-enable control", "err", err)
	}
}
