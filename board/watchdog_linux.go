//go:build linux

package board

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// kickByte is written to the device when the keepalive ioctl is not
// available (a FIFO or pty standing in for /dev/watchdog). Any byte
// except 'V' is a keepalive for the Linux watchdog core.
const kickByte = 'k'

// OpenWatchdog opens a Linux watchdog device (usually /dev/watchdog) and,
// when timeout > 0, asks for that timeout (rounded up to whole seconds)
// with WDIOC_SETTIMEOUT. A device that cannot set its timeout (ENOTTY,
// EOPNOTSUPP) or refuses the value (EINVAL: out of the hardware's range)
// keeps its own, and that is logged, not an error: the only error is
// failing to open the device, which the caller logs before going on
// without a watchdog.
//
// Opening the device arms it: start a Feeder (or call Kick) right away,
// and Close it on shutdown.
func OpenWatchdog(path string, timeout time.Duration, log *slog.Logger) (*Watchdog, error) {
	log = orDiscard(log)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("board: watchdog: %w", err)
	}
	w := &Watchdog{path: path, log: log, f: f, magicClose: true}

	var info *unix.WatchdogInfo
	err = control(f, func(fd int) (err error) {
		info, err = unix.IoctlGetWatchdogInfo(fd)
		return err
	})
	switch {
	case err == nil:
		w.magicClose = info.Options&unix.WDIOF_MAGICCLOSE != 0
		log.Info("board: watchdog opened", "path", path,
			"identity", dtString(info.Identity[:]),
			"settimeout", info.Options&unix.WDIOF_SETTIMEOUT != 0,
			"magicclose", w.magicClose)
	case noIoctl(err):
		log.Warn("board: not a watchdog device; kicking it by writes", "path", path, "err", err)
	default:
		log.Warn("board: watchdog WDIOC_GETSUPPORT failed", "path", path, "err", err)
	}

	if timeout > 0 {
		want := timeoutSeconds(timeout)
		got := want
		err := control(f, func(fd int) error {
			// WDIOC_SETTIMEOUT is _IOWR: the driver writes back the
			// timeout it actually set.
			v := int32(want)
			_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(unix.WDIOC_SETTIMEOUT), uintptr(unsafe.Pointer(&v)))
			got = int(v)
			if errno != 0 {
				return errno
			}
			return nil
		})
		switch {
		case err == nil:
			w.timeout = time.Duration(got) * time.Second
			if got != want {
				log.Warn("board: watchdog adjusted the timeout", "path", path, "asked", time.Duration(want)*time.Second, "set", w.timeout)
			}
		case noIoctl(err), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EINVAL):
			log.Warn("board: watchdog keeps its own timeout", "path", path, "asked", time.Duration(want)*time.Second, "err", err)
		default:
			log.Warn("board: watchdog WDIOC_SETTIMEOUT failed", "path", path, "err", err)
		}
	}
	if w.timeout == 0 {
		var secs int
		if err := control(f, func(fd int) (err error) {
			secs, err = unix.IoctlGetInt(fd, unix.WDIOC_GETTIMEOUT)
			return err
		}); err == nil && secs > 0 {
			w.timeout = time.Duration(secs) * time.Second
		}
	}
	return w, nil
}

// keepalive kicks the device; w.mu is held and w.f is open.
func (w *Watchdog) keepalive() error {
	err := control(w.f, unix.IoctlWatchdogKeepalive)
	if !noIoctl(err) {
		return err
	}
	_, err = w.f.Write([]byte{kickByte})
	return err
}

// noIoctl reports an ioctl the file does not have: ENOTTY from the
// kernel, or ENOSYS from qemu-user, which answers ioctls it does not
// emulate that way (the cross-architecture tests run under it).
func noIoctl(err error) bool {
	return errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.ENOSYS)
}

// control runs fn on the descriptor of f without taking it out of the
// runtime poller (unlike f.Fd, which switches it to blocking mode).
func control(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// timeoutSeconds converts a timeout to the whole seconds the watchdog API
// takes, rounding up so the hardware never fires sooner than asked.
func timeoutSeconds(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}
