package gateway

import (
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/edgemq/edgemq/transport/mqttsn"
	"github.com/edgemq/edgemq/transport/serial"
)

// Framings of a serial line.
const (
	FramingRaw   = "raw"
	FramingRS485 = "rs485"
	FramingXBee  = "xbee"
)

// SerialConfig is one serial line (an element of mqttsn.serial).
type SerialConfig struct {
	Device  string // e.g. /dev/ttyUSB0
	Baud    int
	Framing string // FramingRaw, FramingRS485 or FramingXBee
	// Forwarder: raw framing with every packet in a Forwarder
	// Encapsulation naming its node, so one line carries several nodes.
	Forwarder bool
	// RS485 configures a polled bus (framing rs485 only).
	RS485 RS485Config
	// MaxFrame bounds a frame; 0 means serial.DefaultMaxFrame (1 KiB).
	MaxFrame int
}

// RS485Config configures a polled RS-485 bus, where the gateway is the
// master (see rs485.go).
type RS485Config struct {
	Nodes        []uint16      // bus addresses to poll, 1-65535; one address is one client
	PollInterval time.Duration // a round polls every node once; rounds start at most this often
	ReplyTimeout time.Duration // how long a node has to answer, from the end of the gateway's frame
	// RTSOnSend drives the transceiver's driver enable with RTS: through
	// the kernel's RS-485 mode (TIOCSRS485) when the UART has one, else by
	// toggling RTS around each frame from the gateway. False: the adapter
	// switches direction itself (most USB RS-485 adapters).
	RTSOnSend       bool
	DelayBeforeSend time.Duration // RTS raised to first bit
	DelayAfterSend  time.Duration // last bit to RTS dropped
	// LostAfter is how many polls in a row a connected node may leave
	// unanswered before it is lost (its will is published); default 5.
	LostAfter int
}

// Reopen backoff of a port that failed or disappeared.
const (
	minReopen = 100 * time.Millisecond
	maxReopen = 5 * time.Second
)

// linkQueue bounds the frames waiting to go out on a raw or xbee line.
const linkQueue = 64

// serialPort is one serial line: it opens the device, reopens it with
// backoff when it fails or disappears (a USB adapter unplugged), and runs
// the line's framing. Its clients survive a reopen; while the port is
// closed nothing reaches them and their keep-alive timers decide whether
// they are lost.
type serialPort struct {
	g        *Gateway
	cfg      SerialConfig
	tab      *table
	slots    slots
	maxFrame int
	out      chan []byte         // raw, xbee: frames to write
	bus      map[uint16]*busNode // rs485
	order    []*busNode
	stop     chan struct{}
	wg       sync.WaitGroup
}

// OpenSerial starts serving a serial line. A device that cannot be opened
// yet (an adapter not plugged in) is retried with backoff; only a bad
// configuration is an error.
func (g *Gateway) OpenSerial(cfg SerialConfig) error {
	if cfg.Device == "" {
		return errorf("serial: device is empty")
	}
	if cfg.Baud <= 0 {
		return errorf("serial %s: baud %d must be positive", cfg.Device, cfg.Baud)
	}
	p := &serialPort{g: g, cfg: cfg, maxFrame: cfg.MaxFrame, stop: make(chan struct{}), out: make(chan []byte, linkQueue)}
	if p.maxFrame <= 0 {
		p.maxFrame = serial.DefaultMaxFrame
	}
	p.slots.max = int64(g.opts.MaxClients)
	switch cfg.Framing {
	case FramingRaw, FramingXBee:
		if cfg.Framing == FramingRaw && !cfg.Forwarder {
			p.slots.max = 1 // a bare raw line is one client
		}
	case FramingRS485:
		if err := p.initBus(); err != nil {
			return err
		}
	default:
		return errorf("serial %s: framing %q must be raw, rs485 or xbee", cfg.Device, cfg.Framing)
	}
	if cfg.Forwarder && cfg.Framing != FramingRaw {
		return errorf("serial %s: forwarder is for framing raw only", cfg.Device)
	}
	p.tab = newTable(g, "serial:"+cfg.Device, cfg.Framing, &p.slots)
	p.tab.search = p.gwInfo
	p.tab.cnt.lineControl.Store("")
	if !g.addTransport(p) {
		return net.ErrClosed
	}
	p.wg.Add(1)
	go p.run()
	return nil
}

