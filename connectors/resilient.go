package connectors

import "context"

// Resilient wraps c so Execute, Verify and Revert run through the connector's circuit
// breaker and the retry policy: the one stage where warroom retries connector calls.
// Preview, Ready, Name and Capabilities pass straight through. Unwrap returns c, for
// optional abilities checked by type assertion.
func Resilient(c Connector, p Policy, b *Breaker) Connector {
	return &resilient{c: c, p: p, b: b}
}

type resilient struct {
	c Connector
	p Policy
	b *Breaker
}

var _ Connector = (*resilient)(nil)

func (r *resilient) call(ctx context.Context, fn func(ctx context.Context) error) error {
	return Do(ctx, r.p, func(ctx context.Context) error {
		if r.b == nil {
			return fn(ctx)
		}
		return r.b.Do(ctx, fn)
	})
}

func (r *resilient) Name() string               { return r.c.Name() }
func (r *resilient) Capabilities() []ActionKind { return r.c.Capabilities() }

// Unwrap returns the wrapped connector.
func (r *resilient) Unwrap() Connector { return r.c }

func (r *resilient) Execute(ctx context.Context, req Request) (Result, error) {
	var res Result
	err := r.call(ctx, func(ctx context.Context) error {
		var err error
		res, err = r.c.Execute(ctx, req)
		return err
	})
	return res, err
}

func (r *resilient) Verify(ctx context.Context, req Request) (Verification, error) {
	var v Verification
	err := r.call(ctx, func(ctx context.Context) error {
		var err error
		v, err = r.c.Verify(ctx, req)
		return err
	})
	return v, err
}

func (r *resilient) Revert(ctx context.Context, req Request) (Result, error) {
	var res Result
	err := r.call(ctx, func(ctx context.Context) error {
		var err error
		res, err = r.c.Revert(ctx, req)
		return err
	})
	return res, err
}

func (r *resilient) Preview(ctx context.Context, req Request) (Diff, error) {
	return r.c.Preview(ctx, req)
}

func (r *resilient) Ready(ctx context.Context) Readiness {
	rd := r.c.Ready(ctx)
	if r.b != nil {
		if s := r.b.State(); s != Closed {
			if rd.Message != "" {
				rd.Message += "; "
			}
			rd.Message += "circuit breaker " + s.String()
		}
	}
	return rd
}
