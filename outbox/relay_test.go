package outbox_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/internal/testdb"
	"github.com/gormkit/gormkit/models"
	"github.com/gormkit/gormkit/outbox"
)

func TestCompetingRelaysDeliverEachMessageOnce(t *testing.T) {
	const messages, relays = 2000, 4
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		// Real time here: the relays race for real.
		ob, err := outbox.New(db.Gorm, outbox.Config{Table: b.table})
		require.NoError(t, err)
		b.ob = ob
		b.enqueueJobs(t, messages, "work")

		var seen sync.Map // id -> *atomic.Int32
		var delivered atomic.Int64
		handler := func(ctx context.Context, m outbox.Message) error {
			n, _ := seen.LoadOrStore(m.ID, new(atomic.Int32))
			n.(*atomic.Int32).Add(1)
			delivered.Add(1)
			return nil
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var wg sync.WaitGroup
		rs := make([]*outbox.Relay, relays)
		for i := range rs {
			rs[i] = b.relay(t, outbox.RelayConfig{BatchSize: 50, Concurrency: 4, Lease: time.Minute,
				Handlers: map[outbox.Route]outbox.HandlerFunc{{Kind: outbox.KindJob, Name: "work"}: handler}})
			wg.Go(func() { require.NoError(t, rs[i].Run(ctx)) })
		}
		require.Eventually(t, func() bool { return b.count(t, outbox.StatusDelivered) == messages }, time.Minute, 20*time.Millisecond)
		cancel()
		wg.Wait()

		require.Equal(t, int64(messages), delivered.Load())
		distinct := 0
		seen.Range(func(id, n any) bool {
			distinct++
			require.Equal(t, int32(1), n.(*atomic.Int32).Load(), "message %s delivered more than once", id)
			return true
		})
		require.Equal(t, messages, distinct)
		var total outbox.Counts
		for _, r := range rs {
			c := r.Totals()
			require.Zero(t, c.Retried+c.DeadLettered+c.Lost+c.Released, "%+v", c)
			total.Claimed += c.Claimed
			total.Delivered += c.Delivered
		}
		require.Equal(t, messages, total.Claimed)
		require.Equal(t, messages, total.Delivered)
		require.Equal(t, int64(0), b.count(t, outbox.StatusPending))
	})
}

func TestRetryBackoffThenDeadLetter(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		id := b.enqueueJobs(t, 1, "flaky", func(m *outbox.NewMessage) { m.MaxAttempts = 4 })[0]
		policy := outbox.ExponentialBackoff{Initial: time.Second, Multiplier: 3, Max: 5 * time.Second, Jitter: 0.5, Rand: fixedRand(0.75)}
		var attempts []int
		r := b.relay(t, outbox.RelayConfig{Retry: policy, Handlers: map[outbox.Route]outbox.HandlerFunc{
			{Kind: outbox.KindJob, Name: "flaky"}: func(ctx context.Context, m outbox.Message) error {
				attempts = append(attempts, m.Attempt)
				return errBoom
			},
		}})
		// Jitter factor 1 - 0.5 + 2*0.5*0.75 = 1.25: 1.25s, 3.75s, then
		// 9s*1.25 capped at 5s.
		for _, want := range []time.Duration{1250 * time.Millisecond, 3750 * time.Millisecond, 5 * time.Second} {
			c, err := r.DrainOnce(b.ctx)
			require.NoError(t, err)
			require.Equal(t, outbox.Counts{Claimed: 1, Retried: 1}, c)
			row := b.row(t, id)
			require.Equal(t, models.UTC(b.clock.Now().Add(want)), row.AvailableAt.UTC())
			require.Equal(t, "boom", *row.LastError)
			require.Nil(t, row.ClaimToken)

			b.clock.Advance(want - time.Microsecond)
			c, err = r.DrainOnce(b.ctx)
			require.NoError(t, err)
			require.Zero(t, c.Claimed, "not before the backoff")
			b.clock.Advance(time.Microsecond)
		}
		c, err := r.DrainOnce(b.ctx)
		require.NoError(t, err)
		require.Equal(t, outbox.Counts{Claimed: 1, DeadLettered: 1}, c, "the last attempt's failure dead-letters")
		require.Equal(t, []int{1, 2, 3, 4}, attempts)
		row := b.row(t, id)
		require.Equal(t, outbox.StatusDeadLettered, row.Status)
		require.Equal(t, 4, row.Attempts)
		require.Equal(t, "boom", *row.LastError)
	})
}