func (p *serialPort) stats() TransportStats { return p.tab.stats() }

func (p *serialPort) close() {
	close(p.stop)
	p.wg.Wait()
}

// run opens the port and serves it until close, reopening it with
// exponential backoff and jitter.
func (p *serialPort) run() {
	defer p.wg.Done()
	log := p.g.log.With("transport", p.tab.name, "framing", p.cfg.Framing)
	backoff := minReopen
	lastErr := ""
	for {
		rw, ctl, err := p.open()
		if err != nil {
			if err.Error() != lastErr {
				log.Warn("mqttsn gateway: cannot open serial port; retrying", "err", err)
				lastErr = err.Error()
			}
			wait := backoff + rand.N(backoff/2+1)
			backoff = min(2*backoff, maxReopen)
			select {
			case <-time.After(wait):
				continue
			case <-p.stop:
				return
			}
		}
		lastErr, backoff = "", minReopen
		p.tab.cnt.opens.Add(1)
		p.tab.cnt.up.Store(true)
		log.Info("mqttsn gateway: serial port open", "baud", p.cfg.Baud, "line_control", ctl.mode)
		err = p.serve(rw, ctl)
		p.tab.cnt.up.Store(false)
		rw.Close()
		select {
		case <-p.stop:
			return
		default:
		}
		log.Warn("mqttsn gateway: serial port lost; reopening", "err", err)
	}
}

func (p *serialPort) open() (io.ReadWriteCloser, *lineControl, error) {
	ctl := &lineControl{mode: lineNone, log: p.g.log, charTime: charTime(p.cfg.Baud)}
	if p.cfg.Framing == FramingRS485 && p.cfg.RS485.RTSOnSend {
		ctl.setup(p.cfg.Device, p.cfg.RS485)
	}
	rw, err := serial.Open(serial.LineConfig{Device: p.cfg.Device, Baud: p.cfg.Baud})
	if err != nil {
		return nil, nil, err
	}
	if ctl.mode == lineRTS {
		ctl.port, _ = rw.(rtsPort)
	}
	p.tab.cnt.lineControl.Store(string(ctl.mode))
	return rw, ctl, nil
}

// serve runs the framing until the port fails or the gateway closes.
func (p *serialPort) serve(rw io.ReadWriteCloser, ctl *lineControl) error {
	stopped := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // close the port on gateway close, to unblock the reader
		defer wg.Done()
		select {
		case <-p.stop:
			rw.Close()
		case <-stopped:
		}
	}()
	defer func() {
		close(stopped)
		wg.Wait()
	}()
	if p.cfg.Framing == FramingRS485 {
		return p.serveBus(rw, ctl)
	}
	for len(p.out) > 0 { // frames queued before the port went down are stale
		<-p.out
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.writeLoop(rw, stopped)
	}()
	if p.cfg.Framing == FramingXBee {
		return p.readXBee(rw)
	}
	return p.readRaw(rw)
}

func (p *serialPort) writeLoop(w io.WriteCloser, stopped chan struct{}) {
	for {
		select {
		case f := <-p.out:
			if _, err := w.Write(f); err != nil {
				w.Close() // the reader sees it and serve returns
				return
			}
			p.tab.cnt.packetsOut.Add(1)
		case <-stopped:
			return
		}
	}
}

