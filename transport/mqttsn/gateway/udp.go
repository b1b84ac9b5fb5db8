package gateway

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/edgemq/edgemq/transport/mqttsn"
)

// UDPConfig is one UDP socket (an element of mqttsn.udp).
type UDPConfig struct {
	// Address is "host:port" to listen on.
	Address string
	// Broadcast is where ADVERTISE and GWINFO go: a broadcast address or a
	// multicast group, "host:port". With a multicast group the gateway
	// also joins it, to hear SEARCHGW sent there. "" sends neither.
	Broadcast string
}

// udpTransport is one UDP socket. Clients are keyed by source address
// (and Wireless Node Id, for forwarders that encapsulate [5.5]).
type udpTransport struct {
	g     *Gateway
	conn  *net.UDPConn
	mcast *net.UDPConn // the multicast group, when Broadcast is one
	bcast netip.AddrPort
	tab   *table
	stop  chan struct{}
	wg    sync.WaitGroup
}

// udpReadBuffer is the receive buffer asked for each UDP socket.
const udpReadBuffer = 1 << 20

// maxUDPPacket is the longest MQTT-SN packet: the 3-octet Length's limit.
const maxUDPPacket = mqttsn.MaxLen

// ListenUDP opens a UDP socket and serves MQTT-SN clients on it. It
// returns the socket's address (with the real port when port 0 was asked).
func (g *Gateway) ListenUDP(cfg UDPConfig) (net.Addr, error) {
	laddr, err := net.ResolveUDPAddr("udp", cfg.Address)
	if err != nil {
		return nil, errorf("udp address %q: %v", cfg.Address, err)
	}
	u := &udpTransport{g: g, stop: make(chan struct{})}
	if cfg.Broadcast != "" {
		ba, err := net.ResolveUDPAddr("udp", cfg.Broadcast)
		if err != nil {
			return nil, errorf("udp broadcast address %q: %v", cfg.Broadcast, err)
		}
		u.bcast = ba.AddrPort()
	}
	conn, err := listenUDP(laddr)
	if err != nil {
		return nil, errorf("listen udp %s: %v", cfg.Address, err)
	}
	u.conn = conn
	// Bursts from many sensors must wait in the socket while the reader
	// catches up; the kernel caps this at net.core.rmem_max.
	_ = conn.SetReadBuffer(udpReadBuffer)
	name := "udp:" + conn.LocalAddr().String()
	u.tab = newTable(g, name, "udp", &g.udp)
	u.tab.search = u.gwInfo
	u.tab.cnt.up.Store(true)
	if u.bcast.IsValid() && u.bcast.Addr().IsMulticast() {
		mc, err := net.ListenMulticastUDP("udp", nil, net.UDPAddrFromAddrPort(u.bcast))
		if err != nil {
			g.log.Warn("mqttsn gateway: cannot join the multicast group: SEARCHGW sent there is not heard",
				"transport", name, "group", u.bcast.String(), "err", err)
		} else {
			u.mcast = mc
		}
	}
	if !g.addTransport(u) {
		u.closeSockets()
		return nil, net.ErrClosed
	}
	u.wg.Add(1)
	go u.read(u.conn)
	if u.mcast != nil {
		u.wg.Add(1)
		go u.read(u.mcast)
	}
	if u.bcast.IsValid() && g.opts.AdvertiseInterval > 0 {
		u.wg.Add(1)
		go u.advertise()
	}
	g.log.Info("mqttsn gateway listening", "transport", name, "broadcast", cfg.Broadcast)
	return conn.LocalAddr(), nil
}

func (u *udpTransport) closeSockets() {
	u.conn.Close()
	if u.mcast != nil {
		u.mcast.Close()
	}
}

