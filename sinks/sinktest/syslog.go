package sinktest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
)

// Syslog is a syslog receiver for tests: RFC 5424 messages one per datagram over UDP
// (RFC 5426), or octet-counted over TCP (RFC 6587 §3.4.1) or TLS (RFC 5425). Malformed
// frames and messages are recorded as errors; a malformed frame also closes its TCP
// connection, since octet counting cannot resynchronise after one.
type Syslog struct {
	// Network is "udp", "tcp" or "tls"; Addr is host:port on 127.0.0.1.
	Network string
	Addr    string

	mu      sync.Mutex
	msgs    []Message
	raw     [][]byte
	errs    []error
	conns   map[net.Conn]bool
	accepts int
	changed chan struct{}

	ln     net.Listener
	pc     net.PacketConn
	tlsCfg *tls.Config
	wg     sync.WaitGroup
}

// NewSyslogUDP starts a UDP receiver.
func NewSyslogUDP(t testing.TB) *Syslog {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sinktest: listen udp: %v", err)
	}
	s := newSyslog("udp", pc.LocalAddr().String())
	s.pc = pc
	s.wg.Add(1)
	go s.readUDP()
	t.Cleanup(s.close)
	return s
}

// NewSyslogTCP starts a TCP receiver with octet counting.
func NewSyslogTCP(t testing.TB) *Syslog {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sinktest: listen tcp: %v", err)
	}
	return startStream(t, "tcp", ln)
}

// NewSyslogTLS starts a TLS receiver with octet counting and the given server
// configuration (see CA.ServerConfig).
func NewSyslogTLS(t testing.TB, cfg *tls.Config) *Syslog {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatalf("sinktest: listen tls: %v", err)
	}
	s := startStream(t, "tls", ln)
	s.tlsCfg = cfg
	return s
}

func newSyslog(network, addr string) *Syslog {
	return &Syslog{Network: network, Addr: addr, conns: map[net.Conn]bool{}, changed: make(chan struct{})}
}

func startStream(t testing.TB, network string, ln net.Listener) *Syslog {
	s := newSyslog(network, ln.Addr().String())
	s.ln = ln
	s.wg.Add(1)
	go s.accept(ln)
	t.Cleanup(s.close)
	return s
}

// Stop closes a TCP or TLS receiver's listener and connections: senders get
// "connection refused" until Start.
func (s *Syslog) Stop() {
	if s.pc != nil {
		panic("sinktest: Stop is for TCP and TLS receivers")
	}
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	s.DropConnections()
	s.wg.Wait()
}

// Start listens again on the same address after Stop.
func (s *Syslog) Start(t testing.TB) {
	var (
		ln  net.Listener
		err error
	)
	if s.tlsCfg != nil {
		ln, err = tls.Listen("tcp", s.Addr, s.tlsCfg)
	} else {
		ln, err = net.Listen("tcp", s.Addr)
	}
	if err != nil {
		t.Fatalf("sinktest: listen again on %s: %v", s.Addr, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.wg.Add(1)
	go s.accept(ln)
}

func (s *Syslog) close() {
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	if s.pc != nil {
		s.pc.Close()
	}
	s.DropConnections()
	s.wg.Wait()
}

// DropConnections closes every open TCP/TLS connection from the receiver's side.
func (s *Syslog) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

// Messages returns the messages received, in order.
func (s *Syslog) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

// Raw returns the bytes of each well-formed message, in order.
func (s *Syslog) Raw() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.raw)
}

// Errors returns the framing and parsing errors seen.
func (s *Syslog) Errors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.errs)
}

// Accepts returns how many connections were accepted.
func (s *Syslog) Accepts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepts
}

// Wait blocks until at least n messages arrived or ctx ends.
func (s *Syslog) Wait(ctx context.Context, n int) error {
	return s.waitFor(ctx, func() bool { return len(s.msgs) >= n })
}

// WaitErrors blocks until at least n errors were recorded or ctx ends.
func (s *Syslog) WaitErrors(ctx context.Context, n int) error {
	return s.waitFor(ctx, func() bool { return len(s.errs) >= n })
}

func (s *Syslog) waitFor(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *Syslog) record(b []byte, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		var m Message
		if m, err = ParseMessage(b); err == nil {
			s.msgs = append(s.msgs, m)
			s.raw = append(s.raw, bytes.Clone(b))
		}
	}
	if err != nil {
		s.errs = append(s.errs, err)
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Syslog) readUDP() {
	defer s.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, _, err := s.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		s.record(bytes.Clone(buf[:n]), nil)
	}
}

func (s *Syslog) accept(ln net.Listener) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.accepts++
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (s *Syslog) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	r := bufio.NewReader(c)
	for {
		frame, err := ReadFrame(r, MaxFrame)
		if err != nil {
			var ne net.Error
			if !errors.Is(err, net.ErrClosed) && !errors.As(err, &ne) && !errors.Is(err, io.EOF) {
				s.record(nil, err)
			}
			return
		}
		s.record(frame, nil)
	}
}
