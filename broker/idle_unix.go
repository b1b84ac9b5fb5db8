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
// error), honouring the read deadline. It is called from a shallow frame of
// a fresh goroutine, so that an idle connection keeps a 2 KiB stack (a park
// deep in net.Conn.Read uses about 1.3 KiB, which keeps 4 KiB).
//
// It peeks once: data may already be waiting, and a readiness event is not
// guaranteed to be pending for it. After a wake-up it reads without a
// second peek; a spurious wake-up only means a blocking read as usual.
func waitReadable(rc syscall.RawConn) error {
	var w readableWait
	return rc.Read(w.ready)
}

// readableWait is the callback of one waitReadable: RawConn.Read calls it,
// waits for readiness while it returns false, and calls it again.
type readableWait struct{ peeked bool }

func (w *readableWait) ready(fd uintptr) bool {
	if w.peeked {
		return true // woken by a readiness event
	}
	w.peeked = true
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN && err != syscall.EWOULDBLOCK
}
