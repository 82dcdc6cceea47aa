package connectors

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/warroom/warroom/internal/clock"
)

func TestDo(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name      string
		errs      []error // returned by successive calls; nil after the end
		policy    Policy
		deadline  time.Duration // 0: no deadline
		rand      float64
		wantCalls int
		wantWaits []time.Duration
		wantErr   string
		retryable bool
		isDL      bool
	}{
		{name: "first try", wantCalls: 1},
		{name: "temporary then ok", errs: []error{Temporary(boom), Temporary(boom)}, wantCalls: 3,
			wantWaits: []time.Duration{200 * time.Millisecond, 400 * time.Millisecond}},
		{name: "permanent stops at once", errs: []error{Permanent(boom)}, wantCalls: 1, wantErr: "boom"},
		{name: "unclassified is not retried", errs: []error{boom}, wantCalls: 1, wantErr: "boom"},
		{name: "permanent after a temporary", errs: []error{Temporary(boom), Permanent(boom)}, wantCalls: 2,
			wantWaits: []time.Duration{200 * time.Millisecond}, wantErr: "attempt 2: boom"},
		{name: "attempts run out", errs: []error{Temporary(boom), Temporary(boom), Temporary(boom)}, policy: Policy{Attempts: 3},
			wantCalls: 3, wantWaits: []time.Duration{200 * time.Millisecond, 400 * time.Millisecond},
			wantErr: "gave up after 3 attempts: boom", retryable: true},
		{name: "retry-after beats backoff", errs: []error{TemporaryAfter(boom, 3*time.Second)}, wantCalls: 2,
			wantWaits: []time.Duration{3 * time.Second}},
		{name: "jitter shortens waits", errs: []error{Temporary(boom), Temporary(boom)}, rand: 1, wantCalls: 3,
			wantWaits: []time.Duration{160 * time.Millisecond, 320 * time.Millisecond}},
		{name: "cap at max", errs: []error{Temporary(boom), Temporary(boom), Temporary(boom)}, policy: Policy{Initial: time.Second, Max: 1500 * time.Millisecond, Multiplier: 3},
			wantCalls: 4, wantWaits: []time.Duration{time.Second, 1500 * time.Millisecond, 1500 * time.Millisecond}},
		{name: "deadline bounds the retries", errs: []error{Temporary(boom), Temporary(boom), Temporary(boom), Temporary(boom)}, deadline: time.Second,
			wantCalls: 3, wantWaits: []time.Duration{200 * time.Millisecond, 400 * time.Millisecond},
			wantErr: "gave up after 3 attempts, the next attempt would pass the deadline (wait 800ms): boom", retryable: true, isDL: true},
		{name: "retry-after past the deadline", errs: []error{TemporaryAfter(boom, time.Minute)}, deadline: 10 * time.Second,
			wantCalls: 1, wantErr: "gave up after 1 attempts, the next attempt would pass the deadline (wait 1m): boom", retryable: true, isDL: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clock.NewFake(time.Now())
			var waits []time.Duration
			p := tt.policy
			p.Clock = clk
			p.Rand = func() float64 { return tt.rand }
			p.Wait = func(_ context.Context, d time.Duration) error {
				waits = append(waits, d)
				clk.Advance(d)
				return nil
			}
			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, clk.Now().Add(tt.deadline))
				defer cancel()
			}
			calls := 0
			err := Do(ctx, p, func(context.Context) error {
				calls++
				if calls <= len(tt.errs) {
					return tt.errs[calls-1]
				}
				return nil
			})
			if calls != tt.wantCalls {
				t.Errorf("calls = %d, want %d", calls, tt.wantCalls)
			}
			if !reflect.DeepEqual(waits, tt.wantWaits) {
				t.Errorf("waits = %v, want %v", waits, tt.wantWaits)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if !errors.Is(err, boom) {
				t.Error("the last error is not wrapped")
			}
			if Retryable(err) != tt.retryable {
				t.Errorf("Retryable(err) = %v, want %v", Retryable(err), tt.retryable)
			}
			if errors.Is(err, ErrDeadline) != tt.isDL {
				t.Errorf("errors.Is(err, ErrDeadline) = %v, want %v", !tt.isDL, tt.isDL)
			}
		})
	}
}

func TestDoStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	boom := errors.New("boom")
	calls := 0
	err := Do(ctx, Policy{Wait: func(ctx context.Context, _ time.Duration) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	}}, func(context.Context) error {
		calls++
		return Temporary(boom)
	})
	if calls != 1 || !errors.Is(err, context.Canceled) || !errors.Is(err, boom) {
		t.Fatalf("calls %d, err %v; want 1 call and an error wrapping both context.Canceled and the cause", calls, err)
	}
}

func TestDoRealTimer(t *testing.T) {
	// The default timer path: a tiny backoff, two attempts.
	calls := 0
	err := Do(context.Background(), Policy{Initial: time.Microsecond, Max: time.Microsecond}, func(context.Context) error {
		calls++
		if calls == 1 {
			return Temporary(errors.New("flap"))
		}
		return nil
	})
	if err != nil || calls != 2 {
		t.Fatalf("calls %d, err %v", calls, err)
	}
}

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		p   Policy
		err string
	}{
		{DefaultPolicy(), ""},
		{Policy{}, ""},
		{Policy{Attempts: -1}, "retry.attempts: -1 is negative; use 1 for no retries"},
		{Policy{Initial: -time.Second}, "retry.initial: -1s is negative"},
		{Policy{Max: -time.Second}, "retry.max: -1s is negative"},
		{Policy{Initial: time.Minute, Max: time.Second}, "retry.initial: 1m0s exceeds retry.max 1s"},
		{Policy{Multiplier: 0.5}, "retry.multiplier: 0.5 is below 1; waits must not shrink"},
		{Policy{Jitter: 1.5}, "retry.jitter: 1.5 is outside [0, 1]"},
	}
	for _, tt := range tests {
		err := tt.p.Validate()
		if (tt.err == "" && err != nil) || (tt.err != "" && (err == nil || err.Error() != tt.err)) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.p, err, tt.err)
		}
	}
}

func TestSleepReturnsWhenTheContextEnds(t *testing.T) {
	if err := Sleep(context.Background(), 0); err != nil {
		t.Errorf("Sleep(0) = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); err != context.Canceled {
		t.Errorf("Sleep on a cancelled context = %v", err)
	}
}
