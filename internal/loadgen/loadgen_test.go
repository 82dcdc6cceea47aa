package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warroom/warroom/internal/clock"
)

const testToken = "ingest-secret"

// genericAlert is the generic format as the fake server reads it.
type genericAlert struct {
	ID        string `json:"id"`
	Rule      string `json:"rule"`
	Title     string `json:"title"`
	Severity  string `json:"severity"`
	Category  string `json:"category"`
	EventTime string `json:"event_time"`
	Entities  []struct {
		Kind, Value, Role string
	} `json:"entities"`
	Labels map[string]string `json:"labels"`
}

type eveAlert struct {
	Timestamp   string `json:"timestamp"`
	FlowID      int64  `json:"flow_id"`
	EventType   string `json:"event_type"`
	SrcIP       string `json:"src_ip"`
	SrcPort     int    `json:"src_port"`
	DestIP      string `json:"dest_ip"`
	DestPort    int    `json:"dest_port"`
	Proto       string `json:"proto"`
	CommunityID string `json:"community_id"`
	Alert       struct {
		SignatureID int    `json:"signature_id"`
		Signature   string `json:"signature"`
		Severity    int    `json:"severity"`
	} `json:"alert"`
}

type postableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
}

// fakeServer records what it is sent, checks it like the real servers would, and can
// fail chosen requests or move a fake clock.
type fakeServer struct {
	t      *testing.T
	mu     sync.Mutex
	reqs   int
	keys   map[string]bool // fingerprint-like key of every alert
	dups   int
	byAtk  map[string]map[string]bool // attacker → victims
	times  []time.Time
	fail   func(n int) int // status to answer request n with, 0 = normal
	onReq  func()          // called for every ingest request
	bodies []string
	nextID int64

	incidentOf map[int64]int64 // alert → incident, for the readable sample
	polls      map[int64]int   // alert → GETs so far
	readyAfter int             // GETs of an alert before it has an incident; <0 never
}

func newFake(t *testing.T) *fakeServer {
	return &fakeServer{t: t, keys: map[string]bool{}, byAtk: map[string]map[string]bool{},
		incidentOf: map[int64]int64{}, polls: map[int64]int{}}
}

func (f *fakeServer) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/ingest/{source}", f.ingest)
	mux.HandleFunc("POST /api/v2/alerts", f.alertmanager)
	mux.HandleFunc("GET /api/v1/alerts/{id}", f.getAlert)
	mux.HandleFunc("GET /api/v1/incidents/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer api-secret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, `{"id":%s,"number":"INC-%s"}`, r.PathValue("id"), r.PathValue("id"))
	})
	return mux
}

func (f *fakeServer) start() *httptest.Server {
	s := httptest.NewServer(f.handler())
	f.t.Cleanup(s.Close)
	return s
}

