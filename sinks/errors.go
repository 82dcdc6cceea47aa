package sinks

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

type class int

const (
	classRetry     class = iota // try again after a backoff
	classPermanent              // the sink needs a human: halt it, keep the events
	classRejected               // the receiver refused the content: drop those events
)

// classified wraps an error with its class. It unwraps, so errors.Is and errors.As see
// through it; the outermost classification wins.
type classified struct {
	err        error
	class      class
	retryAfter time.Duration
}

func (c *classified) Error() string { return c.err.Error() }
func (c *classified) Unwrap() error { return c.err }

// Permanent marks err as one retrying cannot fix until a human changes something at
// the sink or in its configuration: an invalid token, a wrong URL, a forbidden index.
// The Dispatcher halts the sink and keeps its events queued; it tries again after
// Delivery.HaltedRetry or when Resume is called. A nil err stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &classified{err: err, class: classPermanent}
}

// Rejected marks err as the receiver refusing the content of the request (a bad data
// format, a request too large). It is permanent for those events: the Dispatcher sends
// the events of a rejected batch one at a time, and drops and counts each one that is
// still rejected on its own. A nil err stays nil.
func Rejected(err error) error {
	if err == nil {
		return nil
	}
	return &classified{err: err, class: classRejected}
}

// RetryAfter marks err as retryable no sooner than after d (an HTTP Retry-After). A nil
// err stays nil.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &classified{err: err, class: classRetry, retryAfter: max(d, 0)}
}

// Retryable reports whether err may succeed when tried again later. Errors are
// retryable unless marked Permanent or Rejected: network errors, timeouts, 5xx and 429
// are retryable without any marking.
func Retryable(err error) bool {
	var c *classified
	if errors.As(err, &c) {
		return c.class == classRetry
	}
	return err != nil
}

// IsPermanent reports whether err was marked Permanent or Rejected.
func IsPermanent(err error) bool {
	var c *classified
	return errors.As(err, &c) && c.class != classRetry
}

// IsRejected reports whether err was marked Rejected.
func IsRejected(err error) bool {
	var c *classified
	return errors.As(err, &c) && c.class == classRejected
}

// RetryDelay returns the minimum wait a RetryAfter error asked for, if any.
func RetryDelay(err error) (time.Duration, bool) {
	var c *classified
	if errors.As(err, &c) && c.class == classRetry && c.retryAfter > 0 {
		return c.retryAfter, true
	}
	return 0, false
}

// BatchError reports a batch the receiver accepted only in part. Events whose index is
// in neither Retry nor Dropped were accepted.
type BatchError struct {
	// Retry lists the indexes (into the batch passed to Send) of events to send again.
	Retry []int
	// Dropped lists the events the receiver refused for good: they are removed from
	// the queue, counted and logged.
	Dropped []ItemError
	// Err describes the failure of the events to retry; a RetryAfter on it is honoured.
	Err error
}

// ItemError is one refused event of a batch.
type ItemError struct {
	Index int
	Err   error
}

func (e *BatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d events to retry, %d refused", len(e.Retry), len(e.Dropped))
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if len(e.Dropped) > 0 {
		fmt.Fprintf(&b, "; first refusal: event %d: %v", e.Dropped[0].Index, e.Dropped[0].Err)
	}
	return b.String()
}

// Unwrap returns Err, so RetryDelay sees a Retry-After on it.
func (e *BatchError) Unwrap() error { return e.Err }

// ParseRetryAfter reads an HTTP Retry-After value, either delay-seconds or an HTTP
// date (RFC 9110 §10.2.3), as a wait from now. A date in the past is a zero wait.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := time.Parse(time.RFC1123, v) // IMF-fixdate; http.ParseTime's first layout
	if err != nil {
		for _, layout := range []string{time.RFC850, time.ANSIC} {
			if t, err = time.Parse(layout, v); err == nil {
				break
			}
		}
		if err != nil {
			return 0, false
		}
	}
	return max(t.Sub(now), 0), true
}
