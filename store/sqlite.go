package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/warroom/warroom/internal/clock"
	"github.com/warroom/warroom/triage/model"
)

// Durability. The database runs in WAL mode with synchronous=NORMAL by default. A
// commit appends the transaction to the -wal file with write(2) before COMMIT returns,
// so once Submit has returned nil the transaction is in the operating system's page
// cache: it survives a crash or SIGKILL of the warroom process (the next open replays
// the WAL), which is what "every alert that received 202 is on disk" requires. What
// NORMAL does not cover is a power failure or kernel crash in the short window before
// the kernel writes those pages back: the last transactions may then be lost. The
// database cannot be corrupted by it, because checkpoints (checkpoint.go) fsync the WAL
// before copying it into the database file and fsync the file before the WAL is
// reused. Options.FullSync selects synchronous=FULL, which adds one fsync per commit
// (group commit shares it among every op of a batch) and makes each commit survive
// power loss too.

// Options tunes OpenSQLite. The zero value is usable.
type Options struct {
	// ReadConns is the size of the read pool (default 4).
	ReadConns int
	// Clock stamps audit and timeline entries given without a time, and times batches
	// (default the wall clock).
	Clock clock.Clock
	// OnBatch, when set, is called on the writer goroutine after each commit with the
	// number of ops it held and how long the transaction took. It must not block.
	OnBatch BatchObserver
	// MaxBatch is the most ops committed in one transaction (default 512).
	MaxBatch int
	// FullSync makes every commit fsync (synchronous=FULL) so that it also survives a
	// power failure, at the cost of one fsync per batch.
	FullSync bool
	// Feed, when set, is asked for every audit entry as it is appended, on the writer
	// goroutine inside the entry's transaction: the payloads it returns are queued for
	// the named sinks in that same transaction, so the SIEM hears of every recorded
	// change at least once and never of one that was rolled back. It must not block.
	Feed func(e *model.AuditEntry) (sinks []string, payload []byte)

	// indexEvery is how many alert ids the writer lets pass between two copies of
	// their incident pairs into incident_alerts (default indexAlertsEvery); tests
	// make it small.
	indexEvery int64
}

const (
	defaultReadConns = 4
	defaultMaxBatch  = 512
	// indexAlertsEvery: see writeTx.indexAlerts.
	indexAlertsEvery = 256
	busyTimeoutMS    = 5000
	// writerStmts and readerStmts are how many prepared statements each connection
	// keeps (a few KB of SQLite memory each): about the distinct statements the
	// store runs on it in a busy second.
	writerStmts = 64
	readerStmts = 32
	// writerCacheKiB is the page cache of the write connection; index pages of the
	// alerts table stay hot in it.
	writerCacheKiB = 16 << 10
)

// SQLite is the Store on one SQLite file: one write connection owned by the writer
// goroutine, and a pool of read-only connections.
type SQLite struct {
	path string
	opts Options

	wdb   *sql.DB   // holds exactly one connection: the writer's
	wconn *sql.Conn // pinned; used only on the writer goroutine once it runs
	rdb   *sql.DB   // read-only pool
	ckpt  *checkpointer

	queue chan *request
	// requests recycles Submit's requests. It belongs to the store, not the package, so
	// a store used only inside a testing/synctest bubble keeps its channels there.
	requests   sync.Pool
	mu         sync.RWMutex // guards closed against sends on queue
	closed     bool
	writerDone chan struct{}
	writerErr  error // set by the writer goroutine before writerDone closes
	closeOnce  sync.Once
	closeErr   error
}

var _ Store = (*SQLite)(nil)

//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads the embedded migrations, named NNNN_what.sql and numbered
// 1, 2, 3... without gaps.
func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("embedded migration %q: want a name like 0002_what.sql", name)
		}
		b, err := migrationFS.ReadFile("migrations/" + name)
		if err != nil {
			return nil, fmt.Errorf("read embedded migration %s: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("embedded migration %s: expected version %d; migrations must be numbered without gaps", m.name, i+1)
		}
	}
	return ms, nil
}

