package connectortest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/warroom/warroom/connectors"
)

// Faults is the fault injection every vendor fake offers, so one suite can check how
// each connector classifies and survives the same failures.
type Faults interface {
	// ExpireTokens invalidates every token, session or API key session issued so far:
	// the next call made with one gets the vendor's own "expired" answer. A connector
	// must log in again and carry on without surfacing an error.
	ExpireTokens()
	// RejectCredentials makes the vendor refuse the connector's credentials (token
	// requests, logins, API keys) with its own authentication error until called with
	// false. Existing tokens are invalidated too.
	RejectCredentials(reject bool)
	// FailNext makes the next n API calls (not counting token or login requests)
	// answer with status (503, 429...) and the vendor's error body; a 429 carries
	// Retry-After: 1.
	FailNext(status, n int)
	// SetLatency delays every answer by d (0: none). The fake gives up waiting when the
	// client goes away.
	SetLatency(d time.Duration)
}

// VendorSubject is a vendor connector under test with its fake.
type VendorSubject struct {
	Subject
	Faults Faults
	// Mutations returns how many state-changing calls the fake has accepted so far
	// (objects created, IPs registered, containment requested...). The suite uses it
	// to prove a repeated execute changes nothing on the vendor's side.
	Mutations func() int
	// Logins, when the vendor has logins or tokens, returns how many the fake has
	// granted so far; a dry run must not log in at all.
	Logins func() int
}

// defaults fills in the action the suite checks with when the subject names none.
func (s *VendorSubject) defaults() connectors.Request {
	if s.Kind == "" {
		s.Kind = connectors.BlockIP
	}
	if s.Target.IsZero() {
		if s.Kind.NeedsIP() {
			s.Target, _ = connectors.ParseTarget("198.51.100.23")
		} else {
			s.Target = connectors.HostTarget("ws-faults")
		}
	}
	if s.TTL == 0 {
		s.TTL = time.Hour
	}
	return connectors.Request{ActionID: "act-faults-1", IdempotencyKey: "idem-faults-1", Kind: s.Kind, Target: s.Target,
		TTL: s.TTL, Params: map[string]string{"incident": "INC-0002"}}
}

