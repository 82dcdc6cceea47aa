// Package loadgen is warroom's load generator: it posts distinct, realistic alerts over
// keep-alive connections at a given concurrency and batch size, for a duration or a
// number of requests, and reports alerts/s, requests/s, latency percentiles and errors
// by status code. It drives either warroom's ingest endpoint (generic JSON or Suricata
// EVE NDJSON bodies) or Prometheus Alertmanager's /api/v2/alerts with the same alerts,
// so the two can be compared on one machine. Against warroom it can also measure, for a
// sample of requests, the time from the 202 to the alert's incident being readable
// through the API.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warroom/warroom/internal/clock"
)

// Target is the kind of server under load.
type Target string

// Targets.
const (
	TargetWarroom      Target = "warroom"      // POST {url}/api/v1/ingest/{source}
	TargetAlertmanager Target = "alertmanager" // POST {url}/api/v2/alerts
)

// Format is the body format sent to warroom.
type Format string

// Formats.
const (
	FormatGeneric  Format = "generic"  // warroom's generic JSON alert, an object or an array
	FormatSuricata Format = "suricata" // Suricata EVE JSON alerts, one per line
)

// Config describes one load run.
type Config struct {
	Target Target
	URL    string // base URL, e.g. http://127.0.0.1:8080
	Source string // warroom source name; default: the format's name
	Format Format // warroom only; default generic
	Token  string // warroom ingest bearer token
	// APIToken reads alerts and incidents back for ReadableSample.
	APIToken string

	Concurrency int           // connections, one goroutine each; default 16
	Batch       int           // alerts per request; default 1
	Duration    time.Duration // length of the measured phase; 0 with Requests = no time limit
	Requests    int           // requests in the measured phase; 0 = until Duration
	Warmup      time.Duration // load sent before measuring, not counted

	Incidents int // campaigns the alerts group into; default 10
	Victims   int // hosts per campaign; default 4
	// Repeat sends the same few hundred alerts over and over instead of distinct ones:
	// Alertmanager's everyday traffic (Prometheus re-sends firing alerts at every
	// evaluation), and duplicates for warroom.
	Repeat bool
	// Severity, when set, is the severity of every alert instead of its campaign's
	// (generic format only): "low" keeps incidents below the room threshold, so a run
	// measures correlation and storage with many open incidents rather than the chat
	// rooms that many notifiable incidents would open.
	Severity string

	// ReadableSample is how many requests of the measured phase to follow until their
	// first alert's incident can be read through the API (warroom only; 0 = none).
	ReadableSample  int
	ReadableTimeout time.Duration // per sampled request; default 5s

	RequestTimeout time.Duration // per request; default 30s
	Nonce          int           // tells this run's alerts from other runs'; default from the clock
	Clock          clock.Clock   // default: the wall clock
}