// count records one request and says which status to answer.
func (f *fakeServer) count(body string) int {
	if f.onReq != nil {
		f.onReq()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs++
	f.bodies = append(f.bodies, body)
	if f.fail != nil {
		return f.fail(f.reqs)
	}
	return 0
}

func (f *fakeServer) record(key, attacker, victim string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.keys[key] {
		f.dups++
	}
	f.keys[key] = true
	if f.byAtk[attacker] == nil {
		f.byAtk[attacker] = map[string]bool{}
	}
	f.byAtk[attacker][victim] = true
	f.times = append(f.times, at)
}

func (f *fakeServer) ingest(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if code := f.count(string(body)); code != 0 {
		http.Error(w, `{"error":"injected"}`, code)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+testToken {
		http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
		return
	}
	n := 0
	switch src := r.PathValue("source"); src {
	case "generic":
		if r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "content type", http.StatusUnsupportedMediaType)
			return
		}
		var list []genericAlert
		if bytes.HasPrefix(body, []byte("[")) {
			if err := json.Unmarshal(body, &list); err != nil {
				f.t.Errorf("generic array does not parse: %v", err)
			}
		} else {
			var one genericAlert
			if err := json.Unmarshal(body, &one); err != nil {
				f.t.Errorf("generic object does not parse: %v\n%s", err, body)
			}
			list = append(list, one)
		}
		for _, a := range list {
			at, err := time.Parse(time.RFC3339Nano, a.EventTime)
			if err != nil {
				f.t.Errorf("event_time %q: %v", a.EventTime, err)
			}
			if a.Rule == "" || a.Title == "" || a.Severity == "" || a.Category == "" || len(a.Entities) != 3 {
				f.t.Errorf("incomplete generic alert %+v", a)
			}
			atk, vic := a.Entities[0].Value, a.Entities[1].Value
			if a.Category == "c2" || a.Category == "exfil" {
				atk, vic = vic, atk
			}
			f.record(a.ID, atk, vic, at)
		}
		n = len(list)
	case "suricata":
		if r.Header.Get("Content-Type") != "application/x-ndjson" {
			http.Error(w, "content type", http.StatusUnsupportedMediaType)
			return
		}
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e eveAlert
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				f.t.Errorf("EVE line does not parse: %v\n%s", err, sc.Bytes())
				continue
			}
			at, err := time.Parse("2006-01-02T15:04:05.999999-0700", e.Timestamp)
			if err != nil {
				f.t.Errorf("timestamp %q: %v", e.Timestamp, err)
			}
			if e.EventType != "alert" || e.Alert.SignatureID == 0 || e.SrcPort == 0 || e.DestPort == 0 {
				f.t.Errorf("incomplete EVE alert %+v", e)
			}
			src, dst := netip.MustParseAddr(e.SrcIP), netip.MustParseAddr(e.DestIP)
			if want := communityID(src, dst, e.Proto, e.SrcPort, e.DestPort); e.CommunityID != want {
				f.t.Errorf("community_id %s, want %s", e.CommunityID, want)
			}
			atk, vic := e.SrcIP, e.DestIP
			if e.DestPort == 443 || e.DestPort == 53 {
				atk, vic = vic, atk
			}
			f.record(fmt.Sprint(e.FlowID, "|", e.Timestamp), atk, vic, at)
			n++
		}
	default:
		http.Error(w, `{"error":"unknown source"}`, http.StatusNotFound)
		return
	}
	f.mu.Lock()
	ids := make([]int64, n)
	for i := range ids {
		f.nextID++
		ids[i] = f.nextID
	}
	f.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(map[string]any{"accepted": n, "alert_ids": ids, "rejected": []any{}, "duplicates": 0})
}

func (f *fakeServer) alertmanager(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if code := f.count(string(body)); code != 0 {
		http.Error(w, "injected", code)
		return
	}
	var list []postableAlert
	if err := json.Unmarshal(body, &list); err != nil {
		f.t.Errorf("postable alerts do not parse: %v", err)
	}
	for _, a := range list {
		if a.Labels["alertname"] == "" || a.Annotations["summary"] == "" || a.StartsAt.IsZero() ||
			!a.EndsAt.After(a.StartsAt) || !strings.HasPrefix(a.GeneratorURL, "http") {
			f.t.Errorf("incomplete postable alert %+v", a)
		}
		ap, err := netip.ParseAddrPort(a.Labels["instance"])
		if err != nil {
			f.t.Errorf("instance %q: %v", a.Labels["instance"], err)
		}
		// Alertmanager identifies an alert by its label set.
		ls, _ := json.Marshal(a.Labels)
		f.record(string(ls), a.Labels["src_ip"]+a.Labels["dest_ip"], ap.Addr().String(), a.StartsAt)
	}
	w.WriteHeader(http.StatusOK)
}

func (f *fakeServer) getAlert(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer api-secret" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var id int64
	fmt.Sscan(r.PathValue("id"), &id)
	f.mu.Lock()
	f.polls[id]++
	ready := f.readyAfter >= 0 && f.polls[id] > f.readyAfter
	f.mu.Unlock()
	if ready {
		fmt.Fprintf(w, `{"id":%d,"incident_id":%d}`, id, id%7+1)
		return
	}
	fmt.Fprintf(w, `{"id":%d,"incident_id":null}`, id)
}

func inDocRanges(a netip.Addr) bool {
	for _, p := range []string{"192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "198.18.0.0/15", "2001:db8::/32"} {
		if netip.MustParsePrefix(p).Contains(a) {
			return true
		}
	}
	return false
}

func runOK(t *testing.T, cfg Config) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

