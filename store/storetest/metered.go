package storetest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/warroom/warroom/internal/benchmeter"
	"github.com/warroom/warroom/store"
)

// OpenMetered opens a store on a new file in tb's temporary directory, with a WAL
// meter that observes every commit. Both are closed when tb ends.
func OpenMetered(tb testing.TB) (*store.SQLite, *benchmeter.WAL) {
	tb.Helper()
	meter := &benchmeter.WAL{}
	path := filepath.Join(tb.TempDir(), "bench.db")
	st, err := store.OpenSQLite(context.Background(), path, store.Options{
		OnBatch: func(int, time.Duration) { meter.Observe() }})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	if err := meter.Attach(path); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { meter.Close() })
	return st, meter
}
