//go:build unix

package broker

import (
	"net"
	"syscall"
)

// rawConnOf returns the socket under nc for idle waits, or nil (TLS and
// WebSocket connections are not sockets).
func rawConnOf(nc net.Conn) syscall.RawConn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// waitReadable parks the reader until the socket has data (or EOF, or an
// error), honouring the read deadline. It is called from a shallow frame:
// a goroutine parked here uses under 1 KiB of stack, so the garbage
// collector shrinks an idle connection's stack to 2 KiB, where a park deep
// in net.Conn.Read (about 1.3 KiB) keeps 4 KiB.
func waitReadable(rc syscall.RawConn) error {
	return rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return err != syscall.EAGAIN && err != syscall.EWOULDBLOCK
	})
}
