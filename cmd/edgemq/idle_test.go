package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgemq/edgemq/broker/packet"
)

// rssKiB returns VmRSS of a process, in KiB.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestIdleConnectionRSS measures what an idle connection costs the real
// process (RSS, the figure an operator sees): 2,000 clients that connect
// and say nothing more. The target is 8 KiB; the test fails above 10 KiB.
// A read loop left parked on the stack that handling CONNECT grew cost
// about 15 KiB here.
func TestIdleConnectionRSS(t *testing.T) {
	const n = 2000
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	if lim.Cur < 3*n {
		lim.Cur = min(3*n, lim.Max)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < 2*n+100 {
			t.Fatalf("need %d open files, the limit is %d: raise it (ulimit -n)", 2*n+100, lim.Cur)
		}
	}
	bin := buildEdgemq(t)
	dir := t.TempDir()
	addr := freePort(t)
	cfg := writeFile(t, dir, "edgemq.yaml", fmt.Sprintf(`
data_dir: %s/data
listeners: [{type: tcp, address: "%s"}]
limits: {max_connections: %d}
log: {level: warn}
`, dir, addr, n+100))
	p := startEdgemq(t, bin, cfg, addr)
	time.Sleep(300 * time.Millisecond)
	before := rssKiB(t, p.cmd.Process.Pid)
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var ack [4]byte
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		cp := packet.Connect{ClientID: []byte(fmt.Sprint("idle", i)), CleanStart: true}
		c.Write(cp.Append(nil, packet.V311))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(ack[:]); err != nil {
			t.Fatalf("connection %d: no CONNACK: %v", i, err)
		}
	}
	time.Sleep(time.Second)
	per := float64(rssKiB(t, p.cmd.Process.Pid)-before) / n
	t.Logf("%d idle connections: %.2f KiB of RSS each", n, per)
	if per > 10 {
		t.Fatalf("an idle connection costs %.2f KiB of RSS, more than 10 KiB (target 8)", per)
	}
}