func TestRunSendsCountOfDistinctGenericAlertsInIncidents(t *testing.T) {
	f := newFake(t)
	s := f.start()
	rep := runOK(t, Config{URL: s.URL, Token: testToken, Format: FormatGeneric,
		Concurrency: 4, Batch: 3, Requests: 40, Incidents: 5, Victims: 2})
	if f.reqs != 40 || len(f.keys) != 120 || f.dups != 0 {
		t.Errorf("server saw %d requests, %d distinct alerts, %d repeats; want 40, 120, 0", f.reqs, len(f.keys), f.dups)
	}
	if rep.Requests != 40 || rep.OK != 40 || rep.Alerts != 120 || rep.Accepted != 120 || rep.Latency.Count != 40 || len(rep.Errors) != 0 {
		t.Errorf("report %+v: want 40 requests, 40 ok, 120 alerts and accepted, 40 latencies, no errors", rep)
	}
	if len(f.byAtk) != 5 {
		t.Errorf("alerts name %d attackers, want one per incident (5)", len(f.byAtk))
	}
	victims := map[string]bool{}
	for atk, vs := range f.byAtk {
		if !inDocRanges(netip.MustParseAddr(atk)) {
			t.Errorf("attacker %s outside the documentation ranges", atk)
		}
		if len(vs) != 2 {
			t.Errorf("attacker %s hits %d victims, want 2", atk, len(vs))
		}
		for v := range vs {
			if victims[v] {
				t.Errorf("victim %s shared between incidents", v)
			}
			victims[v] = true
			if !inDocRanges(netip.MustParseAddr(v)) {
				t.Errorf("victim %s outside the documentation ranges", v)
			}
		}
	}
}

func TestSingleAlertGenericBodyIsAnObject(t *testing.T) {
	f := newFake(t)
	s := f.start()
	runOK(t, Config{URL: s.URL, Token: testToken, Concurrency: 1, Requests: 3})
	for _, b := range f.bodies {
		if !strings.HasPrefix(b, "{") {
			t.Errorf("batch 1 body %q is not a single object", b)
		}
	}
	if len(f.keys) != 3 {
		t.Errorf("%d distinct alerts, want 3", len(f.keys))
	}
}

func TestRunSendsSuricataEVELines(t *testing.T) {
	f := newFake(t)
	s := f.start()
	rep := runOK(t, Config{URL: s.URL, Token: testToken, Format: FormatSuricata,
		Concurrency: 2, Batch: 7, Requests: 12, Incidents: 12})
	if rep.Alerts != 84 || len(f.keys) != 84 || f.dups != 0 {
		t.Errorf("report %d alerts, server %d distinct (%d repeats); want 84, 84, 0", rep.Alerts, len(f.keys), f.dups)
	}
	if len(f.byAtk) != 12 {
		t.Errorf("alerts name %d attackers, want 12", len(f.byAtk))
	}
	for _, b := range f.bodies {
		if strings.Count(b, "\n") != 7 || !strings.HasSuffix(b, "}\n") {
			t.Errorf("body is not 7 NDJSON lines: %q", b)
		}
	}
}

func TestRunSendsAlertmanagerPostableAlerts(t *testing.T) {
	f := newFake(t)
	s := f.start()
	rep := runOK(t, Config{Target: TargetAlertmanager, URL: s.URL, Concurrency: 3, Batch: 10, Requests: 9})
	if rep.OK != 9 || rep.Alerts != 90 || len(f.keys) != 90 || f.dups != 0 {
		t.Errorf("report %d ok / %d alerts, server %d distinct label sets (%d repeats); want 9, 90, 90, 0",
			rep.OK, rep.Alerts, len(f.keys), f.dups)
	}
	if rep.Accepted != 0 || rep.Source != "" {
		t.Errorf("alertmanager report carries warroom fields: %+v", rep)
	}
}

func TestRunsWithDifferentNoncesNeverRepeatAnAlert(t *testing.T) {
	f := newFake(t)
	s := f.start()
	for _, nonce := range []int{11, 12} {
		runOK(t, Config{URL: s.URL, Token: testToken, Format: FormatSuricata, Concurrency: 2, Batch: 5, Requests: 10, Nonce: nonce})
	}
	if len(f.keys) != 100 || f.dups != 0 {
		t.Errorf("two runs gave %d distinct alerts and %d repeats, want 100 and 0", len(f.keys), f.dups)
	}
}

func TestRepeatSendsTheSameAlertsAgain(t *testing.T) {
	f := newFake(t)
	s := f.start()
	rep := runOK(t, Config{Target: TargetAlertmanager, URL: s.URL, Concurrency: 2, Batch: 2, Requests: 40,
		Incidents: 3, Victims: 1, Repeat: true})
	// Three (incident, victim) pairs in batches of two make the minimum of 8 bodies:
	// 16 distinct alerts, each sent 40·2/16 = 5 times.
	if rep.Alerts != 80 || len(f.keys) != 16 || f.dups != 64 {
		t.Errorf("%d alerts sent, %d distinct, %d repeats; want 80, 16, 64", rep.Alerts, len(f.keys), f.dups)
	}
}

