package sinks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/warroom/warroom/internal/clock"
)

// Delivery tunes the Dispatcher. DefaultDelivery holds the defaults; in a configuration
// file they apply to keys left out.
type Delivery struct {
	// BatchSize is the most events per Send (default 100).
	BatchSize int `yaml:"batch_size"`
	// Timeout bounds one Send (default 30s).
	Timeout time.Duration `yaml:"timeout"`
	// InitialBackoff is the wait after the first failure (default 1s); it doubles with
	// each failure in a row up to MaxBackoff (default 5m).
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	MaxBackoff     time.Duration `yaml:"max_backoff"`
	// Jitter is the share of each backoff that is randomised, in [0, 1] (default 0.2).
	Jitter float64 `yaml:"jitter"`
	// MaxRetryAfter caps how long a receiver's Retry-After can hold a sink (default 15m).
	MaxRetryAfter time.Duration `yaml:"max_retry_after"`
	// HaltedRetry is how long a sink halted by a Permanent error waits before it is
	// tried again (default 5m); Resume tries at once.
	HaltedRetry time.Duration `yaml:"halted_retry"`
	// Poll makes an idle sink look at its queue this often even when nothing was
	// published in this process (default 30s; 0 turns polling off).
	Poll time.Duration `yaml:"poll"`
}

// DefaultDelivery returns the default delivery settings.
func DefaultDelivery() Delivery {
	return Delivery{
		BatchSize:      100,
		Timeout:        30 * time.Second,
		InitialBackoff: time.Second,
		MaxBackoff:     5 * time.Minute,
		Jitter:         0.2,
		MaxRetryAfter:  15 * time.Minute,
		HaltedRetry:    5 * time.Minute,
		Poll:           30 * time.Second,
	}
}

const maxBatchSize = 10000

// Validate checks the delivery settings.
func (d Delivery) Validate() error {
	switch {
	case d.BatchSize < 1 || d.BatchSize > maxBatchSize:
		return fmt.Errorf("delivery.batch_size: %d is outside 1..%d", d.BatchSize, maxBatchSize)
	case d.Timeout <= 0:
		return fmt.Errorf("delivery.timeout: %s must be positive", d.Timeout)
	case d.InitialBackoff <= 0:
		return fmt.Errorf("delivery.initial_backoff: %s must be positive", d.InitialBackoff)
	case d.MaxBackoff < d.InitialBackoff:
		return fmt.Errorf("delivery.max_backoff: %s is below delivery.initial_backoff %s", d.MaxBackoff, d.InitialBackoff)
	case d.Jitter < 0 || d.Jitter > 1 || math.IsNaN(d.Jitter):
		return fmt.Errorf("delivery.jitter: %g is outside [0, 1]", d.Jitter)
	case d.MaxRetryAfter <= 0:
		return fmt.Errorf("delivery.max_retry_after: %s must be positive", d.MaxRetryAfter)
	case d.HaltedRetry <= 0:
		return fmt.Errorf("delivery.halted_retry: %s must be positive", d.HaltedRetry)
	case d.Poll < 0:
		return fmt.Errorf("delivery.poll: %s is negative; use 0s to turn polling off", d.Poll)
	}
	return nil
}

// withDefaults fills the zero fields a program left out; Jitter and Poll keep zero.
func (d Delivery) withDefaults() Delivery {
	def := DefaultDelivery()
	if d.BatchSize == 0 {
		d.BatchSize = def.BatchSize
	}
	if d.Timeout == 0 {
		d.Timeout = def.Timeout
	}
	if d.InitialBackoff == 0 {
		d.InitialBackoff = def.InitialBackoff
	}
	if d.MaxBackoff == 0 {
		d.MaxBackoff = max(def.MaxBackoff, d.InitialBackoff)
	}
	if d.MaxRetryAfter == 0 {
		d.MaxRetryAfter = def.MaxRetryAfter
	}
	if d.HaltedRetry == 0 {
		d.HaltedRetry = def.HaltedRetry
	}
	return d
}

// Options builds a Dispatcher.
type Options struct {
	// Queue holds the events; required.
	Queue Queue
	// Sinks are the receivers, with distinct names.
	Sinks []Sink
	// Delivery tunes batching and retries; zero fields take their defaults, except
	// Jitter and Poll, for which zero means none.
	Delivery Delivery
	// Clock stamps the statistics (default the wall clock).
	Clock clock.Clock
	// After is the timer for backoffs and polling (default time.After). Tests pass one
	// that fires at once and records the waits.
	After func(time.Duration) <-chan time.Time
	// Rand returns a float in [0, 1) for jitter (default math/rand/v2).
	Rand func() float64
	// Logger receives delivery failures and dropped events (default discards).
	Logger *slog.Logger
}