func TestPermanentErrorsPanicsAndUnknownRoutes(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		ids, err := b.ob.Enqueue(b.ctx,
			outbox.NewMessage{Kind: outbox.KindJob, Name: "reject", Payload: 1},
			outbox.NewMessage{Kind: outbox.KindJob, Name: "explode", Payload: 2},
			outbox.NewMessage{Kind: outbox.KindJob, Name: "nobody", Payload: 3},
			outbox.NewMessage{Kind: outbox.KindEvent, Name: "anything", Payload: 4},
		)
		require.NoError(t, err)
		r := b.relay(t, outbox.RelayConfig{Retry: outbox.RetryPolicyFunc(func(int, error) time.Duration { return time.Minute })})
		require.NoError(t, r.Handle(outbox.KindJob, "reject", func(context.Context, outbox.Message) error {
			return outbox.Permanent(errors.New("malformed order"))
		}))
		require.NoError(t, r.Handle(outbox.KindJob, "explode", func(context.Context, outbox.Message) error { panic("kaboom") }))
		require.NoError(t, r.Handle(outbox.KindEvent, outbox.AnyName, func(context.Context, outbox.Message) error { return nil }))
		require.ErrorIs(t, r.Handle("command", "x", func(context.Context, outbox.Message) error { return nil }), outbox.ErrInvalid)
		require.ErrorIs(t, r.Handle(outbox.KindJob, "x", nil), outbox.ErrInvalid)

		c, err := r.DrainOnce(b.ctx)
		require.NoError(t, err)
		require.Equal(t, outbox.Counts{Claimed: 4, Delivered: 1, Retried: 2, DeadLettered: 1}, c)

		reject := b.row(t, ids[0])
		require.Equal(t, outbox.StatusDeadLettered, reject.Status, "a permanent error dead-letters on the first attempt")
		require.Equal(t, 1, reject.Attempts)
		require.Equal(t, "malformed order", *reject.LastError)

		explode := b.row(t, ids[1])
		require.Equal(t, outbox.StatusPending, explode.Status)
		require.Contains(t, *explode.LastError, "panicked: kaboom")

		nobody := b.row(t, ids[2])
		require.Equal(t, outbox.StatusPending, nobody.Status, "an unrouted message is retried")
		require.Contains(t, *nobody.LastError, "no handler")
		require.Equal(t, models.UTC(b.clock.Now().Add(time.Minute)), nobody.AvailableAt.UTC())

		require.Equal(t, outbox.StatusDelivered, b.row(t, ids[3]).Status, "AnyName routes every event name")
	})
}

func TestGracefulShutdownReleasesUnstarted(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		ids := b.enqueueJobs(t, 5, "slow")
		started, finish := make(chan string, 5), make(chan struct{})
		r := b.relay(t, outbox.RelayConfig{Concurrency: 1, BatchSize: 5, Handlers: map[outbox.Route]outbox.HandlerFunc{
			{Kind: outbox.KindJob, Name: "slow"}: func(ctx context.Context, m outbox.Message) error {
				started <- m.ID
				<-finish
				return nil
			},
		}})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- r.Run(ctx) }()
		require.Equal(t, ids[0], <-started)
		cancel()      // stop claiming and starting handlers...
		close(finish) // ...but let the one in flight finish
		require.NoError(t, <-done)

		require.Equal(t, outbox.Counts{Claimed: 5, Delivered: 1, Released: 4}, r.Totals())
		require.Equal(t, outbox.StatusDelivered, b.row(t, ids[0]).Status)
		for _, id := range ids[1:] {
			row := b.row(t, id)
			require.Equal(t, outbox.StatusPending, row.Status)
			require.Equal(t, 0, row.Attempts, "a released claim does not spend an attempt")
			require.Nil(t, row.LockedUntil)
			require.Nil(t, row.ClaimToken)
		}
		again, err := b.ob.Claim(b.ctx, 10, time.Minute)
		require.NoError(t, err)
		require.Len(t, again.Messages, 4, "released messages are claimable at once")
	})
}