func (c *Config) normalize() error {
	if c.Target == "" {
		c.Target = TargetWarroom
	}
	if c.Target != TargetWarroom && c.Target != TargetAlertmanager {
		return fmt.Errorf("target %q: want warroom or alertmanager", c.Target)
	}
	if c.Format == "" {
		c.Format = FormatGeneric
	}
	if c.Format != FormatGeneric && c.Format != FormatSuricata {
		return fmt.Errorf("format %q: want generic or suricata", c.Format)
	}
	if c.Source == "" {
		c.Source = string(c.Format)
	}
	switch c.Severity {
	case "", "critical", "high", "medium", "low", "info":
	default:
		return fmt.Errorf("severity %q: want critical, high, medium, low or info", c.Severity)
	}
	if c.Severity != "" && (c.Target != TargetWarroom || c.Format != FormatGeneric) {
		return errors.New("severity: only for the generic format sent to warroom")
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url %q: want a base URL like http://127.0.0.1:8080", c.URL)
	}
	c.URL = strings.TrimRight(c.URL, "/")
	if c.Concurrency == 0 {
		c.Concurrency = 16
	}
	if c.Batch == 0 {
		c.Batch = 1
	}
	if c.Incidents == 0 {
		c.Incidents = 10
	}
	if c.Victims == 0 {
		c.Victims = 4
	}
	switch {
	case c.Concurrency < 1 || c.Concurrency > 4096:
		return fmt.Errorf("concurrency %d: want 1 to 4096", c.Concurrency)
	case c.Batch < 1 || c.Batch > 100000:
		return fmt.Errorf("batch %d: want 1 to 100000", c.Batch)
	case c.Incidents < 1 || c.Victims < 1:
		return errors.New("incidents and victims must be at least 1")
	case c.Duration < 0 || c.Requests < 0 || c.Warmup < 0 || c.ReadableSample < 0:
		return errors.New("duration, requests, warmup and readable sample cannot be negative")
	case c.Duration == 0 && c.Requests == 0:
		return errors.New("give a duration or a number of requests, or both")
	case c.Target == TargetWarroom && c.Token == "":
		return errors.New("no ingest token: warroom answers 401 without one")
	case c.ReadableSample > 0 && c.Target != TargetWarroom:
		return errors.New("the readable sample needs the warroom target")
	case c.ReadableSample > 0 && c.APIToken == "":
		return errors.New("the readable sample needs an API token to read alerts and incidents")
	}
	if c.ReadableTimeout == 0 {
		c.ReadableTimeout = 5 * time.Second
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.Nonce == 0 {
		c.Nonce = int(c.Clock.Now().UnixNano()/1e6%99999) + 1
	}
	c.Nonce %= 100000
	return nil
}

// Report is the outcome of the measured phase.
type Report struct {
	Target      Target        `json:"target"`
	URL         string        `json:"url"`
	Format      Format        `json:"format,omitempty"`
	Source      string        `json:"source,omitempty"`
	Concurrency int           `json:"concurrency"`
	Batch       int           `json:"batch"`
	Incidents   int           `json:"incidents"`
	Repeat      bool          `json:"repeat,omitempty"`
	Elapsed     time.Duration `json:"-"`
	ElapsedSec  float64       `json:"elapsed_s"`

	Requests int64 `json:"requests"`    // completed with any HTTP status
	OK       int64 `json:"ok_requests"` // completed with a 2xx
	Alerts   int64 `json:"alerts"`      // alerts in OK requests

	AlertsPerSec   float64 `json:"alerts_per_s"`   // Alerts / Elapsed
	RequestsPerSec float64 `json:"requests_per_s"` // OK / Elapsed
	Latency        Latency `json:"latency"`        // of OK requests, send to body read

	// Errors counts failed requests by status code; "transport" is a connection error,
	// a timeout or an answer that is not HTTP; TransportError is the first of those.
	Errors         map[string]int64 `json:"errors"`
	TransportError string           `json:"transport_error,omitempty"`

	// Accepted, Duplicates and Rejected add up warroom's 202 answers.
	Accepted   int64 `json:"accepted,omitempty"`
	Duplicates int64 `json:"duplicates,omitempty"`
	Rejected   int64 `json:"rejected,omitempty"`

	Readable *Readable `json:"readable,omitempty"`
}

// Readable is the time from a 202 to the first alert's incident answering 200 through
// the API, over the sampled requests.
type Readable struct {
	Latency  Latency `json:"latency"`
	Timeouts int     `json:"timeouts"` // not readable within ReadableTimeout
	Failures int     `json:"failures"` // the API answered an error
	// Retried counts samples not readable at the first try: the alert had no incident
	// yet, or the incident was not found. The rest were readable as soon as the 202
	// arrived, and their delay is the time the two reads took.
	Retried int `json:"retried"`
	Dropped int `json:"dropped"` // sampled while every prober was busy
}

// ErrNothingSucceeded is returned with the report when no request got a 2xx.
var ErrNothingSucceeded = errors.New("no request succeeded")

// Run sends the load and reports on the measured phase. It returns the report with an
// error wrapping ErrNothingSucceeded if every request failed.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	g, err := newGenerator(&cfg)
	if err != nil {
		return nil, err
	}
	defer g.close()
	if cfg.Warmup > 0 {
		if err := g.phase(ctx, cfg.Warmup, 0, false); err != nil {
			return nil, err
		}
	}
	var pr *prober
	if cfg.ReadableSample > 0 {
		pr = newProber(&cfg)
		g.prober = pr
		g.sampler = newSampler(&cfg)
	}
	start := cfg.Clock.Now()
	err = g.phase(ctx, cfg.Duration, int64(cfg.Requests), true)
	elapsed := cfg.Clock.Now().Sub(start)
	if err != nil {
		return nil, err
	}
	rep := g.report(elapsed)
	if pr != nil {
		rep.Readable = pr.finish()
	}
	if rep.OK == 0 && rep.Requests+rep.Errors["transport"] > 0 {
		return rep, fmt.Errorf("%w: %s", ErrNothingSucceeded, hint(&cfg, rep))
	}
	return rep, nil
}