func (u *udpTransport) read(conn *net.UDPConn) {
	defer u.wg.Done()
	buf := make([]byte, maxUDPPacket+1)
	var fw mqttsn.Forwarder
	var lastLog time.Time
	for {
		n, ap, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if now := time.Now(); now.Sub(lastLog) > 10*time.Second {
				lastLog = now
				u.g.log.Warn("mqttsn gateway: udp read", "transport", u.tab.name, "err", err)
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		u.tab.cnt.packetsIn.Add(1)
		pkt := buf[:n]
		key := clientKey{ap: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}
		var node []byte
		if n >= 2 && pkt[0] != 0x01 && mqttsn.MsgType(pkt[1]) == mqttsn.ENCAPSULATED {
			if err := mqttsn.Unmarshal(pkt, &fw); err != nil {
				u.tab.cnt.malformed.Add(1)
				continue
			}
			node, pkt = fw.NodeID, fw.Message
			key.node = string(node)
		}
		if u.tab.deliver(key, pkt) {
			continue
		}
		l := &udpLink{u: u, ap: key.ap}
		if node != nil {
			l.node = append([]byte{}, node...)
		}
		u.tab.unknown(key, pkt, l)
	}
}

// gwInfo answers SEARCHGW with GWINFO to the broadcast address [6.1].
func (u *udpTransport) gwInfo(link) {
	if !u.bcast.IsValid() {
		return
	}
	b, _ := (&mqttsn.GwInfo{GwID: u.g.opts.GatewayID}).Append(make([]byte, 0, 8))
	if _, err := u.conn.WriteToUDPAddrPort(b, u.bcast); err == nil {
		u.tab.cnt.packetsOut.Add(1)
	}
}

// advertise sends ADVERTISE to the broadcast address at once and then
// every AdvertiseInterval [6.1].
func (u *udpTransport) advertise() {
	defer u.wg.Done()
	secs := u.g.opts.AdvertiseInterval / time.Second
	if secs > 0xFFFF {
		secs = 0xFFFF
	}
	b, _ := (&mqttsn.Advertise{GwID: u.g.opts.GatewayID, Duration: uint16(secs)}).Append(nil)
	t := time.NewTicker(u.g.opts.AdvertiseInterval)
	defer t.Stop()
	for {
		if _, err := u.conn.WriteToUDPAddrPort(b, u.bcast); err == nil {
			u.tab.cnt.packetsOut.Add(1)
		} else {
			u.g.log.Debug("mqttsn gateway: ADVERTISE not sent", "transport", u.tab.name, "err", err)
		}
		select {
		case <-t.C:
		case <-u.stop:
			return
		}
	}
}

func (u *udpTransport) stats() TransportStats { return u.tab.stats() }

func (u *udpTransport) close() {
	close(u.stop)
	u.tab.cnt.up.Store(false)
	u.closeSockets()
	u.wg.Wait()
}

// udpLink reaches one UDP client, encapsulating for a forwarder's node.
type udpLink struct {
	u    *udpTransport
	ap   netip.AddrPort
	node []byte // Wireless Node Id; nil when the client speaks for itself
}

func (l *udpLink) send(pkt []byte) error {
	if l.node != nil {
		var err error
		if pkt, err = (&mqttsn.Forwarder{NodeID: l.node, Message: pkt}).Append(make([]byte, 0, len(pkt)+8)); err != nil {
			return err
		}
	}
	_, err := l.u.conn.WriteToUDPAddrPort(pkt, l.ap)
	return err
}

func (l *udpLink) maxPacket() int {
	return maxUDPPacket - 3 - len(l.node)
}

func (l *udpLink) remote() net.Addr {
	if l.node == nil {
		return net.UDPAddrFromAddrPort(l.ap)
	}
	return nodeAddr{network: "udp", at: l.ap.String(), node: l.node}
}

// nodeAddr is the address of a node behind a forwarder or on a serial line.
type nodeAddr struct {
	network, at string
	node        []byte
}

func (a nodeAddr) Network() string { return a.network }

func (a nodeAddr) String() string {
	if len(a.node) == 0 {
		return a.at
	}
	s := a.at + "#"
	for _, b := range a.node {
		s += strconv.FormatUint(uint64(b>>4), 16) + strconv.FormatUint(uint64(b&15), 16)
	}
	return s
}