func TestShutdownTimeoutAbandonsStuckHandlers(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		id := b.enqueueJobs(t, 1, "stuck")[0]
		started, unblock := make(chan struct{}, 1), make(chan struct{})
		defer close(unblock)
		r := b.relay(t, outbox.RelayConfig{ShutdownTimeout: 50 * time.Millisecond, Handlers: map[outbox.Route]outbox.HandlerFunc{
			{Kind: outbox.KindJob, Name: "stuck"}: func(ctx context.Context, m outbox.Message) error {
				started <- struct{}{}
				<-unblock // ignores ctx
				return nil
			},
		}})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- r.Run(ctx) }()
		receive(t, started)
		cancel()
		require.NoError(t, receive(t, done), "Run returns after the shutdown timeout")
		row := b.row(t, id)
		require.Equal(t, outbox.StatusPending, row.Status, "an abandoned message keeps its lease")
		require.NotNil(t, row.ClaimToken)
	})
}

func TestHandlerOutlivingItsLeaseLosesTheClaim(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		id := b.enqueueJobs(t, 1, "slow")[0]
		var thief outbox.Batch
		r := b.relay(t, outbox.RelayConfig{Lease: time.Minute, Handlers: map[outbox.Route]outbox.HandlerFunc{
			{Kind: outbox.KindJob, Name: "slow"}: func(ctx context.Context, m outbox.Message) error {
				// The handler runs past its lease and another worker takes over.
				b.clock.Advance(2 * time.Minute)
				var err error
				thief, err = b.ob.Claim(ctx, 1, time.Minute)
				return err
			},
		}})
		c, err := r.DrainOnce(b.ctx)
		require.NoError(t, err)
		require.Equal(t, outbox.Counts{Claimed: 1, Lost: 1}, c)
		require.Equal(t, []string{id}, thief.IDs())
		row := b.row(t, id)
		require.Equal(t, outbox.StatusPending, row.Status)
		require.Equal(t, thief.Token, *row.ClaimToken, "the new owner keeps the message")
		require.Equal(t, 2, row.Attempts)
	})
}

func TestRelayConfigValidation(t *testing.T) {
	db := testdb.Open(t, testdb.Backends()[1])
	b := setup(t, db)
	for _, cfg := range []outbox.RelayConfig{
		{BatchSize: -1}, {Lease: -time.Second}, {Concurrency: -1}, {PollInterval: -1}, {ShutdownTimeout: -1},
		{Handlers: map[outbox.Route]outbox.HandlerFunc{{Kind: "x", Name: "y"}: func(context.Context, outbox.Message) error { return nil }}},
	} {
		_, err := outbox.NewRelay(b.ob, cfg)
		require.ErrorIs(t, err, outbox.ErrInvalid, "%+v", cfg)
	}
	_, err := outbox.NewRelay(nil, outbox.RelayConfig{})
	require.ErrorIs(t, err, outbox.ErrInvalid)
}

func TestExponentialBackoffDefaults(t *testing.T) {
	p := outbox.ExponentialBackoff{Rand: fixedRand(0.5)}
	require.Equal(t, time.Second, p.Delay(1, errBoom))
	require.Equal(t, 2*time.Second, p.Delay(2, errBoom))
	require.Equal(t, 512*time.Second, p.Delay(10, errBoom))
	require.Equal(t, time.Hour, p.Delay(40, errBoom))
	low := outbox.ExponentialBackoff{Rand: fixedRand(0)}.Delay(1, errBoom)
	require.Equal(t, 800*time.Millisecond, low)
	require.Equal(t, 4*time.Second, outbox.ExponentialBackoff{Jitter: -1}.Delay(3, errBoom))
	require.Equal(t, time.Hour, outbox.ExponentialBackoff{Rand: fixedRand(0.99)}.Delay(100, errBoom), "jitter never exceeds Max")
	require.True(t, outbox.IsPermanent(outbox.Permanent(errBoom)))
	require.False(t, outbox.IsPermanent(errBoom))
	require.Nil(t, outbox.Permanent(nil))
}

// receive waits for a value from ch, failing the test after 10s.
func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting on a channel")
		panic("unreachable")
	}
}
