package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
)

// WAL checkpoints mostly run on their own connection and goroutine, beside the
// writer. In WAL mode a checkpoint copies committed pages into the database file
// while the writer goes on appending to the WAL, so this takes the page copies and the
// checkpoint's fsyncs out of commit latency and onto the other core, and one
// checkpoint copies many versions of a hot page (the last leaf of a table or index)
// only once. The writer's own connection has wal_autocheckpoint off.
//
// The WAL starts over from its beginning only when a write transaction begins while
// every frame has been copied, which a checkpoint running beside a busy writer never
// achieves. So once a background pass finds walRestartFrames frames in the WAL, the
// background checkpointer stands aside and the writer runs one passive checkpoint
// itself, between two transactions: it copies only what was committed since that pass,
// and its next transaction restarts the WAL. Writing over the start of a file already
// in the page cache is much cheaper than growing it (journal_size_limit is set above
// the restart size, so the file keeps its size).
// Variables, not constants, so that tests can exercise them on small databases; each
// store copies them when it opens.
var (
	walRestartFrames  int64 = 16 << 10 // 64 MiB of 4 KiB pages
	walTruncateFrames int64 = 64 << 10 // 256 MiB: a reader is holding old frames; see run
	// checkpointEvery is how many rows the writer commits between two kicks of the
	// checkpointer.
	checkpointEvery = 4096
)

type checkpointer struct {
	db      *sql.DB
	kick    chan struct{} // the writer's wake-up; closed when the writer stops
	done    chan struct{} // closed when run returns
	busy    atomic.Bool   // a background pass is running
	restart atomic.Bool   // the WAL is large: the writer should checkpoint once itself

	restartFrames, truncateFrames int64 // walRestartFrames, walTruncateFrames
	every                         int   // checkpointEvery
}

// openCheckpointer opens the checkpoint connection.
func openCheckpointer(ctx context.Context, path string) (*checkpointer, error) {
	db, err := sql.Open("sqlite3", fileURI(path, fmt.Sprintf("mode=rw&_mutex=no&_busy_timeout=%d", busyTimeoutMS)))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return &checkpointer{db: db, kick: make(chan struct{}, 1), done: make(chan struct{}),
		restartFrames: walRestartFrames, truncateFrames: walTruncateFrames, every: checkpointEvery}, nil
}

// run checkpoints each time the writer kicks it, until kick is closed.
func (c *checkpointer) run() {
	defer close(c.done)
	ctx := context.Background()
	for range c.kick {
		if c.restart.Load() {
			continue // the writer's own checkpoint comes first
		}
		c.busy.Store(true)
		var busy, frames, copied int64
		err := c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
		if err == nil && frames > c.truncateFrames {
			// Something kept the WAL from starting over (a reader holding an old
			// snapshot for a long time): wait briefly for the writer and readers to
			// step aside, copy the rest and empty the file.
			c.db.ExecContext(ctx, "PRAGMA busy_timeout = 200")
			c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &frames, &copied)
			c.db.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", busyTimeoutMS))
		}
		// On an error, the next kick tries again; the WAL keeps every commit meanwhile.
		if err == nil && frames >= c.restartFrames {
			c.restart.Store(true)
		}
		c.busy.Store(false)
	}
}

func (c *checkpointer) close() error { return c.db.Close() }
