package main

import (
	"bufio"
	"bytes"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// edgemqProc is a running edgemq process whose log the test reads.
type edgemqProc struct {
	t   *testing.T
	cmd *exec.Cmd

	mu    sync.Mutex
	log   bytes.Buffer
	addrs map[string]string // listener name -> address, from "listening" lines
	done  chan struct{}     // closed when stderr is drained
}

var listeningRe = regexp.MustCompile(`msg=listening listener=(\S+) address=(\S+)`)

// runEdgemq runs bin -c config and waits until every listener in names
// is listening.
func runEdgemq(t *testing.T, bin, config string, names ...string) *edgemqProc {
	t.Helper()
	p := &edgemqProc{t: t, addrs: make(map[string]string), done: make(chan struct{})}
	p.cmd = exec.Command(bin, "-c", config)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.read(stderr)
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		exited := make(chan struct{})
		go func() { p.cmd.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("edgemq log:\n%s", p.logString())
		}
	})
	for _, n := range names {
		p.waitLog(`msg=listening listener=` + n + ` `)
	}
	return p
}

func (p *edgemqProc) read(r io.Reader) {
	defer close(p.done)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		p.log.WriteString(line + "\n")
		if m := listeningRe.FindStringSubmatch(line); m != nil {
			p.addrs[m[1]] = m[2]
		}
		p.mu.Unlock()
	}
}

func (p *edgemqProc) logString() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// addr is the address listener name listens on.
func (p *edgemqProc) addr(name string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addrs[name]
}

// port is the port of listener name.
func (p *edgemqProc) port(name string) string {
	a := p.addr(name)
	return a[strings.LastIndex(a, ":")+1:]
}

// waitLog waits until the log has a line containing s, or fails.
func (p *edgemqProc) waitLog(s string) {
	p.t.Helper()
	p.waitLogCount(s, 1)
}

// waitLogCount waits until s occurs n times in the log.
func (p *edgemqProc) waitLogCount(s string, n int) {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(p.logString(), s) < n {
		select {
		case <-p.done:
			p.t.Fatalf("edgemq exited while waiting for %q:\n%s", s, p.logString())
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no %q in the log after 10s:\n%s", s, p.logString())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
