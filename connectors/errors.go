package connectors

import (
	"errors"
	"time"
)

// classified marks an error as retryable or not. It wraps the original error, so
// errors.Is and errors.As still see through it.
type classified struct {
	err        error
	retryable  bool
	retryAfter time.Duration
}

func (c *classified) Error() string { return c.err.Error() }
func (c *classified) Unwrap() error { return c.err }

// Temporary marks err as retryable: a timeout, a refused connection, a 5xx or 429. A
// nil err stays nil.
func Temporary(err error) error {
	if err == nil {
		return nil
	}
	return &classified{err: err, retryable: true}
}

// TemporaryAfter marks err as retryable no sooner than after d (an HTTP Retry-After, a
// circuit breaker's remaining cooldown).
func TemporaryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	if d < 0 {
		d = 0
	}
	return &classified{err: err, retryable: true, retryAfter: d}
}

// Permanent marks err as not retryable: a bad request, a refusal, a 4xx, a missing
// permission. Retrying cannot help; a human has to act.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &classified{err: err, retryable: false}
}

// Retryable reports whether err was marked Temporary. Unclassified errors are not
// retried: a containment call repeated on an unknown failure could do harm, so a
// connector must say explicitly what is safe to repeat. The outermost classification
// wins, so a connector can re-classify an error it received.
func Retryable(err error) bool {
	var c *classified
	if errors.As(err, &c) {
		return c.retryable
	}
	return false
}

// RetryAfter returns the minimum wait a Temporary error asked for, if any.
func RetryAfter(err error) (time.Duration, bool) {
	var c *classified
	if errors.As(err, &c) && c.retryable && c.retryAfter > 0 {
		return c.retryAfter, true
	}
	return 0, false
}