func hint(cfg *Config, rep *Report) string {
	errs := rep.Errors
	parts := make([]string, 0, len(errs))
	for k, v := range errs {
		parts = append(parts, fmt.Sprintf("%s×%d", k, v))
	}
	sort.Strings(parts)
	s := strings.Join(parts, ", ")
	switch {
	case errs["401"] > 0:
		s += "; the server refused the ingest token: pass the one the server was started with"
	case errs["404"] > 0 && cfg.Target == TargetWarroom:
		s += fmt.Sprintf("; no source %q on the server: pass a source name from its configuration", cfg.Source)
	case errs["415"] > 0:
		s += fmt.Sprintf("; source %q does not take format %s: pick the source configured for it", cfg.Source, cfg.Format)
	case errs["transport"] > 0:
		s += "; is the server listening at " + cfg.URL + "? The first: " + rep.TransportError
	}
	return s
}

// generator holds what the workers share.
type generator struct {
	cfg      *Config
	posters  []*poster // one per worker, kept from phase to phase
	endpoint string
	payloads *payloads
	seq      atomic.Int64 // next alert sequence number
	reqSeq   atomic.Int64 // next request sequence number
	prober   *prober
	sampler  *sampler

	mu     sync.Mutex
	merged workerStats
}

func newGenerator(cfg *Config) (*generator, error) {
	g := &generator{cfg: cfg}
	if cfg.Target == TargetAlertmanager {
		g.endpoint = cfg.URL + "/api/v2/alerts"
	} else {
		g.endpoint = cfg.URL + "/api/v1/ingest/" + url.PathEscape(cfg.Source)
	}
	// Built once with the payloads' content type; every request sends the same headers.
	base := cfg.Clock.Now().Add(-time.Second).Truncate(time.Second)
	g.payloads = buildPayloads(cfg, base, cfg.Nonce)
	headers := []string{"Content-Type: " + g.payloads.contentType}
	if cfg.Target == TargetWarroom {
		headers = append(headers, "Authorization: Bearer "+cfg.Token)
	}
	for range cfg.Concurrency {
		p, err := newPoster(g.endpoint, headers, cfg.RequestTimeout)
		if err != nil {
			return nil, fmt.Errorf("url %q: %w", cfg.URL, err)
		}
		g.posters = append(g.posters, p)
	}
	g.merged.errors = map[string]int64{}
	return g, nil
}

// close ends the workers' connections.
func (g *generator) close() {
	for _, p := range g.posters {
		p.close()
	}
}

type workerStats struct {
	latencies                      []time.Duration
	requests, ok, alerts           int64
	accepted, duplicates, rejected int64
	errors                         map[string]int64
	transportErr                   string // the first transport error
}

// phase runs the workers until d has passed (if d > 0) and n requests were sent (if n > 0),
// whichever comes first, recording statistics if record is set.
func (g *generator) phase(ctx context.Context, d time.Duration, n int64, record bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var deadline time.Time
	if d > 0 {
		deadline = g.cfg.Clock.Now().Add(d)
	}
	var tickets atomic.Int64
	var wg sync.WaitGroup
	for _, p := range g.posters {
		wg.Go(func() {
			st := workerStats{errors: map[string]int64{}}
			p.reset()
			stop := context.AfterFunc(ctx, p.abort)
			g.work(ctx, p, deadline, n, &tickets, record, &st)
			stop()
			if record {
				g.mu.Lock()
				g.merged.merge(&st)
				g.mu.Unlock()
			}
		})
	}
	wg.Wait()
	return ctx.Err()
}

func (s *workerStats) merge(o *workerStats) {
	s.latencies = append(s.latencies, o.latencies...)
	s.requests += o.requests
	s.ok += o.ok
	s.alerts += o.alerts
	s.accepted += o.accepted
	s.duplicates += o.duplicates
	s.rejected += o.rejected
	for k, v := range o.errors {
		s.errors[k] += v
	}
	if s.transportErr == "" {
		s.transportErr = o.transportErr
	}
}

// ingestAnswer is the part of warroom's 202 the generator reads.
type ingestAnswer struct {
	Accepted   int64             `json:"accepted"`
	AlertIDs   []int64           `json:"alert_ids"`
	Rejected   []json.RawMessage `json:"rejected"`
	Duplicates int64             `json:"duplicates"`
}