func (p *serialPort) readRaw(r io.Reader) error {
	rd := serial.NewRawReader(r, serial.RawOptions{Encapsulated: p.cfg.Forwarder, MaxFrame: p.maxFrame})
	var seen serial.RawStats
	for {
		node, pkt, err := rd.ReadFrame()
		st := rd.Stats()
		p.tab.cnt.skipped.Add(st.SkippedBytes - seen.SkippedBytes)
		seen = st
		if err != nil {
			return err
		}
		p.tab.cnt.packetsIn.Add(1)
		key := clientKey{node: string(node)}
		if p.tab.deliver(key, pkt) {
			continue
		}
		l := &serialLink{p: p}
		if p.cfg.Forwarder {
			l.node = append([]byte{}, node...)
		}
		p.tab.unknown(key, pkt, l)
	}
}

func (p *serialPort) readXBee(r io.Reader) error {
	rd := serial.NewXBeeReader(r, p.maxFrame)
	var seen serial.XBeeStats
	for {
		f, err := rd.ReadFrame()
		st := rd.Stats()
		p.tab.cnt.badFrames.Add(st.BadChecksum - seen.BadChecksum + st.Oversize - seen.Oversize + st.Malformed - seen.Malformed)
		p.tab.cnt.skipped.Add(st.SkippedBytes - seen.SkippedBytes)
		seen = st
		if err != nil {
			return err
		}
		if f.API != serial.XBeeReceivePacket {
			continue // transmit status and other radio frames
		}
		rx, err := f.Receive()
		if err != nil {
			p.tab.cnt.malformed.Add(1)
			continue
		}
		p.tab.cnt.packetsIn.Add(1)
		var id [8]byte
		binary.BigEndian.PutUint64(id[:], rx.Src64)
		key := clientKey{node: string(id[:])}
		if p.tab.deliver(key, rx.Data) {
			continue
		}
		p.tab.unknown(key, rx.Data, &serialLink{p: p, node: id[:], x64: rx.Src64, x16: rx.Src16})
	}
}

// gwInfo answers SEARCHGW on the line, to the node that asked.
func (p *serialPort) gwInfo(l link) {
	b, _ := (&mqttsn.GwInfo{GwID: p.g.opts.GatewayID}).Append(nil)
	if l.send(b) == nil {
		p.tab.cnt.packetsOut.Add(1)
	}
}

// errPortDown: a packet for a node while its port is closed.
var errPortDown = errors.New("mqttsn gateway: serial port is closed")

// serialLink reaches a node on a serial line.
type serialLink struct {
	p    *serialPort
	node []byte // Forwarder node id (raw), bus address (rs485), 64-bit address (xbee); nil on a bare raw line
	x64  uint64
	x16  uint16
	bus  *busNode
}

func (l *serialLink) send(pkt []byte) error {
	p := l.p
	if !p.tab.cnt.up.Load() {
		p.tab.cnt.linkQueue.Add(1)
		return errPortDown
	}
	var frame []byte
	var err error
	switch p.cfg.Framing {
	case FramingRS485:
		return l.bus.enqueue(p, pkt)
	case FramingXBee:
		frame, err = serial.AppendXBeeTransmit(nil, serial.XBeeTransmit{Dst64: l.x64, Dst16: l.x16, Data: pkt})
	default:
		frame, err = serial.AppendRaw(nil, p.cfg.Forwarder, l.node, pkt)
	}
	if err != nil {
		return err
	}
	select {
	case p.out <- frame:
		return nil
	default:
		p.tab.cnt.linkQueue.Add(1)
		return errLinkQueue
	}
}

// errLinkQueue: the line's send queue is full.
var errLinkQueue = errors.New("mqttsn gateway: serial send queue full")

func (l *serialLink) maxPacket() int {
	switch l.p.cfg.Framing {
	case FramingRS485:
		return l.p.maxFrame - 3 - len(l.node) - 2 // encapsulation header, CRC
	case FramingXBee:
		return l.p.maxFrame - 14 // API id and transmit request header
	}
	if l.p.cfg.Forwarder {
		return l.p.maxFrame - 3 - len(l.node)
	}
	return l.p.maxFrame
}

func (l *serialLink) remote() net.Addr {
	return nodeAddr{network: "serial", at: l.p.cfg.Device, node: l.node}
}
