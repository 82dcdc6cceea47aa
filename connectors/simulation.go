package connectors

import (
	"strings"
	"sync"
	"time"

	"github.com/warroom/warroom/internal/clock"
)

// Simulation stands in for the enforcement point of a connector in dry-run mode: it
// records what would have changed and remembers the simulated state, so Verify and
// Revert behave as they would for real (a drill can run the whole action life cycle)
// while nothing outside warroom changes. Results and verifications carry DryRun=true.
type Simulation struct {
	clock   clock.Clock
	mu      sync.Mutex
	present map[string]time.Time // simulated entries → expiry (zero: none)
	records []Record
}

// Record is one simulated change.
type Record struct {
	At      time.Time
	Op      string // "execute" or "revert"
	Request Request
	Diff    Diff
	Changed bool
}

// NewSimulation returns an empty simulation on clock clk.
func NewSimulation(clk clock.Clock) *Simulation {
	if clk == nil {
		clk = clock.Real{}
	}
	return &Simulation{clock: clk, present: map[string]time.Time{}}
}

// simKey groups a request with its inverse: block_ip and unblock_ip of one prefix share
// a key, as do isolate_host and release_host of one host.
func simKey(req Request) string {
	switch {
	case req.Kind.NeedsIP():
		return "ip:" + req.Target.Prefix.String()
	case req.Kind.NeedsHost():
		return "host:" + strings.ToLower(req.Target.String())
	}
	return string(req.Kind) + ":" + req.IdempotencyKey
}

// adds reports whether the kind puts something in place (as opposed to removing it).
func adds(k ActionKind) bool { return k != UnblockIP && k != ReleaseHost }

// Execute records req as if applied; diff is the connector's preview of it.
func (s *Simulation) Execute(req Request, diff Diff) Result {
	return s.apply("execute", req, diff, adds(req.Kind))
}

// Revert records the undoing of req.
func (s *Simulation) Revert(req Request, diff Diff) Result {
	return s.apply("revert", req, diff, !adds(req.Kind))
}

func (s *Simulation) apply(op string, req Request, diff Diff, add bool) Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	key := simKey(req)
	was := s.live(key, now)
	var exp time.Time
	if add {
		if req.TTL > 0 {
			exp = now.Add(req.TTL)
		}
		s.present[key] = exp
	} else {
		delete(s.present, key)
	}
	changed := was != add
	s.records = append(s.records, Record{At: now, Op: op, Request: req, Diff: diff, Changed: changed})
	detail := "dry run: would " + strings.Join(diff.Changes, "; ")
	if len(diff.Changes) == 0 {
		detail = "dry run: nothing to change"
	}
	return Result{Changed: changed, DryRun: true, Detail: detail, ExpiresAt: exp}
}

func (s *Simulation) live(key string, now time.Time) bool {
	exp, ok := s.present[key]
	if ok && !exp.IsZero() && !now.Before(exp) {
		delete(s.present, key)
		return false
	}
	return ok
}

// Verify answers from the simulated state.
func (s *Simulation) Verify(req Request) Verification {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	key := simKey(req)
	present := s.live(key, now)
	v := Verification{DryRun: true, CheckedAt: now, ExpiresAt: s.present[key]}
	v.InPlace = present == adds(req.Kind)
	if present {
		v.Detail = "dry run: " + req.Target.String() + " is recorded (not applied)"
	} else {
		v.Detail = "dry run: " + req.Target.String() + " is not recorded"
	}
	return v
}

// Records returns the simulated changes in order.
func (s *Simulation) Records() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Record(nil), s.records...)
}