// Dispatcher delivers queued events to each sink, in order per sink, at least once.
type Dispatcher struct {
	q       Queue
	opts    Options
	names   []string
	workers []*worker
	byName  map[string]*worker
}

// Stats describes one sink's delivery since the Dispatcher started.
type Stats struct {
	Sink string
	// Delivered and Dropped count events; Failures counts failed Sends.
	Delivered, Dropped, Failures uint64
	// Halted is set while the sink waits for a human after a Permanent error.
	Halted bool
	// LastError is the most recent failure, empty after a success.
	LastError string
	// LastDelivery is when the sink last accepted events.
	LastDelivery time.Time
}

// NewDispatcher checks opts and returns a Dispatcher; call Run to start delivering.
func NewDispatcher(opts Options) (*Dispatcher, error) {
	if opts.Queue == nil {
		return nil, errors.New("sinks: NewDispatcher needs a Queue")
	}
	opts.Delivery = opts.Delivery.withDefaults()
	if err := opts.Delivery.Validate(); err != nil {
		return nil, err
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.After == nil {
		opts.After = time.After
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{q: opts.Queue, opts: opts, byName: map[string]*worker{}}
	for i, s := range opts.Sinks {
		if s == nil {
			return nil, fmt.Errorf("sinks: sink %d is nil", i)
		}
		name := s.Name()
		if err := checkName(name); err != nil {
			return nil, fmt.Errorf("sinks: sink %d: %w", i, err)
		}
		if _, dup := d.byName[name]; dup {
			return nil, fmt.Errorf("sinks: two sinks are named %q; give each a distinct name", name)
		}
		w := &worker{
			d:      d,
			sink:   s,
			name:   name,
			log:    opts.Logger.With("sink", name),
			wake:   make(chan struct{}, 1),
			resume: make(chan struct{}, 1),
		}
		w.st.Sink = name
		d.byName[name] = w
		d.workers = append(d.workers, w)
		d.names = append(d.names, name)
	}
	return d, nil
}

// Sinks lists the sink names in configuration order.
func (d *Dispatcher) Sinks() []string { return append([]string(nil), d.names...) }

// Publish validates events and stores them, in order, in the queue of every sink; it
// returns once they are durable. Delivery happens in Run.
func (d *Dispatcher) Publish(ctx context.Context, events ...Event) error {
	for i := range events {
		if err := events[i].Validate(); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	if len(events) == 0 || len(d.names) == 0 {
		return nil
	}
	if err := d.q.Enqueue(ctx, d.names, events); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	d.Notify()
	return nil
}

// Notify wakes idle sinks to look at their queues: call it after enqueueing events by
// another path (in the same transaction as an incident change, say).
func (d *Dispatcher) Notify() {
	for _, w := range d.workers {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// Resume makes a halted or backing-off sink try again at once (after its token or
// configuration was fixed).
func (d *Dispatcher) Resume(name string) error {
	w, ok := d.byName[name]
	if !ok {
		return fmt.Errorf("resume: no sink is named %q", name)
	}
	select {
	case w.resume <- struct{}{}:
	default:
	}
	return nil
}

// Stats returns each sink's statistics, in configuration order.
func (d *Dispatcher) Stats() []Stats {
	out := make([]Stats, len(d.workers))
	for i, w := range d.workers {
		w.smu.Lock()
		out[i] = w.st
		w.smu.Unlock()
	}
	return out
}

// Backlog returns how many events wait for each sink.
func (d *Dispatcher) Backlog(ctx context.Context) (map[string]int, error) {
	out := make(map[string]int, len(d.names))
	for _, n := range d.names {
		c, err := d.q.Len(ctx, n)
		if err != nil {
			return nil, err
		}
		out[n] = c
	}
	return out, nil
}

// Run delivers until ctx ends, one goroutine per sink, and then returns nil.
func (d *Dispatcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, w := range d.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(ctx)
		}()
	}
	wg.Wait()
	return nil
}

// Flush delivers until every sink's queue is empty, waiting out backoffs; it returns
// early for a sink halted by a Permanent error, with that error. It is for shutdown
// and tests; Run is the normal way to deliver.
func (d *Dispatcher) Flush(ctx context.Context) error {
	errs := make([]error, len(d.workers))
	var wg sync.WaitGroup
	for i, w := range d.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = w.flush(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close closes the sinks that hold connections. Call it after Run has returned.
func (d *Dispatcher) Close() error {
	var errs []error
	for _, w := range d.workers {
		if c, ok := w.sink.(Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close sink %s: %w", w.name, err))
			}
		}
	}
	return errors.Join(errs...)
}

type outcome int

const (
	progressed outcome = iota // something was delivered, dropped or re-planned: go on
	idle                      // the queue is empty
	backingOff                // wait, then try again
	halted                    // a Permanent error: wait long, or for Resume
	stopped                   // ctx ended
)

type worker struct {
	d      *Dispatcher
	sink   Sink
	name   string
	log    *slog.Logger
	wake   chan struct{}
	resume chan struct{}

	mu             sync.Mutex // serialises step between Run and Flush
	failures       int        // failed sends in a row
	isolateThrough int64      // while > 0, send one event at a time up to this queue id
	haltErr        error

	smu sync.Mutex
	st  Stats
}

func (w *worker) run(ctx context.Context) {
	for ctx.Err() == nil {
		o, wait := w.step(ctx)
		switch o {
		case idle:
			var poll <-chan time.Time
			if w.d.opts.Delivery.Poll > 0 {
				poll = w.d.opts.After(w.d.opts.Delivery.Poll)
			}
			select {
			case <-w.wake:
			case <-w.resume:
			case <-poll:
			case <-ctx.Done():
			}
		case backingOff, halted:
			// New events do not cut a backoff short: a receiver that is down or
			// throttling is not hammered. Resume does.
			select {
			case <-w.d.opts.After(wait):
			case <-w.resume:
			case <-ctx.Done():
			}
		}
	}
}

func (w *worker) flush(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("flush sink %s: %w", w.name, err)
		}
		o, wait := w.step(ctx)
		switch o {
		case idle:
			return nil
		case halted:
			w.mu.Lock()
			err := w.haltErr
			w.mu.Unlock()
			return fmt.Errorf("sink %s is halted, its events stay queued: %w", w.name, err)
		case backingOff:
			select {
			case <-w.d.opts.After(wait):
			case <-ctx.Done():
			}
		}
	}
}

// step sends the oldest pending events once and settles the outcome.
func (w *worker) step(ctx context.Context) (outcome, time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	q, opts := w.d.q, w.d.opts
	limit := opts.Delivery.BatchSize
	if w.isolateThrough > 0 {
		limit = 1
	}
	items, err := q.Pending(ctx, w.name, limit)
	if err != nil {
		if ctx.Err() != nil {
			return stopped, 0
		}
		return w.failed(err, "cannot read the queue")
	}
	if len(items) == 0 {
		w.isolateThrough = 0
		return idle, 0
	}
	if w.isolateThrough > 0 && items[0].ID > w.isolateThrough {
		// Past the rejected batch: back to full batches.
		w.isolateThrough = 0
		if items, err = q.Pending(ctx, w.name, opts.Delivery.BatchSize); err != nil {
			if ctx.Err() != nil {
				return stopped, 0
			}
			return w.failed(err, "cannot read the queue")
		}
		if len(items) == 0 {
			return idle, 0
		}
	}

	events := make([]Event, 0, len(items))
	ids := make([]int64, 0, len(items))
	var bad []int64
	for _, it := range items {
		if it.Bad != nil {
			w.log.Error("dropping an unreadable entry of the sink queue", "queue_id", it.ID, "err", it.Bad)
			bad = append(bad, it.ID)
			continue
		}
		events = append(events, it.Event)
		ids = append(ids, it.ID)
	}
	if len(bad) > 0 {
		if err := q.Ack(ctx, w.name, bad); err != nil {
			return w.failed(err, "cannot remove unreadable entries from the queue")
		}
		w.count(0, uint64(len(bad)))
	}
	if len(events) == 0 {
		return progressed, 0
	}

	sctx, cancel := context.WithTimeout(ctx, opts.Delivery.Timeout)
	err = w.sink.Send(sctx, events)
	cancel()
	if err != nil && ctx.Err() != nil {
		return stopped, 0 // shutting down: the events stay queued
	}

	var be *BatchError
	switch {
	case err == nil:
		if err := q.Ack(ctx, w.name, ids); err != nil {
			// Delivered but still queued: they will be sent again (at least once).
			return w.failed(err, "delivered, but cannot remove the events from the queue")
		}
		w.succeeded(uint64(len(ids)), 0)
		return progressed, 0

	case errors.As(err, &be):
		retry := make(map[int]bool, len(be.Retry))
		for _, i := range be.Retry {
			if i >= 0 && i < len(events) {
				retry[i] = true
			}
		}
		dropped := 0
		for _, it := range be.Dropped {
			if it.Index < 0 || it.Index >= len(events) || retry[it.Index] {
				continue
			}
			dropped++
			ev := events[it.Index]
			w.log.Error("the receiver refused an event; it is dropped", "event", ev.ID, "type", string(ev.Type), "incident", ev.Incident, "err", it.Err)
		}
		done := make([]int64, 0, len(ids))
		for i, id := range ids {
			if !retry[i] {
				done = append(done, id)
			}
		}
		if err := q.Ack(ctx, w.name, done); err != nil {
			return w.failed(err, "delivered in part, but cannot remove the events from the queue")
		}
		if len(retry) == 0 {
			w.succeeded(uint64(len(done)-dropped), uint64(dropped))
			return progressed, 0
		}
		w.count(uint64(len(done)-dropped), uint64(dropped))
		cause := be.Err
		if cause == nil {
			cause = be
		}
		return w.failed(cause, fmt.Sprintf("%d of %d events must be sent again", len(retry), len(events)))

	case IsRejected(err):
		if len(events) > 1 {
			w.isolateThrough = ids[len(ids)-1]
			w.log.Warn("the receiver rejected a batch; sending its events one at a time to find the refused ones", "events", len(events), "err", err)
			return progressed, 0
		}
		if err := q.Ack(ctx, w.name, ids); err != nil {
			return w.failed(err, "cannot remove a refused event from the queue")
		}
		ev := events[0]
		w.log.Error("the receiver refused an event; it is dropped", "event", ev.ID, "type", string(ev.Type), "incident", ev.Incident, "err", err)
		w.count(0, 1)
		return progressed, 0

	case IsPermanent(err):
		w.failures++
		w.haltErr = err
		w.smu.Lock()
		w.st.Failures++
		w.st.Halted = true
		w.st.LastError = err.Error()
		w.smu.Unlock()
		w.log.Error("sink halted until its configuration is fixed; its events stay queued", "retry_in", opts.Delivery.HaltedRetry, "err", err)
		return halted, opts.Delivery.HaltedRetry

	default:
		return w.failed(err, "delivery failed")
	}
}

// failed records a retryable failure and returns the backoff to wait.
func (w *worker) failed(err error, what string) (outcome, time.Duration) {
	w.failures++
	wait := w.backoff(err)
	w.smu.Lock()
	w.st.Failures++
	w.st.LastError = err.Error()
	w.smu.Unlock()
	w.log.Warn(what+"; will retry", "failures_in_a_row", w.failures, "retry_in", wait, "err", err)
	return backingOff, wait
}

// backoff is InitialBackoff doubled per failure in a row, capped, less jitter, and at
// least what a Retry-After asked for (capped by MaxRetryAfter).
func (w *worker) backoff(err error) time.Duration {
	d := w.d.opts.Delivery
	wait := float64(d.InitialBackoff) * math.Pow(2, float64(w.failures-1))
	if wait > float64(d.MaxBackoff) || math.IsInf(wait, 0) {
		wait = float64(d.MaxBackoff)
	}
	if d.Jitter > 0 {
		wait -= wait * d.Jitter * w.d.opts.Rand()
	}
	out := time.Duration(wait)
	if ra, ok := RetryDelay(err); ok {
		out = max(out, min(ra, d.MaxRetryAfter))
	}
	return out
}

func (w *worker) succeeded(delivered, dropped uint64) {
	w.failures = 0
	w.haltErr = nil
	w.smu.Lock()
	w.st.Halted = false
	w.st.LastError = ""
	w.smu.Unlock()
	w.count(delivered, dropped)
}

func (w *worker) count(delivered, dropped uint64) {
	w.smu.Lock()
	defer w.smu.Unlock()
	w.st.Delivered += delivered
	w.st.Dropped += dropped
	if delivered > 0 {
		w.st.LastDelivery = w.d.opts.Clock.Now()
	}
}
