package store

import (
	"context"
	"testing"
	"time"

	"github.com/warroom/warroom/internal/clock"
)

func TestClaimNonce(t *testing.T) {
	clk := clock.NewFake(t0)
	s := openTest(t, "", Options{Clock: clk})
	ctx := context.Background()
	exp := clk.Now().Add(5 * time.Minute)
	for i, want := range []bool{true, false, false} {
		got, err := s.ClaimNonce(ctx, "slack:signature", "v0=abc", exp)
		if err != nil || got != want {
			t.Fatalf("claim %d: got %v, %v; want %v", i, got, err, want)
		}
	}
	if got, err := s.ClaimNonce(ctx, "slack:event", "v0=abc", exp); err != nil || !got {
		t.Fatalf("another scope: got %v, %v; want a first claim", got, err)
	}
	clk.Advance(5*time.Minute + time.Second)
	if got, err := s.ClaimNonce(ctx, "slack:signature", "v0=abc", clk.Now().Add(time.Minute)); err != nil || !got {
		t.Fatalf("after expiry: got %v, %v; want a first claim", got, err)
	}
	if _, err := s.ClaimNonce(ctx, "", "k", exp); err == nil {
		t.Fatal("empty scope accepted")
	}
}
