package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gormkit/gormkit/internal/dialect"
)

// HandlerFunc handles one claimed message. Returning nil marks it
// delivered; an error retries it with backoff, or dead-letters it when the
// error is Permanent or the attempt was the last. Delivery is at least
// once: handlers must tolerate seeing a message again (use Message.ID).
type HandlerFunc func(ctx context.Context, msg Message) error

// Route selects a handler by message kind and name. Name "*" matches every
// name of the kind that has no handler of its own.
type Route struct {
	// Kind is KindEvent or KindJob.
	Kind string
	// Name is the message name, or AnyName.
	Name string
}

// AnyName is the Route name that matches every message name of a kind.
const AnyName = "*"

// RelayConfig configures a Relay. The zero value takes every default.
type RelayConfig struct {
	// Handlers routes messages to handlers; more can be added with Handle.
	// Default none. A message without a handler fails with ErrNoHandler and
	// is retried with backoff like any failure (so a message written by a
	// newer release survives a rolling deploy), until its attempts are used
	// up and it is dead-lettered.
	Handlers map[Route]HandlerFunc
	// BatchSize is the most messages one claim takes. Default 100.
	BatchSize int
	// Lease is how long a claim holds its messages. It must cover a whole
	// batch: handlers run BatchSize/Concurrency deep, and the batch is
	// written back when its last handler returns. A claim whose lease ran
	// out may be taken by another worker, and its write-back is then lost
	// (counted in Counts.Lost). Default 30s.
	Lease time.Duration
	// Concurrency is the number of goroutines running the handlers of a
	// claimed batch. Default 4.
	Concurrency int
	// PollInterval is the wait after a claim that found less than a full
	// batch, or failed. Default 1s.
	PollInterval time.Duration
	// ShutdownTimeout bounds how long in-flight handlers may run on after
	// the context of Run or DrainOnce is cancelled; then their context is
	// cancelled and the relay stops waiting for them (their messages are
	// claimed again after the lease). It also bounds each write-back.
	// Default 10s.
	ShutdownTimeout time.Duration
	// Retry decides the delay before a failed message is retried. Default
	// ExponentialBackoff{} (1s doubling to 1h, ±20% jitter).
	Retry RetryPolicy
	// Logger receives failures at Warn and errors of the relay itself at
	// Error. Default slog.Default().
	Logger *slog.Logger
}

// Relay defaults.
const (
	DefaultBatchSize       = 100
	DefaultLease           = 30 * time.Second
	DefaultConcurrency     = 4
	DefaultPollInterval    = time.Second
	DefaultShutdownTimeout = 10 * time.Second
)