func TestErrorsAreCountedByStatus(t *testing.T) {
	f := newFake(t)
	f.fail = func(n int) int {
		switch {
		case n%5 == 0:
			return http.StatusServiceUnavailable
		case n%7 == 0:
			return http.StatusBadRequest
		}
		return 0
	}
	s := f.start()
	rep := runOK(t, Config{URL: s.URL, Token: testToken, Concurrency: 1, Batch: 2, Requests: 35})
	// Of 1..35: multiples of 5 → 7; multiples of 7 but not 5 → 4.
	if rep.Errors["503"] != 7 || rep.Errors["400"] != 4 || len(rep.Errors) != 2 {
		t.Errorf("errors %v, want 503=7 400=4", rep.Errors)
	}
	if rep.Requests != 35 || rep.OK != 24 || rep.Alerts != 48 || rep.Latency.Count != 24 {
		t.Errorf("report %+v: want 35 requests, 24 ok, 48 alerts", rep)
	}
}

func TestNothingSucceedingIsAnErrorWithAHint(t *testing.T) {
	f := newFake(t)
	s := f.start()
	rep, err := Run(context.Background(), Config{URL: s.URL, Token: "wrong", Concurrency: 2, Requests: 4})
	if !errors.Is(err, ErrNothingSucceeded) || !strings.Contains(err.Error(), "401×4") || !strings.Contains(err.Error(), "token") {
		t.Fatalf("err = %v, want ErrNothingSucceeded naming 401×4 and the token", err)
	}
	if rep == nil || rep.Errors["401"] != 4 {
		t.Errorf("report %+v, want 4 counted 401s", rep)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error %q leaks the token", err)
	}
}

func TestNothingListeningNamesTheFirstTransportError(t *testing.T) {
	addr := deadAddr(t)
	rep, err := Run(context.Background(), Config{URL: "http://" + addr, Token: "t", Concurrency: 1, Requests: 2})
	if !errors.Is(err, ErrNothingSucceeded) || !strings.Contains(err.Error(), "transport×2") ||
		!strings.Contains(err.Error(), "is the server listening") || !strings.Contains(err.Error(), "The first: dial tcp "+addr) {
		t.Fatalf("err = %v", err)
	}
	var out bytes.Buffer
	if err := rep.Print(&out); err != nil || !strings.Contains(out.String(), "first transport error") {
		t.Errorf("report:\n%s (%v)", out.String(), err)
	}
}

func TestRunStopsAtTheDuration(t *testing.T) {
	f := newFake(t)
	fc := clock.NewFake(time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC))
	f.onReq = func() { fc.Advance(10 * time.Millisecond) }
	s := f.start()
	rep := runOK(t, Config{URL: s.URL, Token: testToken, Concurrency: 1, Duration: time.Second, Clock: fc})
	if rep.Requests != 100 || f.reqs != 100 {
		t.Errorf("%d requests reported, %d received; want exactly 100 in 1s at 10ms each", rep.Requests, f.reqs)
	}
	if rep.Elapsed != time.Second || rep.AlertsPerSec != 100 || rep.RequestsPerSec != 100 {
		t.Errorf("elapsed %v, %v alerts/s, %v req/s; want 1s, 100, 100", rep.Elapsed, rep.AlertsPerSec, rep.RequestsPerSec)
	}
	want := Latency{Count: 100, Mean: 10 * time.Millisecond, P50: 10 * time.Millisecond, P90: 10 * time.Millisecond,
		P99: 10 * time.Millisecond, Max: 10 * time.Millisecond}
	if rep.Latency != want {
		t.Errorf("latency %+v, want every request at 10ms", rep.Latency)
	}
}

func TestConcurrentRunStopsAtTheDuration(t *testing.T) {
	f := newFake(t)
	fc := clock.NewFake(time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC))
	f.onReq = func() { fc.Advance(10 * time.Millisecond) }
	s := f.start()
	rep := runOK(t, Config{URL: s.URL, Token: testToken, Concurrency: 4, Duration: 500 * time.Millisecond, Clock: fc})
	// Each request moves the clock 10ms; at most the other three workers can have
	// passed the deadline check before the clock reached it.
	if rep.Requests < 50 || rep.Requests > 53 || int64(f.reqs) != rep.Requests {
		t.Errorf("%d requests reported, %d received; want 50 to 53", rep.Requests, f.reqs)
	}
}

