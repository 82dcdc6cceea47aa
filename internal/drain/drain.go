// Package drain takes values off a channel as they arrive, so that a subscriber whose
// real work is slower than its subscription never lets the subscription fill up: the
// callback only records what arrived, and the work happens elsewhere.
package drain

import "context"

// Each calls f with every value received from ch, in order, until ch is closed or ctx
// ends.
func Each[T any](ctx context.Context, ch <-chan T, f func(T)) {
	for {
		select {
		case <-ctx.Done():
			return
		case v, ok := <-ch:
			if !ok {
				return
			}
			f(v)
		}
	}
}
