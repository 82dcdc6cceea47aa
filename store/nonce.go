package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ClaimNonce records key under scope until expires and reports whether this is the
// first claim: false means the key was already claimed and has not expired (a replay
// or a duplicate delivery). Expired nonces are purged on the way. The claim is durable
// once ClaimNonce returns, so a replay is refused across restarts too.
func (s *SQLite) ClaimNonce(ctx context.Context, scope, key string, expires time.Time) (bool, error) {
	if scope == "" || key == "" {
		return false, errors.New("store: claim nonce: scope and key are required")
	}
	var fresh bool
	err := s.Submit(ctx, func(tx Tx) error {
		t, ok := tx.(*writeTx)
		if !ok {
			return fmt.Errorf("store: claim nonce: unexpected transaction type %T", tx)
		}
		now := t.w.opts.Clock.Now().UnixNano()
		if _, err := t.chatExec("DELETE FROM nonces WHERE expires_at <= ?", now); err != nil {
			return t.poison(fmt.Errorf("purge expired nonces: %w", err))
		}
		n, err := t.chatExec("INSERT INTO nonces (scope, key, expires_at) VALUES (?, ?, ?) ON CONFLICT (scope, key) DO NOTHING",
			scope, key, expires.UnixNano())
		if err != nil {
			return t.poison(fmt.Errorf("claim nonce: %w", err))
		}
		fresh = n == 1
		return nil
	})
	if err != nil {
		return false, err
	}
	return fresh, nil
}
