package connectors

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/warroom/warroom/internal/clock"
)

// Policy says how Do retries. The zero value of a field means its default.
type Policy struct {
	// Attempts is the total number of tries, the first included (default 5).
	Attempts int `yaml:"attempts"`
	// Initial is the wait after the first failure (default 200ms).
	Initial time.Duration `yaml:"initial"`
	// Max caps the exponential wait (default 10s). A Retry-After hint may exceed it.
	Max time.Duration `yaml:"max"`
	// Multiplier grows the wait after each failure (default 2).
	Multiplier float64 `yaml:"multiplier"`
	// Jitter is the share of each wait that is randomised, in [0,1] (default 0.2): a
	// wait w becomes a random value in [w·(1-Jitter), w], so callers failing together
	// do not retry together.
	Jitter float64 `yaml:"jitter"`

	// Clock, Wait and Rand replace the wall clock, the timer and the random source
	// (tests use them to run without sleeping); nil means the real ones.
	Clock clock.Clock                                      `yaml:"-"`
	Wait  func(ctx context.Context, d time.Duration) error `yaml:"-"`
	Rand  func() float64                                   `yaml:"-"`
}

// DefaultPolicy returns the default retry policy.
func DefaultPolicy() Policy {
	return Policy{Attempts: 5, Initial: 200 * time.Millisecond, Max: 10 * time.Second, Multiplier: 2, Jitter: 0.2}
}

func (p Policy) withDefaults() Policy {
	d := DefaultPolicy()
	if p.Attempts == 0 {
		p.Attempts = d.Attempts
	}
	if p.Initial == 0 {
		p.Initial = d.Initial
	}
	if p.Max == 0 {
		p.Max = d.Max
	}
	if p.Multiplier == 0 {
		p.Multiplier = d.Multiplier
	}
	if p.Jitter == 0 {
		p.Jitter = d.Jitter
	}
	if p.Clock == nil {
		p.Clock = clock.Real{}
	}
	if p.Wait == nil {
		p.Wait = Sleep
	}
	if p.Rand == nil {
		p.Rand = rand.Float64
	}
	return p
}

// Validate checks the policy's fields.
func (p Policy) Validate() error {
	switch {
	case p.Attempts < 0:
		return fmt.Errorf("retry.attempts: %d is negative; use 1 for no retries", p.Attempts)
	case p.Initial < 0:
		return fmt.Errorf("retry.initial: %s is negative", p.Initial)
	case p.Max < 0:
		return fmt.Errorf("retry.max: %s is negative", p.Max)
	case p.Max != 0 && p.Initial > p.Max:
		return fmt.Errorf("retry.initial: %s exceeds retry.max %s", p.Initial, p.Max)
	case p.Multiplier != 0 && p.Multiplier < 1:
		return fmt.Errorf("retry.multiplier: %g is below 1; waits must not shrink", p.Multiplier)
	case p.Jitter < 0 || p.Jitter > 1:
		return fmt.Errorf("retry.jitter: %g is outside [0, 1]", p.Jitter)
	}
	return nil
}

// Backoff returns the wait after failed attempt n (1-based), before jitter.
func (p Policy) Backoff(n int) time.Duration {
	p = p.withDefaults()
	w := float64(p.Initial) * math.Pow(p.Multiplier, float64(n-1))
	if w > float64(p.Max) || math.IsInf(w, 0) || math.IsNaN(w) {
		return p.Max
	}
	return time.Duration(w)
}

// ErrDeadline is wrapped when Do stops because the next attempt would start after the
// context's deadline.
var ErrDeadline = errors.New("the next attempt would pass the deadline")

// Do calls fn until it succeeds, fails with an error that is not Retryable, runs out of
// attempts, or the next wait would pass ctx's deadline. Waits grow exponentially with
// jitter and honour RetryAfter hints. This is the only place warroom retries a
// connector call. The returned error wraps the last one, so it keeps its
// classification; it also wraps ErrDeadline or the context's error when those stopped
// the retries.
func Do(ctx context.Context, p Policy, fn func(ctx context.Context) error) error {
	p = p.withDefaults()
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if !Retryable(err) {
			if attempt == 1 {
				return err
			}
			return fmt.Errorf("attempt %d: %w", attempt, err)
		}
		if attempt >= p.Attempts {
			return fmt.Errorf("gave up after %d attempts: %w", attempt, err)
		}
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("gave up after %d attempts (%w): %w", attempt, cerr, err)
		}
		wait := p.Backoff(attempt)
		if p.Jitter > 0 {
			wait -= time.Duration(float64(wait) * p.Jitter * p.Rand())
		}
		if ra, ok := RetryAfter(err); ok && ra > wait {
			wait = ra
		}
		if dl, ok := ctx.Deadline(); ok && p.Clock.Now().Add(wait).After(dl) {
			return fmt.Errorf("gave up after %d attempts, %w (wait %s): %w", attempt, ErrDeadline, FormatDuration(wait), err)
		}
		if werr := p.Wait(ctx, wait); werr != nil {
			return fmt.Errorf("gave up after %d attempts (%w): %w", attempt, werr, err)
		}
	}
}

// Sleep waits d, or until ctx is done (its error is returned): the default
// Policy.Wait, and the pause between polls of a vendor's job or state.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
