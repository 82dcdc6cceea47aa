package bottest

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// gatewayState is the fake gateway's bookkeeping.
type gatewayState struct {
	conns      []*gatewayConn
	identified int
	heartbeats int
	acks       int
	sessions   int
}

type gatewayConn struct {
	ws         *websocket.Conn
	wmu        sync.Mutex
	seq        int
	identified bool
}

func (c *gatewayConn) send(v any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.ws.WriteJSON(v)
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// serveGateway speaks the gateway protocol (v9, JSON): HELLO, then IDENTIFY answered
// by READY, heartbeats answered by HEARTBEAT_ACK, and dispatches sent by the test.
func (f *DiscordFake) serveGateway(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("v") != "9" || q.Get("encoding") != "json" {
		f.fail("discord fake: gateway connection with %q; want ?v=9&encoding=json", r.URL.RawQuery)
		http.Error(w, "bad gateway version or encoding", http.StatusBadRequest)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		f.fail("discord fake: gateway upgrade: %v", err)
		return
	}
	c := &gatewayConn{ws: ws}
	f.mu.Lock()
	f.gw.conns = append(f.gw.conns, c)
	interval := f.HeartbeatInterval
	f.mu.Unlock()
	defer ws.Close()
	if err := c.send(map[string]any{"op": 10, "d": map[string]any{"heartbeat_interval": interval.Milliseconds()}, "s": nil, "t": nil}); err != nil {
		return
	}
	for {
		_, raw, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var p struct {
			Op int             `json:"op"`
			D  json.RawMessage `json:"d"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			f.fail("discord fake: gateway payload is not JSON: %v", err)
			_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4002, "Error while decoding payload."), time.Now().Add(time.Second))
			return
		}
		switch p.Op {
		case 1: // heartbeat
			f.mu.Lock()
			f.gw.heartbeats++
			f.gw.acks++
			f.notify()
			f.mu.Unlock()
			if err := c.send(map[string]any{"op": 11, "d": nil, "s": nil, "t": nil}); err != nil {
				return
			}
		case 2: // identify
			var id struct {
				Token      string         `json:"token"`
				Intents    *int           `json:"intents"`
				Properties map[string]any `json:"properties"`
			}
			if err := json.Unmarshal(p.D, &id); err != nil || id.Intents == nil || id.Properties == nil {
				f.fail("discord fake: IDENTIFY without token, intents or properties: %s", p.D)
				_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4002, "Error while decoding payload."), time.Now().Add(time.Second))
				return
			}
			if strings.TrimPrefix(id.Token, "Bot ") != f.Token {
				f.fail("discord fake: IDENTIFY with a wrong token")
				_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4004, "Authentication failed."), time.Now().Add(time.Second))
				return
			}
			f.mu.Lock()
			if c.identified {
				f.mu.Unlock()
				f.fail("discord fake: IDENTIFY sent twice on one connection")
				_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4005, "Already authenticated."), time.Now().Add(time.Second))
				return
			}
			c.identified = true
			f.gw.identified++
			f.gw.sessions++
			c.seq++
			seq := c.seq
			ready := map[string]any{"op": 0, "s": seq, "t": "READY", "d": map[string]any{
				"v":                  9,
				"user":               map[string]any{"id": f.AppID, "username": "warroom", "discriminator": "0", "bot": true, "verified": true},
				"guilds":             []map[string]any{{"id": f.GuildID, "unavailable": true}},
				"session_id":         "fake-session-" + f.id(),
				"resume_gateway_url": f.gatewayURL(),
				"shard":              []int{0, 1},
				"application":        map[string]any{"id": f.AppID, "flags": 0},
			}}
			f.notify()
			f.mu.Unlock()
			if err := c.send(ready); err != nil {
				return
			}
		case 6: // resume
			var rs struct {
				Token     string `json:"token"`
				SessionID string `json:"session_id"`
			}
			if err := json.Unmarshal(p.D, &rs); err != nil || strings.TrimPrefix(rs.Token, "Bot ") != f.Token || rs.SessionID == "" {
				f.fail("discord fake: RESUME with a wrong token or no session: %s", p.D)
				_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4004, "Authentication failed."), time.Now().Add(time.Second))
				return
			}
			f.mu.Lock()
			c.identified = true
			c.seq++
			seq := c.seq
			f.notify()
			f.mu.Unlock()
			if err := c.send(map[string]any{"op": 0, "s": seq, "t": "RESUMED", "d": map[string]any{}}); err != nil {
				return
			}
		default:
			f.fail("discord fake: unexpected gateway op %d: %s", p.Op, p.D)
		}
	}
}

// GatewayStats reports identified sessions, heartbeats received and ACKs sent.
func (f *DiscordFake) GatewayStats() (identified, heartbeats, acks int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gw.identified, f.gw.heartbeats, f.gw.acks
}

// AwaitGateway waits until a client has identified on the gateway.
func (f *DiscordFake) AwaitGateway(timeout time.Duration) {
	f.t.Helper()
	f.Await("a gateway IDENTIFY", timeout, func() bool { id, _, _ := f.GatewayStats(); return id > 0 })
}

// RequestHeartbeat asks every identified client for a heartbeat (op 1), as Discord
// may at any time, and waits for it.
func (f *DiscordFake) RequestHeartbeat(timeout time.Duration) {
	f.t.Helper()
	f.mu.Lock()
	before := f.gw.heartbeats
	conns := append([]*gatewayConn(nil), f.gw.conns...)
	f.mu.Unlock()
	for _, c := range conns {
		if c.identified {
			_ = c.send(map[string]any{"op": 1, "d": nil, "s": nil, "t": nil})
		}
	}
	f.Await("a heartbeat", timeout, func() bool { _, hb, _ := f.GatewayStats(); return hb > before })
}

// Dispatch sends an interaction as INTERACTION_CREATE over the gateway.
func (f *DiscordFake) Dispatch(ix *DiscordInteraction) {
	f.t.Helper()
	f.mu.Lock()
	var c *gatewayConn
	for _, x := range f.gw.conns {
		if x.identified {
			c = x
		}
	}
	if c == nil {
		f.mu.Unlock()
		f.t.Fatal("discord fake: dispatch with no identified gateway connection")
		return
	}
	c.seq++
	seq := c.seq
	f.mu.Unlock()
	if err := c.send(map[string]any{"op": 0, "s": seq, "t": "INTERACTION_CREATE", "d": json.RawMessage(ix.Payload)}); err != nil {
		f.t.Fatalf("discord fake: dispatch: %v", err)
	}
}

// AwaitAnswer waits until the application has responded to ix.
func (f *DiscordFake) AwaitAnswer(ix *DiscordInteraction, timeout time.Duration) {
	f.t.Helper()
	f.Await("the response to interaction "+ix.ID, timeout, func() bool { return f.Answer(ix).ResponseType != 0 })
}

func (f *DiscordFake) closeGateway() {
	f.mu.Lock()
	conns := f.gw.conns
	f.gw.conns = nil
	f.mu.Unlock()
	for _, c := range conns {
		c.wmu.Lock()
		_ = c.ws.Close()
		c.wmu.Unlock()
	}
}
