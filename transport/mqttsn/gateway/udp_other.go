//go:build !unix

package gateway

import "net"

// listenUDP opens a UDP socket; elsewhere than Unix, broadcast addresses
// may need the socket option this build does not set.
func listenUDP(laddr *net.UDPAddr) (*net.UDPConn, error) { return net.ListenUDP("udp", laddr) }
