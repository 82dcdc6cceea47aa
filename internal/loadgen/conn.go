package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// A poster sends POST requests over one keep-alive HTTP/1.1 connection and reads the
// answers, in the worker's own goroutine.
//
// net/http's client runs each connection in two goroutines of its own (one writes, one
// reads) and hands every request and answer between them and the caller. On a small
// machine shared with the server under test, those hand-offs about doubled the
// generator's CPU per single-alert request (67–87 µs against 34–47 µs), CPU the server
// then lacks. A poster writes the request in one system call and reads the answer
// where it was asked for, so the generator leaves more of the machine to the server it
// measures.
//
// It speaks just what a load run needs: fixed-length request bodies, answers framed by
// Content-Length, chunked transfer coding or the end of the connection, and
// "Connection: close". Anything else it does not understand ends the connection with
// an error.
type poster struct {
	dial    func(ctx context.Context) (net.Conn, error)
	head    []byte // "POST path HTTP/1.1\r\nHost: ...\r\n" and the fixed headers
	timeout time.Duration

	mu      sync.Mutex // guards conn against abort from another goroutine
	conn    net.Conn
	aborted bool

	br  *bufio.Reader
	out []byte
}

// maxHeaderBytes bounds an answer's status line and headers.
const maxHeaderBytes = 64 << 10

// newPoster prepares a poster for POSTs to endpoint (an http or https URL) with the
// given header lines ("Name: value", no line ends). It connects on first use.
func newPoster(endpoint string, headers []string, timeout time.Duration) (*poster, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	host := u.Host
	addr := host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	var d net.Dialer
	d.Timeout = 5 * time.Second
	d.KeepAlive = 30 * time.Second
	dial := func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	if u.Scheme == "https" {
		cfg := &tls.Config{ServerName: u.Hostname()}
		dial = func(ctx context.Context) (net.Conn, error) {
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			tc := tls.Client(c, cfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				c.Close()
				return nil, err
			}
			return tc, nil
		}
	}
	head := fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: warroom-bench\r\n", u.RequestURI(), host)
	for _, h := range headers {
		head = append(head, h...)
		head = append(head, "\r\n"...)
	}
	return &poster{dial: dial, head: head, timeout: timeout}, nil
}

// post sends body and reads the answer into resp, returning its status code. After an
// error the connection is closed and the next post opens a new one.
func (p *poster) post(ctx context.Context, body []byte, resp *bytes.Buffer) (int, error) {
	if p.conn == nil {
		if p.isAborted() {
			return 0, context.Canceled
		}
		c, err := p.dial(ctx)
		if err != nil {
			return 0, err
		}
		p.mu.Lock()
		p.conn = c
		aborted := p.aborted
		p.mu.Unlock()
		if aborted { // abort came during the dial
			p.close()
			return 0, context.Canceled
		}
		if p.br == nil {
			p.br = bufio.NewReaderSize(c, 16<<10)
		} else {
			p.br.Reset(c)
		}
	}
	code, keep, err := p.exchange(body, resp)
	if err != nil || !keep {
		p.close()
	}
	return code, err
}

func (p *poster) exchange(body []byte, resp *bytes.Buffer) (code int, keep bool, err error) {
	if p.timeout > 0 {
		if err := p.conn.SetDeadline(time.Now().Add(p.timeout)); err != nil {
			return 0, false, err
		}
	}
	out := append(p.out[:0], p.head...)
	out = append(out, "Content-Length: "...)
	out = strconv.AppendInt(out, int64(len(body)), 10)
	out = append(out, "\r\n\r\n"...)
	if len(body) <= 256<<10 {
		out = append(out, body...)
		_, err = p.conn.Write(out)
	} else {
		bufs := net.Buffers{out, body}
		_, err = bufs.WriteTo(p.conn)
	}
	p.out = out[:0]
	if err != nil {
		return 0, false, err
	}
	for {
		code, keep, err = readAnswer(p.br, resp)
		if err != nil || code >= 200 || code == 101 {
			break
		}
		// 1xx interim answers (100 Continue, 103 Early Hints) precede the real one.
	}
	if err == nil && code == 101 {
		return code, false, errors.New("the server switched protocols")
	}
	return code, keep, err
}

