//go:build !unix

package syslog

import "net"

// peerClosed cannot peek at sockets on this platform; a closed connection shows up as a
// failed write instead.
func peerClosed(net.Conn) bool { return false }
