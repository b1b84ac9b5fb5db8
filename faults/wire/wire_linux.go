// Package wire gives the fault suite a remote host behind a bad link: a
// network namespace reached from the host through a point-to-point link
// whose packets a goroutine of the test carries, losing, delaying,
// reordering or blacking them out on demand.
//
// Why not veth and tc netem: the kernels the suite runs on are not all
// built with sch_netem (CONFIG_NET_SCH_NETEM, and no modules to load it
// from on this project's build machine), and netem cannot be asked in
// between two packets to start a blackout at an instant the test chooses.
// A pair of TUN devices does the same job everywhere TUN exists: the host
// end (in the test's own namespace) and the namespace end each hand their
// IP packets to the test process, which writes each one into the other
// device after the impairment in force. TCP on both sides sees a real
// lossy, delayed, reordering path; nothing is simulated above IP.
//
// Linux only, root only (namespaces, /dev/net/tun, ip from iproute2).
package wire

import (
	"container/heap"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Prefix starts the name of every namespace and device this package makes,
// so that leftovers of a killed test can be found and removed.
const Prefix = "emqw"

// maxQueued bounds the packets held in one direction's delay line; more are
// dropped (as a router's full queue would).
const maxQueued = 4096

// Impairment is what the link does to each packet, in each direction.
type Impairment struct {
	Loss     float64       // probability that a packet is dropped, 0..1
	Delay    time.Duration // one-way delay of every packet
	Jitter   time.Duration // the delay varies uniformly within ±Jitter
	Reorder  float64       // probability that a packet skips the delay, overtaking those queued
	Blackout bool          // drop every packet
}

func (im Impairment) String() string {
	if im.Blackout {
		return "blackout"
	}
	return fmt.Sprintf("loss=%.0f%% delay=%v±%v reorder=%.0f%%", im.Loss*100, im.Delay, im.Jitter, im.Reorder*100)
}

// Stats counts packets, both directions together.
type Stats struct {
	Forwarded uint64 // written to the other end
	Dropped   uint64 // lost by Loss, Blackout or a full delay line
	Reordered uint64 // sent ahead of packets queued before them
}

// Link is a namespace and the impaired link to it.
type Link struct {
	NS     string     // the namespace's name (ip netns)
	HostIP netip.Addr // the host end's address
	NSIP   netip.Addr // the namespace end's address: servers there listen on it

	imp                           atomic.Pointer[Impairment]
	forwarded, dropped, reordered atomic.Uint64

	host, ns *os.File
	done     chan struct{}
	wg       sync.WaitGroup
	closed   atomic.Bool
}

// Open removes what earlier runs left behind, then makes a namespace and a
// link to it on an unused 10.x.y.z/30 and starts carrying packets
// unimpaired.
func Open() (*Link, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("wire: needs root (namespaces and /dev/net/tun)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("wire: needs ip from iproute2 (apt-get install iproute2): %w", err)
	}
	CleanStale()
	hostIP, nsIP, err := freeSubnet()
	if err != nil {
		return nil, err
	}
	l := &Link{HostIP: hostIP, NSIP: nsIP, done: make(chan struct{})}
	l.imp.Store(&Impairment{})
	// Device names are at most 15 bytes: prefix, pid (7 digits at most),
	// "_", 2 random hex digits, and "h" or "n".
	for try := 0; ; try++ {
		l.NS = fmt.Sprintf("%s%d_%02x", Prefix, os.Getpid(), rand.IntN(256))
		err = ip("netns", "add", l.NS)
		if err == nil {
			break
		}
		if try == 4 {
			return nil, err
		}
	}
	if err := l.setup(); err != nil {
		l.Close()
		return nil, err
	}
	l.wg.Add(4)
	up, down := make(chan []byte, maxQueued), make(chan []byte, maxQueued)
	go l.read(l.host, up)
	go l.deliver(up, l.ns)
	go l.read(l.ns, down)
	go l.deliver(down, l.host)
	return l, nil
}

func (l *Link) setup() error {
	hostDev, nsDev := l.NS+"h", l.NS+"n"
	var err error
	if l.host, err = openTun(hostDev); err != nil {
		return err
	}
	if l.ns, err = openTun(nsDev); err != nil {
		return err
	}
	h, n := l.HostIP.String(), l.NSIP.String()
	for _, args := range [][]string{
		{"link", "set", nsDev, "netns", l.NS},
		{"addr", "add", h, "peer", n, "dev", hostDev},
		{"link", "set", hostDev, "up"},
		{"-n", l.NS, "addr", "add", n, "peer", h, "dev", nsDev},
		{"-n", l.NS, "link", "set", nsDev, "up"},
		{"-n", l.NS, "link", "set", "lo", "up"},
	} {
		if err := ip(args...); err != nil {
			return err
		}
	}
	return nil
}

// Set changes the impairment; packets already delayed keep their delay.
func (l *Link) Set(im Impairment) { l.imp.Store(&im) }

// Impairment returns the impairment in force.
func (l *Link) Impairment() Impairment { return *l.imp.Load() }

// Stats returns the packet counters.
func (l *Link) Stats() Stats {
	return Stats{Forwarded: l.forwarded.Load(), Dropped: l.dropped.Load(), Reordered: l.reordered.Load()}
}

// Command returns a command that runs in the namespace (ip netns exec,
// which execs it: the process's pid is the program's). Stop it before
// Close: a namespace lives as long as a process in it.
func (l *Link) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", l.NS, name}, args...)...)
}

