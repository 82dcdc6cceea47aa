package connectors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/warroom/warroom/internal/clock"
)

// BreakerConfig tunes a circuit breaker. The zero value of a field means its default.
type BreakerConfig struct {
	// Failures is how many consecutive retryable failures open the circuit (default 5).
	Failures int `yaml:"failures"`
	// Cooldown is how long the circuit stays open before one probe call is let through
	// (default 30s).
	Cooldown time.Duration `yaml:"cooldown"`
}

// DefaultBreakerConfig returns the default breaker settings.
func DefaultBreakerConfig() BreakerConfig {
	return BreakerConfig{Failures: 5, Cooldown: 30 * time.Second}
}

// Validate checks the settings.
func (c BreakerConfig) Validate() error {
	switch {
	case c.Failures < 0:
		return fmt.Errorf("breaker.failures: %d is negative", c.Failures)
	case c.Cooldown < 0:
		return fmt.Errorf("breaker.cooldown: %s is negative", c.Cooldown)
	}
	return nil
}

// BreakerState is the state of a circuit breaker.
type BreakerState int8

// Breaker states.
const (
	Closed   BreakerState = iota // calls go through
	Open                         // calls fail fast until the cooldown ends
	HalfOpen                     // one probe call goes through; its outcome closes or reopens
)

// String renders closed, open or half-open.
func (s BreakerState) String() string {
	switch s {
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return "closed"
}

// ErrOpen is wrapped by the error a breaker returns while it refuses calls. That error
// is Temporary with a RetryAfter of the remaining cooldown, so Do waits for the probe
// when the deadline allows and gives up at once otherwise.
var ErrOpen = errors.New("circuit breaker is open")

// Breaker is a circuit breaker for one connector: closed → open after N consecutive
// retryable failures → half-open after the cooldown, where one probe decides. Only
// retryable failures count: a permanent error (a 4xx, a refusal) shows the connector's
// target is answering. Time comes from the injected clock.
type Breaker struct {
	name  string
	cfg   BreakerConfig
	clock clock.Clock

	mu       sync.Mutex
	state    BreakerState
	failures int
	openedAt time.Time
	probing  bool
}

// NewBreaker returns a closed breaker for the connector called name.
func NewBreaker(name string, cfg BreakerConfig, clk clock.Clock) *Breaker {
	d := DefaultBreakerConfig()
	if cfg.Failures == 0 {
		cfg.Failures = d.Failures
	}
	if cfg.Cooldown == 0 {
		cfg.Cooldown = d.Cooldown
	}
	if clk == nil {
		clk = clock.Real{}
	}
	return &Breaker{name: name, cfg: cfg, clock: clk}
}

// State returns the current state; an open breaker whose cooldown has ended reads as
// half-open.
func (b *Breaker) State() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == Open && !b.clock.Now().Before(b.openedAt.Add(b.cfg.Cooldown)) {
		return HalfOpen
	}
	return b.state
}

// Allow asks to make one call. On success it returns done, which must be called with
// the call's error (nil on success) to record the outcome.
func (b *Breaker) Allow() (done func(error), err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock.Now()
	if b.state == Open {
		until := b.openedAt.Add(b.cfg.Cooldown)
		if now.Before(until) {
			wait := until.Sub(now)
			return nil, TemporaryAfter(fmt.Errorf("connector %q: %w after %d consecutive failures; next probe in %s", b.name, ErrOpen, b.failures, FormatDuration(wait)), wait)
		}
		b.state = HalfOpen
	}
	if b.state == HalfOpen {
		if b.probing {
			return nil, TemporaryAfter(fmt.Errorf("connector %q: %w; a probe call is in flight", b.name, ErrOpen), b.cfg.Cooldown)
		}
		b.probing = true
	}
	var once sync.Once
	return func(err error) { once.Do(func() { b.record(err) }) }, nil
}

func (b *Breaker) record(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	wasProbe := b.state == HalfOpen && b.probing
	if wasProbe {
		b.probing = false
	}
	if errors.Is(err, context.Canceled) {
		return // the caller gave up; says nothing about the connector
	}
	if err == nil || !Retryable(err) {
		b.state = Closed
		b.failures = 0
		return
	}
	b.failures++
	if wasProbe || b.failures >= b.cfg.Failures {
		b.state = Open
		b.openedAt = b.clock.Now()
	}
}

// Do runs fn through the breaker.
func (b *Breaker) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	done, err := b.Allow()
	if err != nil {
		return err
	}
	err = fn(ctx)
	done(err)
	return err
}
