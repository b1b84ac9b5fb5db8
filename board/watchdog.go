package board

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// ErrClosed is returned by the methods of a Watchdog or LED after Close.
var ErrClosed = errors.New("board: closed")

// magicClose is the byte that, written just before close, tells a Linux
// watchdog driver with WDIOF_MAGICCLOSE to stop the timer instead of
// letting the board reset ("magic close", Documentation/watchdog/watchdog-api.rst).
const magicClose = 'V'

// Watchdog is an open hardware watchdog device (/dev/watchdog). Once
// opened, the board resets unless Kick is called within the timeout, until
// Close disarms it. The methods are safe for concurrent use; the methods
// of a nil *Watchdog do nothing.
type Watchdog struct {
	path string
	log  *slog.Logger

	mu      sync.Mutex
	f       *os.File
	timeout time.Duration // 0 when the device did not say
	// magicClose is false when the driver said it ignores the magic
	// close (its timer keeps running after Close: nowayout).
	magicClose bool
}

// Path returns the device path given to OpenWatchdog.
func (w *Watchdog) Path() string {
	if w == nil {
		return ""
	}
	return w.path
}

// Timeout returns the timeout the device reported after OpenWatchdog set
// it (the hardware may round it), or 0 when the device could not say.
func (w *Watchdog) Timeout() time.Duration {
	if w == nil {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.timeout
}

// Kick restarts the watchdog timer: the WDIOC_KEEPALIVE ioctl, or a
// one-byte write when the device is not a watchdog (ENOTTY).
func (w *Watchdog) Kick() error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return ErrClosed
	}
	if err := w.keepalive(); err != nil {
		return fmt.Errorf("board: watchdog %s: keepalive: %w", w.path, err)
	}
	return nil
}

// Close disarms the watchdog with the magic close (write 'V', then close)
// so a clean shutdown does not reset the board. A driver built with
// nowayout keeps counting anyway; OpenWatchdog logs when the driver says
// so. Close is idempotent.
func (w *Watchdog) Close() error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	f := w.f
	w.f = nil
	_, werr := f.Write([]byte{magicClose})
	cerr := f.Close()
	if werr != nil {
		w.log.Error("board: watchdog magic close failed; the board may reset", "path", w.path, "err", werr)
		return fmt.Errorf("board: watchdog %s: magic close: %w", w.path, werr)
	}
	if cerr != nil {
		return fmt.Errorf("board: watchdog %s: close: %w", w.path, cerr)
	}
	if w.magicClose {
		w.log.Info("board: watchdog disarmed", "path", w.path)
	} else {
		w.log.Warn("board: watchdog closed but its driver ignores the magic close; the board resets after the timeout", "path", w.path, "timeout", w.timeout)
	}
	return nil
}
