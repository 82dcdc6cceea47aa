package vendorhttp

import (
	"sync"
	"time"

	"github.com/warroom/warroom/connectors"
)

// TokenCache keeps one bearer token until shortly before it expires, so a
// connector asks the vendor for a new one only when it must. It is safe for
// concurrent use; the zero value holds no token.
type TokenCache struct {
	// Margin is how long before its expiry a token is replaced; at most half a
	// token's lifetime is given up.
	Margin time.Duration

	mu    sync.Mutex
	tok   connectors.Secret
	renew time.Time
}

// Valid returns the cached token while it is still good at now.
func (c *TokenCache) Valid(now time.Time) (connectors.Secret, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok.IsZero() || !now.Before(c.renew) {
		return connectors.Secret{}, false
	}
	return c.tok, true
}

// Store caches tok, issued at now for life.
func (c *TokenCache) Store(tok connectors.Secret, life time.Duration, now time.Time) {
	c.mu.Lock()
	c.tok, c.renew = tok, now.Add(life-min(c.Margin, life/2))
	c.mu.Unlock()
}

// Current returns the cached token, whether or not it is still good (zero when
// there is none): for masking it out of messages.
func (c *TokenCache) Current() connectors.Secret {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tok
}

// Drop forgets tok if it is still the cached token (the vendor refused it).
func (c *TokenCache) Drop(tok connectors.Secret) {
	c.mu.Lock()
	if c.tok.Reveal() == tok.Reveal() {
		c.tok, c.renew = connectors.Secret{}, time.Time{}
	}
	c.mu.Unlock()
}
