package main

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// perfRecorder profiles the edgemq process with Linux perf during the
// measured interval of each flow scenario (-perf DIR). The broker has no
// pprof endpoint; perf needs nothing from it but a binary with a symbol
// table (build it without -ldflags -s).
type perfRecorder struct {
	dir  string
	pid  int
	bin  string
	cmd  *exec.Cmd
	file string
	done map[string]string // scenario -> perf.data
}

func newPerfRecorder(dir, bin string, pid int) (*perfRecorder, []string, error) {
	if _, err := exec.LookPath("perf"); err != nil {
		return nil, nil, fmt.Errorf("-perf: %w (Debian package linux-perf)", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	var warn []string
	if f, err := elf.Open(bin); err == nil {
		if f.Section(".symtab") == nil {
			warn = append(warn, bin+" is stripped: perf will show addresses; build it without -ldflags '-s -w' to profile")
		}
		f.Close()
	}
	return &perfRecorder{dir: dir, pid: pid, bin: bin, done: map[string]string{}}, warn, nil
}

// start begins recording the broker for scenario name.
func (p *perfRecorder) start(name string) error {
	p.file = filepath.Join(p.dir, name+".perf.data")
	p.cmd = exec.Command("perf", "record", "-q", "-F", "999", "-g", "-p", strconv.Itoa(p.pid), "-o", p.file)
	p.cmd.Stdout, p.cmd.Stderr = os.Stderr, os.Stderr
	if err := p.cmd.Start(); err != nil {
		p.cmd = nil
		return err
	}
	p.done[name] = p.file
	return nil
}

// stop ends the recording (SIGINT makes perf write its file).
func (p *perfRecorder) stop() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	wait := make(chan error, 1)
	go func() { wait <- p.cmd.Wait() }()
	select {
	case <-wait:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-wait
	}
	p.cmd = nil
}

// top returns the n functions with the most self CPU in scenario name's
// recording, as perf report prints them.
func (p *perfRecorder) top(name string, n int) ([]string, error) {
	file, ok := p.done[name]
	if !ok {
		return nil, nil
	}
	out, err := exec.Command("perf", "report", "-i", file, "--stdio", "--no-children",
		"--sort", "symbol", "-g", "none", "--percent-limit", "0.1").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("perf report %s: %v: %s", file, err, ee.Stderr)
		}
		return nil, err
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		for len(f) > 0 && f[len(f)-1] == "-" { // empty columns perf adds for a binary without source lines
			f = f[:len(f)-1]
		}
		lines = append(lines, strings.Join(f, " "))
		if len(lines) == n {
			break
		}
	}
	return lines, nil
}
