package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// sampler picks which accepted requests to follow: evenly over the requests when the
// phase is a count, evenly over time when it is a duration.
type sampler struct {
	limit int64
	taken atomic.Int64

	every int64 // count mode: every n-th 202
	seen  atomic.Int64

	interval time.Duration // duration mode
	next     atomic.Int64  // unix nanos of the next sample
}

func newSampler(cfg *Config) *sampler {
	s := &sampler{limit: int64(cfg.ReadableSample)}
	if cfg.Duration == 0 {
		s.every = max(1, int64(cfg.Requests/cfg.ReadableSample))
		return s
	}
	s.interval = max(time.Millisecond, cfg.Duration/time.Duration(cfg.ReadableSample))
	s.next.Store(cfg.Clock.Now().UnixNano())
	return s
}

// take reports whether the request answered at t is sampled.
func (s *sampler) take(t time.Time) bool {
	if s.taken.Load() >= s.limit {
		return false
	}
	if s.every > 0 {
		if (s.seen.Add(1)-1)%s.every != 0 {
			return false
		}
	} else {
		// Advance from the scheduled time, not from t, so the samples keep to the
		// schedule and their number to the limit.
		next := s.next.Load()
		if t.UnixNano() < next || !s.next.CompareAndSwap(next, next+int64(s.interval)) {
			return false
		}
	}
	return s.taken.Add(1) <= s.limit
}

// probe is one sampled request: its first alert and when its 202 arrived.
type probe struct {
	alertID int64
	at      time.Time
}

// prober follows sampled alerts on connections of its own, so that polling does not
// queue behind the load.
type prober struct {
	cfg    *Config
	client *http.Client
	ch     chan probe
	wg     sync.WaitGroup

	mu       sync.Mutex
	delays   []time.Duration
	timeouts int
	failures int
	retried  int
	dropped  atomic.Int64
}

// probers is how many sampled requests are followed at once.
const probers = 4

// pollEvery is the pause between two reads of a sampled alert that is not readable yet.
const pollEvery = time.Millisecond

func newProber(cfg *Config) *prober {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: probers,
		DisableCompression:  true,
	}
	p := &prober{
		cfg:    cfg,
		client: &http.Client{Transport: tr, Timeout: cfg.ReadableTimeout},
		ch:     make(chan probe, cfg.ReadableSample),
	}
	for range probers {
		p.wg.Go(func() {
			for pr := range p.ch {
				d, polls, err := p.follow(pr)
				p.mu.Lock()
				if polls > 2 {
					p.retried++
				}
				switch {
				case errors.Is(err, errTimeout):
					p.timeouts++
				case err != nil:
					p.failures++
				default:
					p.delays = append(p.delays, d)
				}
				p.mu.Unlock()
			}
		})
	}
	return p
}

func (p *prober) submit(id int64, at time.Time) {
	select {
	case p.ch <- probe{id, at}:
	default:
		p.dropped.Add(1)
	}
}

// finish waits for the samples in hand and summarizes them.
func (p *prober) finish() *Readable {
	close(p.ch)
	p.wg.Wait()
	p.client.CloseIdleConnections()
	return &Readable{Latency: Summarize(p.delays), Timeouts: p.timeouts, Failures: p.failures, Retried: p.retried,
		Dropped: int(p.dropped.Load())}
}

var errTimeout = errors.New("not readable in time")

// follow polls the alert until it carries an incident id, then reads that incident,
// and returns the time from the 202 to the incident's 200 and the number of reads.
func (p *prober) follow(pr probe) (time.Duration, int, error) {
	deadline := pr.at.Add(p.cfg.ReadableTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.ReadableTimeout)
	defer cancel()
	alertURL := fmt.Sprintf("%s/api/v1/alerts/%d", p.cfg.URL, pr.alertID)
	var incident int64
	polls := 0
	for incident == 0 {
		var a struct {
			IncidentID *int64 `json:"incident_id"`
		}
		code, err := p.get(ctx, alertURL, &a)
		polls++
		switch {
		case err != nil:
			return 0, polls, err
		case code == http.StatusOK && a.IncidentID != nil:
			incident = *a.IncidentID
			continue
		case code != http.StatusOK && code != http.StatusNotFound:
			return 0, polls, fmt.Errorf("GET alert %d: status %d", pr.alertID, code)
		}
		if !p.cfg.Clock.Now().Before(deadline) {
			return 0, polls, errTimeout
		}
		pause(ctx, pollEvery)
	}
	incURL := fmt.Sprintf("%s/api/v1/incidents/%d", p.cfg.URL, incident)
	for {
		code, err := p.get(ctx, incURL, nil)
		polls++
		switch {
		case err != nil:
			return 0, polls, err
		case code == http.StatusOK:
			return p.cfg.Clock.Now().Sub(pr.at), polls, nil
		case code != http.StatusNotFound:
			return 0, polls, fmt.Errorf("GET incident %d: status %d", incident, code)
		}
		if !p.cfg.Clock.Now().Before(deadline) {
			return 0, polls, errTimeout
		}
		pause(ctx, pollEvery)
	}
}

func (p *prober) get(ctx context.Context, u string, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+p.cfg.APIToken)
	res, err := p.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, errTimeout
		}
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || out == nil {
		_, err = io.Copy(io.Discard, res.Body)
		return res.StatusCode, err
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		return 0, fmt.Errorf("decode %s: %w", u, err)
	}
	return res.StatusCode, nil
}