func (g *generator) work(ctx context.Context, p *poster, deadline time.Time, n int64, tickets *atomic.Int64, record bool, st *workerStats) {
	cfg := g.cfg
	batch := int64(cfg.Batch)
	var body []byte
	var resp bytes.Buffer
	for ctx.Err() == nil {
		if !deadline.IsZero() && !cfg.Clock.Now().Before(deadline) {
			return
		}
		if n > 0 && tickets.Add(1) > n {
			return
		}
		reqSeq := g.reqSeq.Add(1) - 1
		first := g.seq.Add(batch) - batch
		if cfg.Repeat {
			first = reqSeq % int64(len(g.payloads.bodies)) * batch
		}
		body = g.payloads.render(body, reqSeq, first)
		t0 := cfg.Clock.Now()
		code, err := p.post(ctx, body, &resp)
		t1 := cfg.Clock.Now()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if record {
				st.errors["transport"]++
				if st.transportErr == "" {
					st.transportErr = err.Error()
				}
			}
			pause(ctx, 10*time.Millisecond) // do not spin on a dead server
			continue
		}
		if !record {
			continue
		}
		st.requests++
		if code/100 != 2 {
			st.errors[strconv.Itoa(code)]++
			continue
		}
		st.ok++
		st.alerts += batch
		st.latencies = append(st.latencies, t1.Sub(t0))
		if cfg.Target != TargetWarroom {
			continue
		}
		var ans ingestAnswer
		if err := json.Unmarshal(resp.Bytes(), &ans); err != nil {
			st.errors["bad-answer"]++
			continue
		}
		st.accepted += ans.Accepted
		st.duplicates += ans.Duplicates
		st.rejected += int64(len(ans.Rejected))
		if g.sampler != nil && len(ans.AlertIDs) > 0 && g.sampler.take(t1) {
			g.prober.submit(ans.AlertIDs[0], t1)
		}
	}
}

func (g *generator) report(elapsed time.Duration) *Report {
	cfg := g.cfg
	m := &g.merged
	r := &Report{
		Target: cfg.Target, URL: cfg.URL, Concurrency: cfg.Concurrency, Batch: cfg.Batch,
		Incidents: cfg.Incidents, Repeat: cfg.Repeat, Elapsed: elapsed, ElapsedSec: elapsed.Seconds(),
		Requests: m.requests, OK: m.ok, Alerts: m.alerts,
		Latency: Summarize(m.latencies), Errors: m.errors,
		Accepted: m.accepted, Duplicates: m.duplicates, Rejected: m.rejected, TransportError: m.transportErr,
	}
	if cfg.Target == TargetWarroom {
		r.Format, r.Source = cfg.Format, cfg.Source
	}
	if s := elapsed.Seconds(); s > 0 {
		r.AlertsPerSec = float64(m.alerts) / s
		r.RequestsPerSec = float64(m.ok) / s
	}
	return r
}

// pause waits d or until ctx is done.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Print writes the report one metric per line.
func (r *Report) Print(w io.Writer) error {
	var b strings.Builder
	line := func(k, f string, a ...any) { fmt.Fprintf(&b, "%-22s "+f+"\n", append([]any{k}, a...)...) }
	what := string(r.Target)
	if r.Target == TargetWarroom {
		what += fmt.Sprintf(" (source %s, format %s)", r.Source, r.Format)
	}
	line("target", "%s", what)
	line("url", "%s", r.URL)
	line("concurrency", "%d", r.Concurrency)
	line("batch", "%d", r.Batch)
	line("incidents", "%d", r.Incidents)
	if r.Repeat {
		line("alerts sent", "repeated (the same alerts over and over)")
	}
	line("elapsed", "%.2fs", r.ElapsedSec)
	line("requests", "%d (%d ok)", r.Requests, r.OK)
	line("alerts", "%d", r.Alerts)
	line("alerts/s", "%.0f", r.AlertsPerSec)
	line("requests/s", "%.0f", r.RequestsPerSec)
	line("latency mean", "%s", fmtDur(r.Latency.Mean))
	line("latency p50", "%s", fmtDur(r.Latency.P50))
	line("latency p90", "%s", fmtDur(r.Latency.P90))
	line("latency p99", "%s", fmtDur(r.Latency.P99))
	line("latency max", "%s", fmtDur(r.Latency.Max))
	line("errors", "%s", fmtErrors(r.Errors))
	if r.TransportError != "" {
		line("first transport error", "%s", r.TransportError)
	}
	if r.Target == TargetWarroom {
		line("accepted", "%d", r.Accepted)
		line("duplicates", "%d", r.Duplicates)
		line("rejected", "%d", r.Rejected)
	}
	if rd := r.Readable; rd != nil {
		line("readable samples", "%d (not readable at once %d, timeouts %d, failures %d, dropped %d)",
			rd.Latency.Count, rd.Retried, rd.Timeouts, rd.Failures, rd.Dropped)
		line("readable p50", "%s", fmtDur(rd.Latency.P50))
		line("readable p90", "%s", fmtDur(rd.Latency.P90))
		line("readable p99", "%s", fmtDur(rd.Latency.P99))
		line("readable max", "%s", fmtDur(rd.Latency.Max))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func fmtDur(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d)/1e6) }

func fmtErrors(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
