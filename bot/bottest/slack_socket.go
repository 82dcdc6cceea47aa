package bottest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Socket Mode (https://docs.slack.dev/apis/events-api/using-socket-mode): the app
// calls apps.connections.open with its app-level token, dials the URL it gets, reads
// a hello, then envelopes {envelope_id, type, payload, accepts_response_payload}
// of type events_api, interactive or slash_commands, and acknowledges each with
// {"envelope_id": …} (plus an optional payload) within three seconds. Slack pings the
// connection; it may send {"type": "disconnect"} before closing it.

// AckDeadline is how long Slack waits for an acknowledgement.
const AckDeadline = 3 * time.Second

type slackSocket struct {
	f        *SlackFake
	upgrader websocket.Upgrader

	mu      sync.Mutex
	conns   []*sockConn
	pending map[string]*pendingAck
	seq     int
	hello   chan struct{}
}

type sockConn struct {
	ws   *websocket.Conn
	wmu  sync.Mutex
	done chan struct{}
}

type pendingAck struct {
	sent time.Time
	ch   chan json.RawMessage
}

func newSlackSocket(f *SlackFake) *slackSocket {
	s := &slackSocket{f: f, pending: map[string]*pendingAck{}, hello: make(chan struct{}, 16)}
	// Slack's clients dial with Origin https://api.slack.com.
	s.upgrader.CheckOrigin = func(r *http.Request) bool { return r.Header.Get("Origin") == "https://api.slack.com" }
	return s
}

func (s *slackSocket) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("ticket") == "" {
		s.f.t.Errorf("fake Slack: websocket dial without the ticket of apps.connections.open's URL")
		http.Error(w, "invalid ticket", http.StatusUnauthorized)
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.f.t.Errorf("fake Slack: websocket upgrade: %v", err)
		return
	}
	c := &sockConn{ws: ws, done: make(chan struct{})}
	s.mu.Lock()
	s.conns = append(s.conns, c)
	n := len(s.conns)
	s.mu.Unlock()
	if err := c.write(map[string]any{"type": "hello", "num_connections": n,
		"debug_info":      map[string]any{"host": "applink-fake", "approximate_connection_time": 18060},
		"connection_info": map[string]any{"app_id": "A0WARROOM"}}); err != nil {
		return
	}
	select {
	case s.hello <- struct{}{}:
	default:
	}
	go s.ping(c)
	s.read(c)
}

func (c *sockConn) write(v any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.ws.WriteJSON(v)
}

// ping pings the client as Slack does, so its dead-connection timer stays quiet.
func (s *slackSocket) ping(c *sockConn) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			if err := c.ws.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second)); err != nil {
				return
			}
		}
	}
}

// read takes acknowledgements until the connection closes.
func (s *slackSocket) read(c *sockConn) {
	defer func() {
		close(c.done)
		c.ws.Close()
		s.mu.Lock()
		for i, x := range s.conns {
			if x == c {
				s.conns = append(s.conns[:i], s.conns[i+1:]...)
				break
			}
		}
		s.mu.Unlock()
	}()
	for {
		_, raw, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		var ack struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(raw, &ack); err != nil || ack.EnvelopeID == "" {
			s.f.t.Errorf("fake Slack: the app sent %q over Socket Mode; want an acknowledgement {\"envelope_id\": …}", raw)
			continue
		}
		s.mu.Lock()
		p, ok := s.pending[ack.EnvelopeID]
		delete(s.pending, ack.EnvelopeID)
		s.mu.Unlock()
		if !ok {
			s.f.t.Errorf("fake Slack: acknowledgement of unknown or already acknowledged envelope %q", ack.EnvelopeID)
			continue
		}
		if d := time.Since(p.sent); d > AckDeadline {
			s.f.t.Errorf("fake Slack: envelope %s acknowledged after %s; Slack wants it within %s", ack.EnvelopeID, d, AckDeadline)
		}
		p.ch <- ack.Payload
	}
}

func (s *slackSocket) closeAll() {
	s.mu.Lock()
	conns := append([]*sockConn(nil), s.conns...)
	s.mu.Unlock()
	for _, c := range conns {
		c.ws.Close()
	}
}

// AwaitSocket waits until an app has connected in Socket Mode (and got its hello).
func (f *SlackFake) AwaitSocket(d time.Duration) {
	f.t.Helper()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-f.sock.hello:
	case <-t.C:
		f.t.Fatalf("fake Slack: no Socket Mode connection within %s", d)
	}
}

// SocketConnections counts the open Socket Mode connections.
func (f *SlackFake) SocketConnections() int {
	f.sock.mu.Lock()
	defer f.sock.mu.Unlock()
	return len(f.sock.conns)
}

// Deliver sends an envelope of type typ ("events_api", "interactive",
// "slash_commands") over the newest Socket Mode connection and waits for its
// acknowledgement, failing the test if none comes within AckDeadline. It returns the
// acknowledgement's payload.
func (f *SlackFake) Deliver(typ string, payload any) json.RawMessage {
	f.t.Helper()
	s := f.sock
	raw, err := json.Marshal(payload)
	if err != nil {
		f.t.Fatal(err)
	}
	s.mu.Lock()
	if len(s.conns) == 0 {
		s.mu.Unlock()
		f.t.Fatalf("fake Slack: no Socket Mode connection to deliver a %s envelope on", typ)
	}
	c := s.conns[len(s.conns)-1]
	s.seq++
	id := "env-" + strconv.Itoa(s.seq)
	p := &pendingAck{sent: time.Now(), ch: make(chan json.RawMessage, 1)}
	s.pending[id] = p
	s.mu.Unlock()
	env := map[string]any{"envelope_id": id, "type": typ, "payload": json.RawMessage(raw),
		"accepts_response_payload": typ != "events_api", "retry_attempt": 0, "retry_reason": ""}
	if err := c.write(env); err != nil {
		f.t.Fatalf("fake Slack: send envelope: %v", err)
	}
	t := time.NewTimer(AckDeadline)
	defer t.Stop()
	select {
	case ack := <-p.ch:
		return ack
	case <-t.C:
		f.t.Fatalf("fake Slack: envelope %s (%s) not acknowledged within %s", id, typ, AckDeadline)
	}
	return nil
}

// DropSockets closes every Socket Mode connection, as a network failure would.
func (f *SlackFake) DropSockets() { f.sock.closeAll() }

// Disconnect asks every connected app to reconnect, as Slack does before it
// refreshes a connection.
func (f *SlackFake) Disconnect() error {
	f.sock.mu.Lock()
	conns := append([]*sockConn(nil), f.sock.conns...)
	f.sock.mu.Unlock()
	for _, c := range conns {
		if err := c.write(map[string]any{"type": "disconnect", "reason": "refresh_requested",
			"debug_info": map[string]any{"host": "applink-fake"}}); err != nil {
			return fmt.Errorf("send disconnect: %w", err)
		}
	}
	return nil
}