// readAnswer reads one HTTP/1.x answer from br: the body goes into resp (reset first).
// keep reports whether the connection can carry another request.
func readAnswer(br *bufio.Reader, resp *bytes.Buffer) (code int, keep bool, err error) {
	resp.Reset()
	line, err := readLine(br, nil)
	if err != nil {
		return 0, false, err
	}
	// "HTTP/1.1 202 Accepted"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' ||
		(len(line) > 12 && line[12] != ' ') {
		return 0, false, fmt.Errorf("malformed status line %q", clip(line))
	}
	code, err = strconv.Atoi(string(line[9:12]))
	if err != nil || code < 100 {
		return 0, false, fmt.Errorf("malformed status line %q", clip(line))
	}
	keep = line[7] == '1' // HTTP/1.1 keeps the connection unless told otherwise
	length, chunked := int64(-1), false
	budget := maxHeaderBytes - len(line)
	for {
		line, err = readLine(br, &budget)
		if err != nil {
			return 0, false, err
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, false, fmt.Errorf("malformed header line %q", clip(line))
		}
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "Content-Length"):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 || (length >= 0 && n != length) {
				return 0, false, fmt.Errorf("bad Content-Length %q", clip(value))
			}
			length = n
		case asciiEqualFold(name, "Transfer-Encoding"):
			if !asciiEqualFold(value, "chunked") {
				return 0, false, fmt.Errorf("unsupported Transfer-Encoding %q", clip(value))
			}
			chunked = true
		case asciiEqualFold(name, "Connection"):
			for tok := range bytes.SplitSeq(value, []byte(",")) {
				tok = bytes.TrimSpace(tok)
				switch {
				case asciiEqualFold(tok, "close"):
					keep = false
				case asciiEqualFold(tok, "keep-alive"):
					keep = true
				}
			}
		}
	}
	switch {
	case code < 200 || code == 204 || code == 304:
		return code, keep, nil
	case chunked:
		return code, keep, readChunked(br, resp)
	case length >= 0:
		_, err = io.CopyN(resp, br, length)
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return code, keep, err
	default: // the body runs to the end of the connection
		_, err = resp.ReadFrom(br)
		return code, false, err
	}
}

// readChunked reads a chunked body into resp, skipping any trailer.
func readChunked(br *bufio.Reader, resp *bytes.Buffer) error {
	for {
		line, err := readLine(br, nil)
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(line, []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("malformed chunk size %q", clip(line))
		}
		if n == 0 {
			budget := maxHeaderBytes
			for {
				line, err := readLine(br, &budget)
				if err != nil {
					return err
				}
				if len(line) == 0 {
					return nil
				}
			}
		}
		if _, err := io.CopyN(resp, br, n); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if crlf, err := readLine(br, nil); err != nil {
			return err
		} else if len(crlf) != 0 {
			return errors.New("malformed chunk: no line end after its data")
		}
	}
}

// readLine reads one line without its "\r\n" (or "\n"). The line is only valid until
// the next read. budget, if set, is what the header block may still use.
func readLine(br *bufio.Reader, budget *int) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, errors.New("answer line too long")
	}
	if err != nil {
		if errors.Is(err, io.EOF) && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if budget != nil {
		if *budget -= len(line); *budget < 0 {
			return nil, errors.New("answer headers too long")
		}
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c, d := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

func clip(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// abort unblocks a post in progress from another goroutine, and keeps later posts
// from connecting; reset undoes the latter.
func (p *poster) abort() {
	p.mu.Lock()
	p.aborted = true
	if p.conn != nil {
		p.conn.SetDeadline(time.Unix(1, 0))
	}
	p.mu.Unlock()
}

func (p *poster) isAborted() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.aborted
}

func (p *poster) reset() {
	p.mu.Lock()
	p.aborted = false
	p.mu.Unlock()
}

// close ends the connection.
func (p *poster) close() {
	p.mu.Lock()
	if p.conn != nil {
		p.conn.Close()
		p.conn = nil
	}
	p.mu.Unlock()
}