// SchemaVersion is the schema version this binary creates and understands.
func SchemaVersion() int {
	ms, err := loadMigrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

// fileURI turns a path into an SQLite URI filename ("file:..."), escaping the
// characters URIs reserve, followed by the given query parameters.
func fileURI(path string, params string) string {
	r := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	return "file:" + r.Replace(path) + "?" + params
}

// OpenSQLite opens (creating if needed) the database at path, applies the embedded
// migrations and starts the writer.
func OpenSQLite(ctx context.Context, path string, opts Options) (*SQLite, error) {
	if path == "" {
		return nil, errors.New("open store: empty database path: set the database path in the config or with --db")
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = defaultReadConns
	}
	if opts.indexEvery <= 0 {
		opts.indexEvery = indexAlertsEvery
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = defaultMaxBatch
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	migrations, err := loadMigrations()
	if err != nil {
		return nil, err
	}

	syncMode := "NORMAL"
	if opts.FullSync {
		syncMode = "FULL"
	}
	// _mutex=no: each connection is used by one goroutine at a time (the writer, or the
	// database/sql pool), so SQLite's per-connection mutex is pure overhead.
	// _stmt_cache_size: each connection keeps its most recent prepared statements, so
	// the same query text is compiled once, not on every call.
	wdsn := fileURI(path, fmt.Sprintf("mode=rwc&_mutex=no&_txlock=immediate&_busy_timeout=%d&_journal_mode=WAL&_synchronous=%s&_foreign_keys=0&_stmt_cache_size=%d",
		busyTimeoutMS, syncMode, writerStmts))
	wdb, err := sql.Open("sqlite3", wdsn)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	s := &SQLite{path: path, opts: opts, wdb: wdb}
	fail := func(err error) (*SQLite, error) {
		if s.wconn != nil {
			s.wconn.Close()
		}
		if s.rdb != nil {
			s.rdb.Close()
		}
		if s.ckpt != nil {
			s.ckpt.close()
		}
		wdb.Close()
		return nil, err
	}

	s.wconn, err = wdb.Conn(ctx)
	if err != nil {
		return fail(fmt.Errorf("open store %s: %w%s", path, err, openHint(err)))
	}
	var mode string
	if err := s.wconn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fail(fmt.Errorf("open store %s: %w%s", path, err, openHint(err)))
	}
	if !strings.EqualFold(mode, "wal") {
		return fail(fmt.Errorf("open store %s: journal mode is %q, want wal: put the database on a local filesystem that supports shared memory", path, mode))
	}
	for _, p := range []string{
		fmt.Sprintf("PRAGMA cache_size = -%d", writerCacheKiB),
		"PRAGMA temp_store = MEMORY",
		// Above the size at which the WAL starts over (checkpoint.go), so that the file
		// keeps its size and later commits overwrite pages already in the page cache.
		"PRAGMA journal_size_limit = 100663296",
		"PRAGMA wal_autocheckpoint = 0", // see checkpoint.go
	} {
		if _, err := s.wconn.ExecContext(ctx, p); err != nil {
			return fail(fmt.Errorf("open store %s: %s: %w", path, p, err))
		}
	}
	if err := migrate(ctx, s.wconn, migrations, opts.Clock.Now()); err != nil {
		return fail(fmt.Errorf("open store %s: %w", path, err))
	}

	rdsn := fileURI(path, fmt.Sprintf("mode=ro&_mutex=no&_query_only=1&_busy_timeout=%d&_stmt_cache_size=%d", busyTimeoutMS, readerStmts))
	s.rdb, err = sql.Open("sqlite3", rdsn)
	if err != nil {
		return fail(fmt.Errorf("open store %s for reading: %w", path, err))
	}
	s.rdb.SetMaxOpenConns(opts.ReadConns)
	s.rdb.SetMaxIdleConns(opts.ReadConns)
	s.rdb.SetConnMaxLifetime(0)
	s.rdb.SetConnMaxIdleTime(0)
	if err := s.rdb.PingContext(ctx); err != nil {
		return fail(fmt.Errorf("open store %s for reading: %w%s", path, err, openHint(err)))
	}

	w, err := newWriter(ctx, s.wconn, opts)
	if err != nil {
		return fail(fmt.Errorf("open store %s: %w", path, err))
	}
	if s.ckpt, err = openCheckpointer(ctx, path); err != nil {
		return fail(fmt.Errorf("open store %s for checkpoints: %w", path, err))
	}
	w.ckpt = s.ckpt
	s.queue = make(chan *request, 4*opts.MaxBatch)
	s.requests.New = func() any { return &request{done: make(chan error, 1)} }
	s.writerDone = make(chan struct{})
	ready := make(chan error, 1)
	go s.runWriter(w, ready)
	if err := <-ready; err != nil {
		<-s.writerDone
		return fail(fmt.Errorf("open store %s: %w", path, err))
	}
	go s.ckpt.run()
	return s, nil
}

// openHint says what to check when a database cannot be opened.
func openHint(err error) string {
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrNotADB, sqlite3.ErrCorrupt:
			return " (check that the path names a warroom database)"
		case sqlite3.ErrCantOpen, sqlite3.ErrPerm, sqlite3.ErrReadonly:
			return " (check that the directory exists and is writable)"
		case sqlite3.ErrBusy, sqlite3.ErrLocked:
			return " (another process holds the database locked)"
		}
	}
	return ""
}

