package actions

import (
	"context"
	"time"

	"github.com/warroom/warroom/triage/model"
)

// The TTL scheduler. Every succeeded action with a TTL carries ExpiresAt; the
// schedule is that column in the store, so it survives restarts. One goroutine sleeps
// on a timer set to the earliest expiry (measured on the injected clock), and is
// woken early when an action succeeds; at expiry it rolls the action back through its
// connector and records it as expired. A rollback that fails is tried again after
// Options.RevertRetry.

// Wake makes the scheduler look at the schedule now (after an action succeeded, or in
// tests after the clock moved).
func (e *Engine) Wake() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Sweep rolls back every action whose TTL has ended, now, and returns how many it
// expired. Run calls it; tests may too.
func (e *Engine) Sweep(ctx context.Context) (int, error) {
	now := e.now()
	due, err := e.st.ActionsDue(ctx, now)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, a := range due {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		e.mu.Lock()
		wait, held := e.retryAt[a.ID]
		e.mu.Unlock()
		if held && now.Before(wait) {
			continue
		}
		out, err := e.undo(ctx, a.ID, System, model.ActionExpired)
		e.mu.Lock()
		if err != nil {
			e.retryAt[a.ID] = now.Add(e.opts.RevertRetry)
		} else {
			delete(e.retryAt, a.ID)
		}
		e.mu.Unlock()
		if err != nil {
			e.log.Error("actions: rollback at the end of the TTL failed; trying again later", "action", a.ID,
				"incident", model.IncidentNumber(a.IncidentID), "retry_in", e.opts.RevertRetry.String(), "error", err)
			continue
		}
		if out != nil && out.State == model.ActionExpired {
			n++
		}
	}
	return n, nil
}

// nextWake returns how long to sleep until the next expiry or retry, and whether
// there is one.
func (e *Engine) nextWake(ctx context.Context) (time.Duration, bool) {
	now := e.now()
	next, ok, err := e.st.NextActionExpiry(ctx)
	if err != nil {
		e.log.Error("actions: cannot read the TTL schedule; looking again in a minute", "error", err)
		return time.Minute, true
	}
	if ok && next.Before(now) || ok && next.Equal(now) {
		// Due but held back after a failed rollback: wake for the earliest retry.
		e.mu.Lock()
		var first time.Time
		for _, t := range e.retryAt {
			if first.IsZero() || t.Before(first) {
				first = t
			}
		}
		e.mu.Unlock()
		if first.IsZero() {
			return time.Second, true // the last pass could not read or roll back; do not spin
		}
		return max(first.Sub(now), 0), true
	}
	if !ok {
		return 0, false
	}
	return next.Sub(now), true
}

// schedule is the scheduler loop.
func (e *Engine) schedule(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		n, err := e.Sweep(ctx)
		if err != nil && ctx.Err() == nil {
			e.log.Error("actions: TTL scheduler pass failed", "error", err)
		}
		if e.opts.AfterSweep != nil {
			e.opts.AfterSweep(n)
		}
		var fire <-chan time.Time
		if d, ok := e.nextWake(ctx); ok {
			timer.Reset(d)
			fire = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-fire:
		case <-e.wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
	}
}