// WithDefaults returns c with its zero fields set to their defaults.
func (c RelayConfig) WithDefaults() RelayConfig {
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.Lease == 0 {
		c.Lease = DefaultLease
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.Retry == nil {
		c.Retry = ExponentialBackoff{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c RelayConfig) validate() error {
	switch {
	case c.BatchSize < 1:
		return invalid("RelayConfig.BatchSize is %d, want at least 1", c.BatchSize)
	case c.Lease <= 0:
		return invalid("RelayConfig.Lease is %v, want a positive duration", c.Lease)
	case c.Concurrency < 1:
		return invalid("RelayConfig.Concurrency is %d, want at least 1", c.Concurrency)
	case c.PollInterval <= 0:
		return invalid("RelayConfig.PollInterval is %v, want a positive duration", c.PollInterval)
	case c.ShutdownTimeout <= 0:
		return invalid("RelayConfig.ShutdownTimeout is %v, want a positive duration", c.ShutdownTimeout)
	}
	return nil
}

// Counts tallies what a relay did.
type Counts struct {
	// Claimed is the number of messages claimed for a handler.
	Claimed int
	// Delivered is the number of messages marked delivered.
	Delivered int
	// Retried is the number of failed messages scheduled for another attempt.
	Retried int
	// DeadLettered is the number of messages dead-lettered: by a permanent
	// error, a failed last attempt, or by the claim when the last attempt's
	// lease had expired.
	DeadLettered int
	// Released is the number of claimed messages handed back unstarted at
	// shutdown.
	Released int
	// Lost is the number of write-backs that found their claim lost
	// (ErrClaimLost), usually because handlers outran the lease.
	Lost int
}

func (c *Counts) add(d Counts) {
	c.Claimed += d.Claimed
	c.Delivered += d.Delivered
	c.Retried += d.Retried
	c.DeadLettered += d.DeadLettered
	c.Released += d.Released
	c.Lost += d.Lost
}

// Relay claims messages in batches and hands them to handlers routed by
// kind and name. Several relays, in one process or many, may run on one
// table: claims never overlap while their leases hold.
type Relay struct {
	o   *Outbox
	cfg RelayConfig

	mu       sync.RWMutex
	handlers map[Route]HandlerFunc

	totalsMu sync.Mutex
	totals   Counts
}

// NewRelay returns a relay on o configured by cfg.
func NewRelay(o *Outbox, cfg RelayConfig) (*Relay, error) {
	if o == nil {
		return nil, invalid("nil outbox")
	}
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Relay{o: o, cfg: cfg, handlers: map[Route]HandlerFunc{}}
	for route, h := range cfg.Handlers {
		if err := r.Handle(route.Kind, route.Name, h); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Handle routes messages of kind and name (AnyName for all names of the
// kind without their own handler) to h, replacing any handler of that
// route. It is safe to call while the relay runs.
func (r *Relay) Handle(kind, name string, h HandlerFunc) error {
	if kind != KindEvent && kind != KindJob {
		return invalid("handler kind %q is not %q or %q", kind, KindEvent, KindJob)
	}
	if name == "" {
		return invalid("handler name is empty (use %q for every name)", AnyName)
	}
	if h == nil {
		return invalid("nil handler for %s %q", kind, name)
	}
	r.mu.Lock()
	r.handlers[Route{kind, name}] = h
	r.mu.Unlock()
	return nil
}

func (r *Relay) route(kind, name string) HandlerFunc {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if h, ok := r.handlers[Route{kind, name}]; ok {
		return h
	}
	return r.handlers[Route{kind, AnyName}]
}

// Totals returns what the relay has done since it was made, over every
// Run and DrainOnce.
func (r *Relay) Totals() Counts {
	r.totalsMu.Lock()
	defer r.totalsMu.Unlock()
	return r.totals
}

// Run claims and processes batches until ctx is cancelled, then shuts down
// gracefully: it stops claiming, lets in-flight handlers finish (for at
// most ShutdownTimeout), writes their results back, releases the claimed
// messages no handler started so other workers take them at once, and
// returns nil. Database errors are logged and retried after PollInterval.
func (r *Relay) Run(ctx context.Context) error {
	hctx, stop := r.handlerContext(ctx)
	defer stop()
	timer := time.NewTimer(r.cfg.PollInterval)
	timer.Stop()
	defer timer.Stop()
	for ctx.Err() == nil {
		_, rows, err := r.step(ctx, hctx)
		if err != nil && ctx.Err() == nil {
			r.cfg.Logger.LogAttrs(ctx, slog.LevelError, "outbox relay: claim failed", slog.String("table", r.o.cfg.Table), slog.Any("error", err))
		}
		if err == nil && rows >= r.cfg.BatchSize {
			continue // a full batch: more are likely waiting
		}
		timer.Reset(r.cfg.PollInterval)
		select {
		case <-ctx.Done():
		case <-timer.C:
		}
	}
	return nil
}

// DrainOnce claims and processes batches until a claim finds no available
// message, then returns what it did; for cron-style use. Messages retried
// with a delay are not waited for. A cancelled ctx shuts down as Run does
// and returns the counts so far with ctx's error.
func (r *Relay) DrainOnce(ctx context.Context) (Counts, error) {
	hctx, stop := r.handlerContext(ctx)
	defer stop()
	var total Counts
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		c, rows, err := r.step(ctx, hctx)
		total.add(c)
		if err != nil {
			if ctx.Err() != nil {
				return total, ctx.Err()
			}
			return total, err
		}
		if rows == 0 {
			return total, nil
		}
	}
}

// handlerContext returns the context handlers run with: not cancelled with
// ctx, but ShutdownTimeout after it.
func (r *Relay) handlerContext(ctx context.Context) (context.Context, func()) {
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(r.cfg.ShutdownTimeout, cancel) })
	return hctx, func() { stop(); cancel() }
}

// step claims one batch, runs it and writes it back. rows counts the rows
// the claim took, dead-lettered ones included.
func (r *Relay) step(ctx, hctx context.Context) (Counts, int, error) {
	b, err := r.o.Claim(ctx, r.cfg.BatchSize, r.cfg.Lease)
	if err != nil {
		return Counts{}, 0, err
	}
	c := Counts{Claimed: len(b.Messages), DeadLettered: len(b.DeadLettered)}
	for _, id := range b.DeadLettered {
		r.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "outbox relay: dead-lettered a message whose last attempt never reported back",
			slog.String("id", id))
	}
	if len(b.Messages) > 0 {
		c.add(r.writeBack(ctx, b, r.runHandlers(ctx, hctx, b.Messages)))
	}
	r.totalsMu.Lock()
	r.totals.add(c)
	r.totalsMu.Unlock()
	return c, len(b.Messages) + len(b.DeadLettered), nil
}

// Outcomes of one message in a batch.
type outcome uint8

const (
	notStarted outcome = iota
	running
	succeeded
	failed
)

// batchRun is the shared state of a batch's workers.
type batchRun struct {
	mu        sync.Mutex
	state     []outcome
	errs      []error
	abandoned bool
}

func (b *batchRun) start(i int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.abandoned {
		return false
	}
	b.state[i] = running
	return true
}

func (b *batchRun) finish(i int, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.abandoned {
		return
	}
	if err == nil {
		b.state[i] = succeeded
	} else {
		b.state[i], b.errs[i] = failed, err
	}
}

// abandonGrace is how long the relay still waits, once the shutdown timeout
// cancelled the handlers' context, for handlers to return.
const abandonGrace = 250 * time.Millisecond

// runHandlers runs msgs on Concurrency goroutines. Once ctx is cancelled no
// new handler starts. It returns when every started handler returned, or
// when hctx is cancelled (shutdown timeout) and a short grace passed; the
// handlers still running then are abandoned.
func (r *Relay) runHandlers(ctx, hctx context.Context, msgs []Message) *batchRun {
	run := &batchRun{state: make([]outcome, len(msgs)), errs: make([]error, len(msgs))}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(r.cfg.Concurrency, len(msgs)) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(msgs) || !run.start(i) {
					return
				}
				run.finish(i, r.call(hctx, msgs[i]))
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-hctx.Done():
		select {
		case <-done:
		case <-time.After(abandonGrace):
		}
	}
	run.mu.Lock()
	run.abandoned = true
	run.mu.Unlock()
	return run
}

// call runs the handler of m, turning a panic into an error.
func (r *Relay) call(ctx context.Context, m Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.cfg.Logger.LogAttrs(ctx, slog.LevelError, "outbox relay: handler panicked",
				slog.String("id", m.ID), slog.String("kind", m.Kind), slog.String("name", m.Name),
				slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
			err = fmt.Errorf("outbox: handler for %s %q panicked: %v", m.Kind, m.Name, p)
		}
	}()
	if m.headerErr != nil {
		return Permanent(m.headerErr)
	}
	h := r.route(m.Kind, m.Name)
	if h == nil {
		return fmt.Errorf("%w for %s %q", ErrNoHandler, m.Kind, m.Name)
	}
	return h(ctx, m)
}

