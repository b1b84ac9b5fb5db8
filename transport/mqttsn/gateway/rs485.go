package gateway

import (
	"io"
	"sync"
	"time"

	"github.com/edgemq/edgemq/transport/serial"
)

// The rs485 framing makes the gateway the master of a half-duplex
// multidrop bus. Nodes speak only when spoken to:
//
//   - The gateway polls the configured addresses in turn. A poll is a
//     frame to the node's address; it carries the next MQTT-SN packet
//     queued for that node, or none (header and CRC only).
//   - The polled node answers with one frame from its address: one queued
//     packet of its own, or none. A node gets one turn per round; a round
//     starts at most every poll_interval.
//   - After sending, the gateway waits for the answer until reply_timeout
//     after the end of its frame, and sends nothing in that time. A frame
//     from another address meanwhile (a late answer) is accepted too.
//   - Between the end of one frame on the line and the start of the next
//     the gateway leaves at least 3.5 character times (Modbus RTU's gap),
//     at the line's baud rate.
//   - A connected node that leaves LostAfter polls in a row unanswered is
//     lost: its will is published. An asleep node is not expected to
//     answer; its sleep timer decides.
//
// The transceiver must not echo the gateway's own frames to its receiver:
// an echoed poll is indistinguishable from the node's empty answer.

// busNode is one node address on the bus.
type busNode struct {
	addr   uint16
	id     []byte // the address on the wire: 1 octet up to 255, else 2
	key    clientKey
	missed int // polls in a row unanswered (master goroutine only)

	mu  sync.Mutex
	q   [][]byte // packets for the node, oldest first
	max int
}

func (p *serialPort) initBus() error {
	c := p.cfg.RS485
	if len(c.Nodes) == 0 {
		return errorf("serial %s: rs485 needs at least one node address", p.cfg.Device)
	}
	if c.PollInterval <= 0 || c.ReplyTimeout <= 0 {
		return errorf("serial %s: rs485 poll_interval and reply_timeout must be positive", p.cfg.Device)
	}
	if c.LostAfter <= 0 {
		p.cfg.RS485.LostAfter = 5
	}
	p.bus = make(map[uint16]*busNode, len(c.Nodes))
	for _, a := range c.Nodes {
		if a == 0 {
			return errorf("serial %s: rs485 node address 0 is not allowed", p.cfg.Device)
		}
		if p.bus[a] != nil {
			return errorf("serial %s: rs485 node %d listed twice", p.cfg.Device, a)
		}
		n := &busNode{addr: a, max: p.g.opts.SleepQueue}
		if a <= 0xFF {
			n.id = []byte{byte(a)}
		} else {
			n.id = []byte{byte(a >> 8), byte(a)}
		}
		n.key = clientKey{node: string(n.id)}
		p.bus[a] = n
		p.order = append(p.order, n)
	}
	p.slots.max = int64(len(c.Nodes))
	return nil
}

// enqueue queues a packet for the node's next turn; the oldest is dropped
// when the node has SleepQueue packets waiting.
func (n *busNode) enqueue(p *serialPort, pkt []byte) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.q) >= n.max {
		n.q[0] = nil
		n.q = n.q[1:]
		p.tab.cnt.linkQueue.Add(1)
	}
	n.q = append(n.q, append([]byte(nil), pkt...))
	return nil
}

func (n *busNode) dequeue() []byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.q) == 0 {
		return nil
	}
	pkt := n.q[0]
	n.q[0] = nil
	n.q = n.q[1:]
	return pkt
}

// busFrame is a frame read from the bus, copied out of the reader.
type busFrame struct {
	addr   uint16
	id     []byte
	packet []byte
}

// serveBus runs the bus master until the port fails or the gateway closes.
func (p *serialPort) serveBus(rw io.ReadWriteCloser, ctl *lineControl) error {
	ctl.cnt = p.tab.cnt
	frames := make(chan busFrame, 16)
	rerr := make(chan error, 1)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.readBus(rw, frames, rerr, quit)
	}()
	defer func() {
		close(quit)
		rw.Close()
		wg.Wait()
	}()

	cfg := p.cfg.RS485
	gap := ctl.charTime * 7 / 2
	idle := time.Now() // when the line last fell silent
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var out []byte
	round := time.Now()
	for {
		for _, n := range p.order {
			pkt := n.dequeue()
			out, _ = serial.AppendRS485(out[:0], n.id, 0, pkt)
			if d := time.Until(idle.Add(gap)); d > 0 {
				time.Sleep(d)
			}
			end, err := ctl.transmit(rw, out)
			if err != nil {
				return err
			}
			if pkt != nil {
				p.tab.cnt.packetsOut.Add(1)
			}
			idle = end
			timer.Reset(time.Until(end.Add(cfg.ReplyTimeout)))
			answered := false
			for !answered {
				select {
				case f := <-frames:
					idle = time.Now()
					answered = f.addr == n.addr
					p.busFrame(f)
					continue
				case err := <-rerr:
					return err
				case <-p.stop:
					return nil
				case <-timer.C:
				}
				break
			}
			if answered {
				n.missed = 0
				continue
			}
			p.tab.cnt.pollsUnanswered.Add(1)
			if n.missed++; n.missed == cfg.LostAfter {
				p.tab.stopClient(n.key, endPolls)
			}
		}
		next := round.Add(cfg.PollInterval)
		for wait := time.Until(next); wait > 0; wait = time.Until(next) {
			timer.Reset(wait)
			select {
			case f := <-frames: // not polled: a very late answer
				idle = time.Now()
				p.busFrame(f)
			case err := <-rerr:
				return err
			case <-p.stop:
				return nil
			case <-timer.C:
			}
		}
		round = time.Now()
	}
}

// busFrame hands a node's packet to its client.
func (p *serialPort) busFrame(f busFrame) {
	if len(f.packet) == 0 {
		return // "nothing to say"
	}
	n := p.bus[f.addr]
	if n == nil {
		p.tab.cnt.unknownClient.Add(1) // an address not configured
		return
	}
	p.tab.cnt.packetsIn.Add(1)
	if p.tab.deliver(n.key, f.packet) {
		return
	}
	p.tab.unknown(n.key, f.packet, &serialLink{p: p, node: n.id, bus: n})
}

// readBus reads frames until the port fails. It drops the gateway's own
// polls should the line echo them (frames that carry nothing and come
// from no configured node would be noise anyway).
func (p *serialPort) readBus(r io.Reader, frames chan<- busFrame, rerr chan<- error, quit <-chan struct{}) {
	rd := serial.NewRS485Reader(r, p.maxFrame)
	var seen serial.RS485Stats
	for {
		f, err := rd.ReadFrame()
		st := rd.Stats()
		p.tab.cnt.badFrames.Add(st.BadCRC - seen.BadCRC + st.Oversize - seen.Oversize + st.Malformed - seen.Malformed)
		p.tab.cnt.skipped.Add(st.NoiseBytes - seen.NoiseBytes)
		seen = st
		if err != nil {
			rerr <- err
			return
		}
		bf := busFrame{addr: f.Addr(), id: append([]byte(nil), f.NodeID...)}
		if len(f.Packet) > 0 {
			bf.packet = append([]byte(nil), f.Packet...)
		}
		select {
		case frames <- bf:
		case <-quit:
			return
		}
	}
}