// migrate applies the migrations the database lacks, in one transaction, and refuses a
// database whose schema is newer than this binary.
func migrate(ctx context.Context, conn *sql.Conn, ms []migration, now time.Time) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: begin: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("migrate: create schema_version: %w%s", err, openHint(err))
	}
	var cur int
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_version").Scan(&cur); err != nil {
		return fmt.Errorf("migrate: read schema_version: %w", err)
	}
	if cur > len(ms) {
		return fmt.Errorf("database schema version %d is newer than this warroom binary knows (%d): run a newer warroom, or restore a backup taken by this version", cur, len(ms))
	}
	if cur == len(ms) {
		return nil
	}
	for _, m := range ms[cur:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migrate: apply %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", m.version, now.UnixNano()); err != nil {
			return fmt.Errorf("migrate: record %s: %w", m.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}

// Close commits every op already queued, stops the writer and closes the database.
// Submit returns ErrClosed afterwards. Calling Close again returns the first result.
func (s *SQLite) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		// No Submit can be sending now (they send under the read lock and see closed),
		// so closing the queue is safe; the writer drains it, then exits.
		close(s.queue)
		<-s.writerDone
		<-s.ckpt.done // the writer closed its kick channel on the way out
		errs := []error{s.writerErr}
		errs = append(errs, s.ckpt.close())
		errs = append(errs, s.rdb.Close())
		errs = append(errs, s.wconn.Close())
		// Closing the last connection checkpoints the WAL into the database file.
		errs = append(errs, s.wdb.Close())
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("close store %s: %w", s.path, err)
		}
	})
	return s.closeErr
}

// Backup writes a consistent copy of the database to destPath, a file that must not
// exist yet, with SQLite's online backup API. It reads through its own connection:
// the writer keeps committing while the copy runs, and the copy is the database as of
// the moment it started. ctx is checked between steps.
func (s *SQLite) Backup(ctx context.Context, destPath string) error {
	if destPath == "" {
		return errors.New("backup: empty destination path")
	}
	if _, err := os.Lstat(destPath); err == nil {
		return fmt.Errorf("backup: %s already exists: choose a new file name or remove it first", destPath)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup: %w", err)
	}
	src, err := s.rdb.Conn(ctx)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer src.Close()
	dconn, err := (&sqlite3.SQLiteDriver{}).Open(fileURI(destPath, "mode=rwc"))
	if err != nil {
		return fmt.Errorf("backup: create %s: %w%s", destPath, err, openHint(err))
	}
	dest := dconn.(*sqlite3.SQLiteConn)
	// Keep one read transaction open on the source for the whole copy, so every step
	// sees the same snapshot and commits by the writer do not restart the backup.
	if _, err := src.ExecContext(ctx, "BEGIN"); err != nil {
		dest.Close()
		return fmt.Errorf("backup: %w", err)
	}
	var n int
	if err := src.QueryRowContext(ctx, "SELECT count(*) FROM schema_version").Scan(&n); err != nil {
		src.ExecContext(context.Background(), "ROLLBACK")
		dest.Close()
		return fmt.Errorf("backup: %w", err)
	}
	err = src.Raw(func(dc any) error {
		sc, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return fmt.Errorf("unexpected driver connection %T", dc)
		}
		b, err := dest.Backup("main", sc, "main")
		if err != nil {
			return err
		}
		for {
			if err := ctx.Err(); err != nil {
				b.Finish()
				return err
			}
			done, err := b.Step(1024)
			if err != nil {
				b.Finish()
				return err
			}
			if done {
				return b.Finish()
			}
		}
	})
	_, rerr := src.ExecContext(context.Background(), "ROLLBACK")
	cerr := dest.Close()
	if err = errors.Join(err, rerr, cerr); err != nil {
		os.Remove(destPath)
		os.Remove(destPath + "-wal")
		os.Remove(destPath + "-shm")
		return fmt.Errorf("backup to %s: %w", destPath, err)
	}
	return nil
}
