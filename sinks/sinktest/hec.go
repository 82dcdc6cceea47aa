package sinktest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// HECPath is the endpoint the fake Splunk HTTP Event Collector serves.
const HECPath = "/services/collector/event"

// HEC is a strict fake of the Splunk HTTP Event Collector's JSON event endpoint. It
// accepts POST /services/collector/event with "Authorization: Splunk <token>",
// Content-Type application/json and a body of JSON event objects back to back; it
// answers errors exactly as HEC does ({"text":"Invalid token","code":4} with 403, and
// so on). Events before an invalid one in a batch are kept, like HEC indexes them.
type HEC struct {
	*server
	token   string
	indexes []string
	events  []HECEvent // guarded by server.mu
}

// HECEvent is one event object as HEC received it.
type HECEvent struct {
	// Time is the "time" member exactly as sent (epoch seconds, maybe with a fraction).
	Time       json.Number
	Host       string
	Source     string
	Sourcetype string
	Index      string
	HasIndex   bool
	Event      json.RawMessage
	Fields     map[string]json.RawMessage
}

// NewHEC starts a fake collector that accepts token. With indexes given, an event
// naming another index is refused with "Incorrect index" (code 7).
func NewHEC(t testing.TB, token string, indexes ...string) *HEC {
	h := &HEC{token: token, indexes: indexes}
	h.server = newServer(t)
	h.server.handler = h.handle
	h.server.failure = hecFailure
	return h
}

// Events returns every event accepted, in order.
func (h *HEC) Events() []HECEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.events)
}

// Wait blocks until at least n events were accepted or ctx ends.
func (h *HEC) Wait(ctx context.Context, n int) error {
	return h.waitFor(ctx, func() bool { return len(h.events) >= n })
}

// HECReply is the collector's JSON answer.
type HECReply struct {
	Text               string `json:"text"`
	Code               int    `json:"code"`
	InvalidEventNumber *int   `json:"invalid-event-number,omitempty"`
}

func hecReply(w http.ResponseWriter, status int, r HECReply) {
	b, _ := json.Marshal(r)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", "Splunk")
	}
	writeJSON(w, status, string(b))
}

func hecFailure(w http.ResponseWriter, f Fault) {
	switch f.Status {
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		hecReply(w, f.Status, HECReply{Text: "Server is busy", Code: 9})
	case http.StatusInternalServerError:
		hecReply(w, f.Status, HECReply{Text: "Internal server error", Code: 8})
	case http.StatusBadRequest:
		hecReply(w, f.Status, HECReply{Text: "Invalid data format", Code: 6})
	case http.StatusForbidden:
		hecReply(w, f.Status, HECReply{Text: "Invalid token", Code: 4})
	case http.StatusUnauthorized:
		hecReply(w, f.Status, HECReply{Text: "Token is required", Code: 2})
	default:
		hecReply(w, f.Status, HECReply{Text: http.StatusText(f.Status), Code: f.Status})
	}
}

func (h *HEC) handle(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.URL.Path != HECPath {
		hecReply(w, http.StatusNotFound, HECReply{Text: "The requested URL was not found on this server.", Code: 404})
		return
	}
	if r.Method != http.MethodPost {
		hecReply(w, http.StatusMethodNotAllowed, HECReply{Text: "Method Not Allowed", Code: 405})
		return
	}
	if r.URL.RawQuery != "" {
		hecReply(w, http.StatusBadRequest, HECReply{Text: "Query string authorization is not enabled", Code: 16})
		return
	}
	auth, ok := r.Header["Authorization"]
	switch {
	case !ok || len(auth) == 0:
		hecReply(w, http.StatusUnauthorized, HECReply{Text: "Token is required", Code: 2})
		return
	case len(auth) > 1 || !strings.HasPrefix(auth[0], "Splunk ") || strings.TrimPrefix(auth[0], "Splunk ") == "":
		hecReply(w, http.StatusUnauthorized, HECReply{Text: "Invalid authorization", Code: 3})
		return
	case strings.TrimPrefix(auth[0], "Splunk ") != h.token:
		hecReply(w, http.StatusForbidden, HECReply{Text: "Invalid token", Code: 4})
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		hecReply(w, http.StatusBadRequest, HECReply{Text: "Invalid data format", Code: 6})
		return
	}
	events, n, reply := ParseHECBody(body, h.indexes)
	h.mu.Lock()
	h.events = append(h.events, events...)
	h.signal()
	h.mu.Unlock()
	if reply.Code != 0 {
		if reply.Code != 5 { // "No data" names no event
			reply.InvalidEventNumber = &n
		}
		hecReply(w, http.StatusBadRequest, reply)
		return
	}
	hecReply(w, http.StatusOK, HECReply{Text: "Success", Code: 0})
}

