//go:build linux

package board

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SetRS485 sets the RS-485 mode of the serial port open on fd with the
// TIOCSRS485 ioctl. When the UART has no RS-485 mode the error wraps both
// ErrRS485Unsupported and unix.ENOTTY (unix.ENOSYS under qemu-user, which
// does not emulate the ioctl: no kernel RS-485 there either); other errors (a bad fd, a driver
// refusing the flags) wrap their errno. The kernel may adjust the values
// (clamped delays, an invalid RTS pair); GetRS485 reads back what it
// applied. x/sys/unix defines TIOCSRS485 for every Linux architecture but
// not struct serial_rs485, which this package declares (serialRS485).
func SetRS485(fd uintptr, cfg RS485Config) error {
	s, err := cfg.encode()
	if err != nil {
		return err
	}
	// TIOCSRS485 is _IOWR on MIPS and copies the sanitized struct back.
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, fd, uintptr(unix.TIOCSRS485), uintptr(unsafe.Pointer(&s)))
	if errno != 0 {
		return rs485Error("TIOCSRS485", fd, errno)
	}
	return nil
}

// GetRS485 reads the RS-485 mode of the serial port open on fd
// (TIOCGRS485), with the same errors as SetRS485.
func GetRS485(fd uintptr) (RS485Config, error) {
	var s serialRS485
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, fd, uintptr(unix.TIOCGRS485), uintptr(unsafe.Pointer(&s)))
	if errno != 0 {
		return RS485Config{}, rs485Error("TIOCGRS485", fd, errno)
	}
	return s.decode(), nil
}

func rs485Error(op string, fd uintptr, errno unix.Errno) error {
	if noIoctl(errno) {
		return fmt.Errorf("%w: %s on fd %d: %w", ErrRS485Unsupported, op, fd, errno)
	}
	return fmt.Errorf("board: %s on fd %d: %w", op, fd, errno)
}
