// Package storetest holds test helpers around the real SQLite store: wrappers that
// hold particular reads, so a test can stop a consumer at a known point, and a store
// that meters its WAL for benchmarks.
package storetest

import (
	"context"
	"sync"

	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
)

// Gated is the store with its first incident read held until Open is called: a
// test sees the read start on Entered, does what must happen meanwhile, then lets it
// go on.
type Gated struct {
	*store.SQLite
	once    sync.Once
	entered chan struct{}
	open    chan struct{}
}

// NewGated wraps st.
func NewGated(st *store.SQLite) *Gated {
	return &Gated{SQLite: st, entered: make(chan struct{}), open: make(chan struct{})}
}

// Entered is closed when the first incident read has started.
func (g *Gated) Entered() <-chan struct{} { return g.entered }

// Open lets the held read, and every later one, go on. Call it once.
func (g *Gated) Open() { close(g.open) }

// Incident reads an incident; the first call waits for Open.
func (g *Gated) Incident(ctx context.Context, id int64) (*model.Incident, error) {
	g.once.Do(func() {
		close(g.entered)
		<-g.open
	})
	return g.SQLite.Incident(ctx, id)
}