// writeBack records the batch's outcomes: successes in one statement,
// failures one by one, unstarted messages released in one statement.
// Abandoned (still running) messages are left to their lease.
func (r *Relay) writeBack(ctx context.Context, b Batch, run *batchRun) Counts {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.ShutdownTimeout)
	defer cancel()
	var c Counts
	var delivered, unstarted []string
	for i, m := range b.Messages {
		switch run.state[i] {
		case succeeded:
			delivered = append(delivered, m.ID)
		case notStarted:
			unstarted = append(unstarted, m.ID)
		case failed:
			r.writeFailure(wctx, m, run.errs[i], &c)
		}
	}
	if len(delivered) > 0 {
		err := r.retrying(wctx, func() error { return r.o.MarkDelivered(wctx, b.Token, delivered...) })
		c.Delivered += len(delivered) - r.countLost(wctx, err, len(delivered), &c, "mark delivered")
	}
	if len(unstarted) > 0 {
		err := r.retrying(wctx, func() error { return r.o.Release(wctx, b.Token, unstarted...) })
		c.Released += len(unstarted) - r.countLost(wctx, err, len(unstarted), &c, "release")
	}
	return c
}

func (r *Relay) writeFailure(ctx context.Context, m Message, cause error, c *Counts) {
	if IsPermanent(cause) || m.LastAttempt() {
		err := r.retrying(ctx, func() error { return r.o.DeadLetter(ctx, m.ClaimToken, m.ID, cause.Error()) })
		if r.countLost(ctx, err, 1, c, "dead-letter") == 0 {
			c.DeadLettered++
			r.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "outbox relay: dead-lettered a message",
				slog.String("id", m.ID), slog.String("kind", m.Kind), slog.String("name", m.Name),
				slog.Int("attempt", m.Attempt), slog.Any("error", cause))
		}
		return
	}
	delay := r.cfg.Retry.Delay(m.Attempt, cause)
	at := r.o.now().Add(delay)
	err := r.retrying(ctx, func() error { return r.o.Retry(ctx, m.ClaimToken, m.ID, at, cause.Error()) })
	if r.countLost(ctx, err, 1, c, "retry") == 0 {
		c.Retried++
		r.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "outbox relay: handler failed, will retry",
			slog.String("id", m.ID), slog.String("kind", m.Kind), slog.String("name", m.Name),
			slog.Int("attempt", m.Attempt), slog.Duration("delay", delay), slog.Any("error", cause))
	}
}

// countLost returns how many of n written messages err says were not
// written, counting lost claims in c and logging other errors (those
// messages stay leased and are claimed again after the lease).
func (r *Relay) countLost(ctx context.Context, err error, n int, c *Counts, action string) int {
	if err == nil {
		return 0
	}
	var lostErr *ClaimLostError
	switch {
	case errors.As(err, &lostErr):
		c.Lost += len(lostErr.IDs)
		n = len(lostErr.IDs)
	case errors.Is(err, ErrClaimLost):
		c.Lost += n
	}
	r.cfg.Logger.LogAttrs(ctx, slog.LevelError, "outbox relay: "+action+" failed", slog.Int("messages", n), slog.Any("error", err))
	return n
}

// retrying runs a write-back again, up to three times, when it failed with
// a deadlock or lock timeout.
func (r *Relay) retrying(ctx context.Context, fn func() error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = fn()
		if err == nil || attempt == 3 || !dialect.IsRetryable(err) || ctx.Err() != nil {
			return err
		}
		time.Sleep(time.Duration(attempt) * 10 * time.Millisecond)
	}
}