// RunVendorConformance runs RunConformance's life cycle on a connector built by build,
// then checks what every vendor connector must do on top:
//   - a repeated execute makes no state-changing call on the vendor's side;
//   - an expired token or session is renewed transparently;
//   - refused credentials fail permanently, and Ready reports them as not authenticated;
//   - a 503 and a 429 fail retryably (the 429 with its Retry-After);
//   - an answer slower than the caller's deadline fails retryably, without hanging;
//   - no secret appears in any error, result or log line;
//   - with Env.DryRun, execute and verify report the change as a dry run and the
//     vendor sees no state-changing call and no login.
//
// build is called once for the life cycle and once for the fault checks, each time
// with a fresh Env, and must return a connector talking to a fresh fake.
func RunVendorConformance(t *testing.T, build func(t *testing.T, env connectors.Env) VendorSubject) {
	t.Helper()
	t.Run("lifecycle", func(t *testing.T) {
		RunConformance(t, func(t *testing.T, env connectors.Env) Subject { return build(t, env).Subject })
	})
	t.Run("dry run", func(t *testing.T) {
		env, _, _ := NewEnv("vendor-dry-run")
		env.DryRun = true
		s := build(t, env)
		if s.Mutations == nil {
			t.Fatal("VendorSubject needs Mutations")
		}
		req, ctx := s.defaults(), context.Background()
		r, err := s.Connector.Execute(ctx, req)
		if err != nil || !r.DryRun || !r.Changed {
			t.Fatalf("Execute in a dry run: %+v, %v; want a changed dry-run result", r, err)
		}
		if v, err := s.Connector.Verify(ctx, req); err != nil || !v.InPlace || !v.DryRun {
			t.Errorf("Verify in a dry run: %+v, %v; want the dry-run change in place", v, err)
		}
		if n := s.Mutations(); n != 0 {
			t.Errorf("a dry run made %d state-changing call(s) on the vendor's side", n)
		}
		if s.Logins != nil && s.Logins() != 0 {
			t.Errorf("a dry run logged in %d time(s)", s.Logins())
		}
	})
	t.Run("faults", func(t *testing.T) {
		env, logs, _ := NewEnv("vendor-conformance")
		s := build(t, env)
		if s.Faults == nil || s.Mutations == nil {
			t.Fatal("VendorSubject needs Faults and Mutations")
		}
		c := s.Connector
		req := s.defaults()
		ctx := context.Background()
		var seen []string
		note := func(v ...any) {
			for _, x := range v {
				if x != nil {
					seen = append(seen, fmt.Sprintf("%+v", x))
				}
			}
		}
		defer func() { AssertNoSecret(t, s.Secrets, append(seen, logs.String())...) }()

		r, err := c.Execute(ctx, req)
		note(r, err)
		if err != nil || !r.Changed {
			t.Fatalf("Execute: %+v, %v", r, err)
		}
		before := s.Mutations()
		r, err = c.Execute(ctx, req)
		note(r, err)
		if err != nil || r.Changed {
			t.Fatalf("repeated Execute: %+v, %v; want an unchanged success", r, err)
		}
		if got := s.Mutations(); got != before {
			t.Errorf("repeated Execute made %d state-changing call(s) on the vendor's side; want none", got-before)
		}

		s.Faults.ExpireTokens()
		v, err := c.Verify(ctx, req)
		note(v, err)
		if err != nil || !v.InPlace {
			t.Fatalf("Verify after the token expired: %+v, %v; want the connector to log in again and see the change", v, err)
		}

		s.Faults.FailNext(503, 1)
		_, err = c.Verify(ctx, req)
		note(err)
		if err == nil || !connectors.Retryable(err) {
			t.Errorf("Verify against a 503: err %v; want a retryable error", err)
		}
		s.Faults.FailNext(429, 1)
		_, err = c.Verify(ctx, req)
		note(err)
		if err == nil || !connectors.Retryable(err) {
			t.Errorf("Verify against a 429: err %v; want a retryable error", err)
		} else if d, ok := connectors.RetryAfter(err); !ok || d < time.Second {
			t.Errorf("Verify against a 429 with Retry-After: 1: retry after %v (%v); want at least 1s", d, ok)
		}

		s.Faults.SetLatency(2 * time.Second)
		tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		_, err = c.Verify(tctx, req)
		cancel()
		note(err)
		s.Faults.SetLatency(0)
		if err == nil || !connectors.Retryable(err) {
			t.Errorf("Verify slower than the deadline: err %v; want a retryable error", err)
		}

		s.Faults.RejectCredentials(true)
		r, err = c.Revert(ctx, req)
		note(r, err)
		if err == nil {
			t.Errorf("Revert with refused credentials succeeded: %+v", r)
		} else if connectors.Retryable(err) {
			t.Errorf("Revert with refused credentials: %v is retryable; an authentication failure needs a human", err)
		}
		rd := c.Ready(ctx)
		note(rd)
		if rd.Authenticated != connectors.Failed {
			t.Errorf("Ready with refused credentials: %+v; want Authenticated=no", rd)
		}
		if rd.Message == "" {
			t.Error("Ready with refused credentials has no message saying what is wrong")
		}

		s.Faults.RejectCredentials(false)
		r, err = c.Revert(ctx, req)
		note(r, err)
		if err != nil || !r.Changed {
			t.Fatalf("Revert once the credentials are accepted again: %+v, %v", r, err)
		}
		v, err = c.Verify(ctx, req)
		note(v, err)
		if err != nil || v.InPlace {
			t.Errorf("Verify after Revert: %+v, %v; want the change gone", v, err)
		}
		if rd := c.Ready(ctx); !rd.OK() {
			t.Errorf("Ready once the credentials are accepted again: %+v", rd)
		}
	})
}