func TestWarmupIsSentButNotCounted(t *testing.T) {
	f := newFake(t)
	fc := clock.NewFake(time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC))
	f.onReq = func() { fc.Advance(10 * time.Millisecond) }
	s := f.start()
	rep := runOK(t, Config{URL: s.URL, Token: testToken, Concurrency: 1, Warmup: 200 * time.Millisecond,
		Requests: 10, Clock: fc})
	if f.reqs != 30 || rep.Requests != 10 || rep.Alerts != 10 {
		t.Errorf("server saw %d, report counts %d requests / %d alerts; want 30 sent, 10 counted", f.reqs, rep.Requests, rep.Alerts)
	}
	if f.dups != 0 {
		t.Errorf("warm-up and measured alerts overlap: %d repeats", f.dups)
	}
}

func TestReadableSampleFollowsAlertsToTheirIncident(t *testing.T) {
	f := newFake(t)
	f.readyAfter = 2 // two polls see incident_id null, the third the incident
	s := f.start()
	rep := runOK(t, Config{URL: s.URL, Token: testToken, APIToken: "api-secret", Concurrency: 2, Requests: 20,
		ReadableSample: 5})
	rd := rep.Readable
	if rd == nil || rd.Latency.Count != 5 || rd.Retried != 5 || rd.Timeouts != 0 || rd.Failures != 0 || rd.Dropped != 0 {
		t.Fatalf("readable %+v, want 5 samples, each retried, and no failures", rd)
	}
	polled := 0
	for _, n := range f.polls {
		if n != 3 {
			t.Errorf("an alert was read %d times, want 3 (two misses, one hit)", n)
		}
		polled++
	}
	if polled != 5 {
		t.Errorf("%d alerts followed, want 5", polled)
	}
	if rd.Latency.P50 <= 0 || rd.Latency.Max < rd.Latency.P99 {
		t.Errorf("readable latency %+v is not ordered", rd.Latency)
	}
}

func TestReadableAtOnceIsNotRetried(t *testing.T) {
	f := newFake(t)
	s := f.start()
	rep := runOK(t, Config{URL: s.URL, Token: testToken, APIToken: "api-secret", Concurrency: 1, Requests: 6,
		ReadableSample: 3})
	if rd := rep.Readable; rd == nil || rd.Latency.Count != 3 || rd.Retried != 0 {
		t.Errorf("readable %+v, want 3 samples read at the first try", rd)
	}
}

func TestReadableSampleTimesOut(t *testing.T) {
	f := newFake(t)
	f.readyAfter = -1
	s := f.start()
	rep := runOK(t, Config{URL: s.URL, Token: testToken, APIToken: "api-secret", Concurrency: 1, Requests: 4,
		ReadableSample: 2, ReadableTimeout: 30 * time.Millisecond})
	if rd := rep.Readable; rd == nil || rd.Timeouts != 2 || rd.Latency.Count != 0 {
		t.Errorf("readable %+v, want 2 timeouts", rd)
	}
}

func TestConfigErrorsSayWhatToFix(t *testing.T) {
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{URL: "127.0.0.1:8080", Token: "x", Requests: 1}, "want a base URL"},
		{Config{URL: "http://127.0.0.1:1", Requests: 1}, "no ingest token"},
		{Config{URL: "http://127.0.0.1:1", Token: "x"}, "give a duration or a number of requests"},
		{Config{URL: "http://127.0.0.1:1", Token: "x", Requests: 1, Format: "zeek"}, "want generic or suricata"},
		{Config{URL: "http://127.0.0.1:1", Target: "prometheus", Requests: 1}, "want warroom or alertmanager"},
		{Config{URL: "http://127.0.0.1:1", Token: "x", Requests: 1, ReadableSample: 3}, "needs an API token"},
		{Config{URL: "http://127.0.0.1:1", Target: TargetAlertmanager, Requests: 1, ReadableSample: 3}, "needs the warroom target"},
	}
	for _, c := range cases {
		_, err := Run(context.Background(), c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Run(%+v) = %v, want an error containing %q", c.cfg, err, c.want)
		}
	}
}

func TestPrintGivesOneMetricPerLine(t *testing.T) {
	r := &Report{Target: TargetWarroom, URL: "http://127.0.0.1:8080", Source: "generic", Format: FormatGeneric,
		Concurrency: 16, Batch: 1, ElapsedSec: 2, Requests: 10, OK: 9, Alerts: 9, AlertsPerSec: 4.5,
		Errors: map[string]int64{"503": 1}, Readable: &Readable{}}
	var b strings.Builder
	if err := r.Print(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"alerts/s               4\n", "latency p99", "errors                 503=1\n", "readable p99"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}
