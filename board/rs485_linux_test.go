//go:build linux

package board

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY opens a pty pair and returns the master and slave descriptors.
func openPTY(t *testing.T) (master, slave int) {
	t.Helper()
	master, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	t.Cleanup(func() { unix.Close(master) })
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetUint32(master, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	slave, err = unix.Open("/dev/pts/"+strconv.Itoa(int(n)), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("open pty slave: %v", err)
	}
	t.Cleanup(func() { unix.Close(slave) })
	return master, slave
}

// noIoctlErrno is the errno of an ioctl a file lacks: ENOTTY from Linux,
// ENOSYS under qemu-user, which does not emulate TIOCSRS485 at all (it
// answers ENOSYS even for a descriptor that is not open, where Linux says
// EBADF).
func noIoctlErrno() unix.Errno {
	if errors.Is(SetRS485(1<<30, RS485Config{}), unix.ENOSYS) {
		return unix.ENOSYS
	}
	return unix.ENOTTY
}

func TestSetRS485Unsupported(t *testing.T) {
	master, slave := openPTY(t)
	errno := noIoctlErrno()
	f, err := os.Create(filepath.Join(t.TempDir(), "regular"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg := RS485Config{Enabled: true, RTSOnSend: true}
	for name, fd := range map[string]uintptr{"pty master": uintptr(master), "pty slave": uintptr(slave), "regular file": f.Fd()} {
		err := SetRS485(fd, cfg)
		if !errors.Is(err, ErrRS485Unsupported) || !errors.Is(err, errno) {
			t.Errorf("SetRS485 on a %s = %v, want ErrRS485Unsupported and %v", name, err, errno)
		}
		_, err = GetRS485(fd)
		if !errors.Is(err, ErrRS485Unsupported) || !errors.Is(err, errno) {
			t.Errorf("GetRS485 on a %s = %v, want ErrRS485Unsupported and %v", name, err, errno)
		}
	}
	t.Logf("pty: %v", SetRS485(uintptr(slave), cfg))
}

func TestSetRS485BadFD(t *testing.T) {
	if noIoctlErrno() == unix.ENOSYS {
		t.Skip("qemu-user does not emulate TIOCSRS485")
	}
	// A descriptor that is not open is a caller bug, not a UART without
	// RS-485 (1<<30 is far above any process's descriptor limit).
	err := SetRS485(1<<30, RS485Config{Enabled: true})
	if !errors.Is(err, unix.EBADF) || errors.Is(err, ErrRS485Unsupported) {
		t.Errorf("SetRS485 on a closed fd = %v, want EBADF and not ErrRS485Unsupported", err)
	}
}
