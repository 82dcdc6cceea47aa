package vendorhttp

import (
	"testing"
	"time"

	"github.com/warroom/warroom/connectors"
)

func TestTokenCacheRenewsBeforeExpiry(t *testing.T) {
	c := &TokenCache{Margin: time.Minute}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, ok := c.Valid(now); ok {
		t.Fatal("an empty cache returned a token")
	}
	tok := connectors.NewSecret("tok-1")
	c.Store(tok, 30*time.Minute, now)
	if got, ok := c.Valid(now.Add(28 * time.Minute)); !ok || got.Reveal() != "tok-1" {
		t.Errorf("inside the lifetime less the margin: %v %v", got.Reveal(), ok)
	}
	if _, ok := c.Valid(now.Add(29 * time.Minute)); ok {
		t.Error("the token is still handed out within the margin of its expiry")
	}
	if c.Current().Reveal() != "tok-1" {
		t.Error("Current lost the token")
	}
	// A short-lived token gives up at most half its life to the margin.
	c.Store(tok, 60*time.Second, now)
	if _, ok := c.Valid(now.Add(29 * time.Second)); !ok {
		t.Error("a 60s token was dropped before half its life")
	}
	if _, ok := c.Valid(now.Add(30 * time.Second)); ok {
		t.Error("a 60s token was kept past half its life")
	}
}

func TestTokenCacheDropsOnlyTheRefusedToken(t *testing.T) {
	c := &TokenCache{Margin: time.Minute}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.Store(connectors.NewSecret("new"), time.Hour, now)
	c.Drop(connectors.NewSecret("old"))
	if _, ok := c.Valid(now); !ok {
		t.Fatal("dropping a stale token removed the current one")
	}
	c.Drop(connectors.NewSecret("new"))
	if _, ok := c.Valid(now); ok || !c.Current().IsZero() {
		t.Error("the refused token is still cached")
	}
}