var hecKeys = map[string]bool{"time": true, "host": true, "source": true, "sourcetype": true, "index": true, "event": true, "fields": true}

// ParseHECBody parses a HEC request body: JSON event objects back to back, separated
// by optional whitespace. It returns the events before the first invalid one, that
// one's 0-based number, and HEC's reply for it (Code 0 when every event is valid).
// With indexes given, other indexes are refused.
func ParseHECBody(body []byte, indexes []string) ([]HECEvent, int, HECReply) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, 0, HECReply{Text: "No data", Code: 5}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var out []HECEvent
	for n := 0; ; n++ {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return nil, 0, HECReply{Text: "No data", Code: 5}
			}
			return out, n, HECReply{}
		}
		if err != nil {
			return out, n, HECReply{Text: "Invalid data format", Code: 6}
		}
		ev, reply := parseHECEvent(raw, indexes)
		if reply.Code != 0 {
			return out, n, reply
		}
		out = append(out, ev)
	}
}

func parseHECEvent(raw json.RawMessage, indexes []string) (HECEvent, HECReply) {
	bad := HECReply{Text: "Invalid data format", Code: 6}
	var obj map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&obj); err != nil || obj == nil {
		return HECEvent{}, bad
	}
	var ev HECEvent
	for k := range obj {
		if !hecKeys[k] {
			return HECEvent{}, bad
		}
	}
	str := func(k string, dst *string) bool {
		v, ok := obj[k]
		if !ok {
			return true
		}
		return json.Unmarshal(v, dst) == nil && !bytes.Equal(bytes.TrimSpace(v), []byte("null"))
	}
	if !str("host", &ev.Host) || !str("source", &ev.Source) || !str("sourcetype", &ev.Sourcetype) || !str("index", &ev.Index) {
		return HECEvent{}, bad
	}
	if t, ok := obj["time"]; ok {
		if bytes.HasPrefix(bytes.TrimSpace(t), []byte(`"`)) {
			return HECEvent{}, bad // warroom sends time as a number
		}
		var num json.Number
		td := json.NewDecoder(bytes.NewReader(t))
		td.UseNumber()
		if err := td.Decode(&num); err != nil {
			return HECEvent{}, bad
		}
		f, err := num.Float64()
		if err != nil || f < 0 || strings.ContainsAny(string(num), "eE") {
			return HECEvent{}, bad
		}
		ev.Time = num
	}
	if _, ok := obj["index"]; ok {
		ev.HasIndex = true
		if len(indexes) > 0 && !slices.Contains(indexes, ev.Index) {
			return HECEvent{}, HECReply{Text: "Incorrect index", Code: 7}
		}
	}
	if f, ok := obj["fields"]; ok {
		if err := json.Unmarshal(f, &ev.Fields); err != nil || ev.Fields == nil {
			return HECEvent{}, HECReply{Text: "Error in handling indexed fields", Code: 15}
		}
	}
	e, ok := obj["event"]
	if !ok {
		return HECEvent{}, HECReply{Text: "Event field is required", Code: 12}
	}
	switch t := string(bytes.TrimSpace(e)); t {
	case "null", `""`, "{}":
		return HECEvent{}, HECReply{Text: "Event field cannot be blank", Code: 13}
	}
	ev.Event = e
	return ev, HECReply{}
}

// String renders an event for test failure messages.
func (e HECEvent) String() string {
	return fmt.Sprintf("{time %s host %q source %q sourcetype %q index %q event %s}", e.Time, e.Host, e.Source, e.Sourcetype, e.Index, e.Event)
}
