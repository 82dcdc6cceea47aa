package connectors

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/warroom/warroom/internal/clock"
)

func TestBreaker(t *testing.T) {
	boom := Temporary(errors.New("unreachable"))
	denied := Permanent(errors.New("403"))
	type step struct {
		advance   time.Duration
		call      error // outcome of the call when let through
		wantState BreakerState
		wantOpen  bool // the call was refused with ErrOpen
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"successes keep it closed", []step{{call: nil, wantState: Closed}, {call: nil, wantState: Closed}}},
		{"opens after 3 consecutive failures", []step{
			{call: boom, wantState: Closed}, {call: boom, wantState: Closed}, {call: boom, wantState: Open},
			{wantOpen: true, wantState: Open},
		}},
		{"a success resets the count", []step{
			{call: boom}, {call: boom}, {call: nil}, {call: boom}, {call: boom, wantState: Closed},
		}},
		{"permanent errors do not count", []step{
			{call: denied}, {call: denied}, {call: denied}, {call: denied, wantState: Closed},
		}},
		{"half-open after cooldown, probe success closes", []step{
			{call: boom}, {call: boom}, {call: boom, wantState: Open},
			{advance: 9 * time.Second, wantOpen: true, wantState: Open},
			{advance: time.Second, call: nil, wantState: Closed},
			{call: nil, wantState: Closed},
		}},
		{"probe failure reopens for a fresh cooldown", []step{
			{call: boom}, {call: boom}, {call: boom, wantState: Open},
			{advance: 10 * time.Second, call: boom, wantState: Open},
			{advance: 9 * time.Second, wantOpen: true, wantState: Open},
			{advance: time.Second, call: nil, wantState: Closed},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
			b := NewBreaker("edge", BreakerConfig{Failures: 3, Cooldown: 10 * time.Second}, clk)
			for i, s := range tt.steps {
				clk.Advance(s.advance)
				called := false
				err := b.Do(context.Background(), func(context.Context) error { called = true; return s.call })
				if s.wantOpen {
					if called || !errors.Is(err, ErrOpen) || !Retryable(err) {
						t.Fatalf("step %d: called %v, err %v; want a retryable ErrOpen without a call", i, called, err)
					}
				} else if !called || !errors.Is(err, s.call) {
					t.Fatalf("step %d: called %v, err %v", i, called, err)
				}
				if got := b.State(); got != s.wantState {
					t.Fatalf("step %d: state %s, want %s", i, got, s.wantState)
				}
			}
		})
	}
}

func TestBreakerOpenErrorSaysWhen(t *testing.T) {
	clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	b := NewBreaker("edge", BreakerConfig{Failures: 1, Cooldown: 30 * time.Second}, clk)
	_ = b.Do(context.Background(), func(context.Context) error { return Temporary(errors.New("down")) })
	clk.Advance(12 * time.Second)
	_, err := b.Allow()
	want := `connector "edge": circuit breaker is open after 1 consecutive failures; next probe in 18s`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if after, _ := RetryAfter(err); after != 18*time.Second {
		t.Errorf("RetryAfter = %v, want 18s", after)
	}
}

func TestBreakerSingleProbe(t *testing.T) {
	clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	b := NewBreaker("edge", BreakerConfig{Failures: 1, Cooldown: time.Second}, clk)
	_ = b.Do(context.Background(), func(context.Context) error { return Temporary(errors.New("down")) })
	clk.Advance(time.Second)
	done, err := b.Allow()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Allow(); !errors.Is(err, ErrOpen) {
		t.Fatalf("second caller during the probe: %v, want ErrOpen", err)
	}
	done(context.Canceled) // an abandoned probe frees the slot, changes nothing
	if b.State() != HalfOpen {
		t.Fatalf("state %s after an abandoned probe, want half-open", b.State())
	}
	done2, err := b.Allow()
	if err != nil {
		t.Fatal(err)
	}
	done2(nil)
	if b.State() != Closed {
		t.Fatalf("state %s, want closed", b.State())
	}
}

func TestResilientRetriesThroughBreaker(t *testing.T) {
	clk := clock.NewFake(time.Now())
	b := NewBreaker("flaky", BreakerConfig{Failures: 2, Cooldown: time.Hour}, clk)
	f := &flaky{fails: 5}
	c := Resilient(f, Policy{Attempts: 10, Clock: clk, Wait: func(_ context.Context, d time.Duration) error { clk.Advance(d); return nil }}, b)
	ctx, cancel := context.WithDeadline(context.Background(), clk.Now().Add(time.Minute))
	defer cancel()
	_, err := c.Execute(ctx, Request{})
	// Two failures open the breaker; its hour-long cooldown is past the deadline, so
	// Do stops instead of hammering the connector.
	if f.calls != 2 || !errors.Is(err, ErrOpen) || !errors.Is(err, ErrDeadline) {
		t.Fatalf("calls %d, err %v; want 2 calls then ErrOpen/ErrDeadline", f.calls, err)
	}
	if rd := c.Ready(ctx); rd.Message != "circuit breaker open" {
		t.Errorf("Ready message %q", rd.Message)
	}
	if u, ok := c.(interface{ Unwrap() Connector }); !ok || u.Unwrap() != f {
		t.Error("Unwrap does not return the wrapped connector")
	}
}

type flaky struct {
	stubConnector
	fails, calls int
}

func (f *flaky) Execute(context.Context, Request) (Result, error) {
	f.calls++
	if f.calls <= f.fails {
		return Result{}, Temporary(errors.New("flap"))
	}
	return Result{Changed: true}, nil
}