// Dial connects from inside the namespace, bypassing the link (a server
// there is reached on its own address).
func (l *Link) Dial(network, address string) (net.Conn, error) {
	var c net.Conn
	err := l.inNS(func() (err error) {
		c, err = net.DialTimeout(network, address, 10*time.Second)
		return err
	})
	return c, err
}

// Listen listens inside the namespace.
func (l *Link) Listen(network, address string) (net.Listener, error) {
	var ln net.Listener
	err := l.inNS(func() (err error) {
		ln, err = net.Listen(network, address)
		return err
	})
	return ln, err
}

// inNS runs fn on a thread that entered the namespace: the sockets it
// creates belong to the namespace for their whole life. The thread goes
// back to its namespace afterwards. (Were it left to die instead, as Go
// does with a thread still locked when its goroutine ends, a child process
// it had forked with Pdeathsig would be killed with it.)
func (l *Link) inNS(fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		back, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- err
			return
		}
		defer back.Close()
		f, err := os.Open(filepath.Join("/run/netns", l.NS))
		if err != nil {
			runtime.UnlockOSThread()
			ch <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- fmt.Errorf("setns %s: %w", l.NS, err)
			return
		}
		err = fn()
		if unix.Setns(int(back.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		} // else the thread stays locked and ends with the goroutine
		ch <- err
	}()
	return <-ch
}

// Close stops carrying packets and deletes the devices and the namespace.
// Processes still in the namespace keep it alive until they exit.
func (l *Link) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(l.done)
	var errs []error
	for _, f := range []*os.File{l.host, l.ns} {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	l.wg.Wait()
	errs = append(errs, ip("netns", "del", l.NS))
	return errors.Join(errs...)
}

// read hands each packet of src to the delay line, or drops it.
func (l *Link) read(src *os.File, line chan<- []byte) {
	defer l.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		im := l.imp.Load()
		if im.Blackout || (im.Loss > 0 && rand.Float64() < im.Loss) {
			l.dropped.Add(1)
			continue
		}
		select {
		case line <- append(make([]byte, 0, n), buf[:n]...):
		default:
			l.dropped.Add(1)
		}
	}
}

// deliver writes packets to dst when their delay is over.
func (l *Link) deliver(line <-chan []byte, dst *os.File) {
	defer l.wg.Done()
	var q delayQueue
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var seq, maxSent uint64
	for {
		now := time.Now()
		for q.Len() > 0 && !q[0].due.After(now) {
			p := heap.Pop(&q).(*delayed)
			if p.seq < maxSent {
				l.reordered.Add(1)
			}
			maxSent = max(maxSent, p.seq)
			if _, err := dst.Write(p.b); err != nil {
				return
			}
			l.forwarded.Add(1)
		}
		if q.Len() > 0 {
			timer.Reset(time.Until(q[0].due))
		}
		select {
		case <-l.done:
			return
		case b := <-line:
			seq++
			im := l.imp.Load()
			d := im.Delay
			if im.Jitter > 0 {
				d += time.Duration(rand.Int64N(int64(2*im.Jitter))) - im.Jitter
			}
			if im.Reorder > 0 && rand.Float64() < im.Reorder {
				d = 0
			}
			heap.Push(&q, &delayed{b: b, due: time.Now().Add(max(d, 0)), seq: seq})
		case <-timer.C:
		}
	}
}

type delayed struct {
	b   []byte
	due time.Time
	seq uint64 // arrival order, to count reordering
}

// delayQueue is a min-heap of packets by due time, then arrival.
type delayQueue []*delayed

func (q delayQueue) Len() int { return len(q) }
func (q delayQueue) Less(i, j int) bool {
	if q[i].due.Equal(q[j].due) {
		return q[i].seq < q[j].seq
	}
	return q[i].due.Before(q[j].due)
}
func (q delayQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *delayQueue) Push(x any)   { *q = append(*q, x.(*delayed)) }
func (q *delayQueue) Pop() any {
	old := *q
	p := old[len(old)-1]
	*q = old[:len(old)-1]
	return p
}

func openTun(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("wire: /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("wire: TUNSETIFF %s: %w", name, err)
	}
	// Non-blocking, so that the runtime poller serves it and Close ends a
	// Read in progress.
	return os.NewFile(uintptr(fd), name), nil
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// freeSubnet picks a /30 in 10.200.0.0/14 that no local address is in.
func freeSubnet() (host, ns netip.Addr, err error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return host, ns, err
	}
	used := func(p netip.Prefix) bool {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(ipn.IP); ok && p.Contains(ip.Unmap()) {
					return true
				}
			}
		}
		return false
	}
	for range 100 {
		b := netip.AddrFrom4([4]byte{10, byte(200 + rand.IntN(4)), byte(rand.IntN(256)), byte(rand.IntN(64) * 4)})
		if used(netip.PrefixFrom(b, 24)) {
			continue
		}
		return b.Next(), b.Next().Next(), nil
	}
	return host, ns, errors.New("wire: no free /30 in 10.200.0.0/14")
}

// CleanStale deletes namespaces left by processes of this package that no
// longer run (a test killed before its cleanup). Their TUN devices went
// with the processes.
func CleanStale() {
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), Prefix)
		if !ok {
			continue
		}
		pid, _, _ := strings.Cut(rest, "_")
		n, err := strconv.Atoi(pid)
		if err != nil {
			continue
		}
		if _, err := os.Stat("/proc/" + strconv.Itoa(n)); err == nil {
			continue // still running (or the pid was reused: left alone)
		}
		ip("netns", "del", e.Name())
	}
}
