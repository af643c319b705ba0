package idempotency

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/callbacks"
	"github.com/gormkit/gormkit/internal/testdb"
	"github.com/gormkit/gormkit/models"
)

func TestReserveConcurrentOneWinner(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		const n = 32
		reserveAll := func() []*Reservation {
			out := make([]*Reservation, n)
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					out[i], errs[i] = b.store.Reserve(b.ctx, req("k-concurrent", "fp"))
				})
			}
			close(start)
			wg.Wait()
			for _, err := range errs {
				require.NoError(t, err)
			}
			return out
		}

		got := map[Outcome]int{}
		var winner *Reservation
		for _, r := range reserveAll() {
			got[r.Outcome]++
			if r.Outcome == Acquired {
				winner = r
			}
		}
		require.Equal(t, map[Outcome]int{Acquired: 1, InProgress: n - 1}, got)

		require.NoError(t, b.store.Complete(b.ctx, winner, []byte(`{"order":42}`)))
		for _, r := range reserveAll() {
			require.Equal(t, Replay, r.Outcome)
			require.Equal(t, `{"order":42}`, string(r.Result))
		}
		require.EqualValues(t, 1, b.count(t))
	})
}

func TestLeaseRunsOutAndAnotherCallerTakesOver(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		r := req("k-lease", "fp")
		r.Lease = 30 * time.Second
		old := b.reserve(t, r)
		require.Equal(t, Acquired, old.Outcome)

		b.clock.Advance(29 * time.Second)
		held := b.reserve(t, r)
		require.Equal(t, InProgress, held.Outcome)
		require.Equal(t, old.LockedUntil, held.LockedUntil.UTC())

		b.clock.Advance(time.Second) // locked_until <= now
		taker := b.reserve(t, r)
		require.Equal(t, Acquired, taker.Outcome)
		require.NotEqual(t, old.Token, taker.Token)

		err := b.store.Complete(b.ctx, old, []byte(`"late"`))
		var mErr *MutationError
		require.ErrorAs(t, err, &mErr)
		require.ErrorIs(t, err, ErrReservationLost)
		require.Equal(t, MutationError{Action: ActionComplete, Namespace: "orders", Key: "k-lease", ScopeKey: `{"tenant":"t1"}`}, *mErr)
		require.ErrorAs(t, b.store.Fail(b.ctx, old), &mErr)
		require.Equal(t, ActionFail, mErr.Action)

		require.NoError(t, b.store.Complete(b.ctx, taker, []byte(`"new"`)))
		replay := b.reserve(t, r)
		require.Equal(t, Replay, replay.Outcome)
		require.Equal(t, `"new"`, string(replay.Result))
	})
}

func TestExpiredCompletedRecordIsTakenOverAsNew(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		r := req("k-expire", "fp-1")
		r.Retention = time.Hour
		first := b.reserve(t, r)
		require.NoError(t, b.store.Complete(b.ctx, first, []byte(`1`)))

		b.clock.Advance(time.Hour - time.Microsecond)
		require.Equal(t, Replay, b.reserve(t, r).Outcome)

		b.clock.Advance(time.Microsecond) // expires_at <= now
		r.Fingerprint = "fp-2"            // a new record: the old fingerprint no longer counts
		again := b.reserve(t, r)
		require.Equal(t, Acquired, again.Outcome)
		require.NoError(t, b.store.Complete(b.ctx, again, []byte(`2`)))
		replay := b.reserve(t, r)
		require.Equal(t, Replay, replay.Outcome)
		require.Equal(t, `2`, string(replay.Result))
		require.EqualValues(t, 1, b.count(t))
	})
}

func TestFingerprintMismatch(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		held := b.reserve(t, req("k-fp", "fp-a"))
		require.Equal(t, Acquired, held.Outcome)

		// Reported before the in-progress state.
		require.Equal(t, FingerprintMismatch, b.reserve(t, req("k-fp", "fp-b")).Outcome)
		// Fingerprints compare exactly (no case folding on MySQL).
		require.Equal(t, FingerprintMismatch, b.reserve(t, req("k-fp", "FP-A")).Outcome)
		require.Equal(t, FingerprintMismatch, b.reserve(t, req("k-fp", "fp-a ")).Outcome)

		// A lapsed lease is not taken over by a different request.
		b.clock.Advance(2 * DefaultLease)
		require.Equal(t, FingerprintMismatch, b.reserve(t, req("k-fp", "fp-b")).Outcome)
		err := b.store.Complete(b.ctx, held, []byte(`"a"`))
		require.NoError(t, err, "nobody took the lease over")

		require.Equal(t, FingerprintMismatch, b.reserve(t, req("k-fp", "fp-b")).Outcome)
		require.Equal(t, Replay, b.reserve(t, req("k-fp", "fp-a")).Outcome)
	})
}

func TestCompleteAndFailAreCompareAndSet(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		var mErr *MutationError

		t.Run("double complete", func(t *testing.T) {
			r := b.reserve(t, req("k-double", "fp"))
			require.NoError(t, b.store.Complete(b.ctx, r, []byte(`1`)))
			require.ErrorAs(t, b.store.Complete(b.ctx, r, []byte(`2`)), &mErr)
			require.Equal(t, ActionComplete, mErr.Action)
			require.ErrorAs(t, b.store.Fail(b.ctx, r), &mErr)
			replay := b.reserve(t, req("k-double", "fp"))
			require.Equal(t, `1`, string(replay.Result), "the first result stays")
		})

		t.Run("complete without reservation", func(t *testing.T) {
			forged := &Reservation{Outcome: Acquired, Namespace: "orders", Key: "k-none", ScopeKey: "{}",
				StorageKey: storageKey("orders", "k-none", "{}"), Token: "00000000-0000-4000-8000-000000000000"}
			require.ErrorAs(t, b.store.Complete(b.ctx, forged, []byte(`1`)), &mErr)
			require.Equal(t, "k-none", mErr.Key)
			require.ErrorAs(t, b.store.Fail(b.ctx, forged), &mErr)
			require.ErrorAs(t, b.store.Complete(b.ctx, nil, nil), &mErr)

			held := b.reserve(t, req("k-other", "fp"))
			waiting := b.reserve(t, req("k-other", "fp"))
			require.Equal(t, InProgress, waiting.Outcome)
			require.ErrorAs(t, b.store.Complete(b.ctx, waiting, []byte(`1`)), &mErr)
			require.Contains(t, mErr.Error(), "not acquired")
			stolen := *held
			stolen.Token = forged.Token
			require.ErrorAs(t, b.store.Complete(b.ctx, &stolen, []byte(`1`)), &mErr)
			wrongFP := *held
			wrongFP.Fingerprint = "other"
			require.ErrorAs(t, b.store.Complete(b.ctx, &wrongFP, []byte(`1`)), &mErr)
			require.NoError(t, b.store.Complete(b.ctx, held, []byte(`1`)))
		})

		t.Run("fail releases the key", func(t *testing.T) {
			r := b.reserve(t, req("k-fail", "fp"))
			require.NoError(t, b.store.Fail(b.ctx, r))
			require.ErrorAs(t, b.store.Fail(b.ctx, r), &mErr)
			again := b.reserve(t, req("k-fail", "other fingerprint is fine now"))
			require.Equal(t, Acquired, again.Outcome)
		})
	})
}

func TestScopeAndLongKeys(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		long := strings.Repeat("k", models.MaxKeyLength)
		ns := strings.Repeat("n", models.MaxNamespaceLength)
		for _, scope := range []map[string]string{nil, {"tenant": "a"}, {"tenant": "b"}, {"tenant": "a", "actor": "u1"}} {
			r := b.reserve(t, Request{Namespace: ns, Key: long, Scope: scope, Fingerprint: strings.Repeat("f", models.MaxFingerprintLength)})
			require.Equal(t, Acquired, r.Outcome, "scope %v", scope)
			require.Equal(t, ScopeKey(scope), r.ScopeKey)
		}
		// Keys differing only in case or trailing space are different keys
		// on every dialect (the storage key is a hash).
		require.Equal(t, Acquired, b.reserve(t, req("Key", "fp")).Outcome)
		require.Equal(t, Acquired, b.reserve(t, req("key", "fp")).Outcome)
		require.Equal(t, Acquired, b.reserve(t, req("key ", "fp")).Outcome)
		require.EqualValues(t, 7, b.count(t))
	})
}

func TestValidationHappensBeforeSQL(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		existing := b.reserve(t, req(strings.Repeat("k", models.MaxKeyLength), "fp"))
		require.NoError(t, b.store.Complete(b.ctx, existing, []byte(`"kept"`)))

		rec := callbacks.NewRecorder(0)
		require.NoError(t, db.Gorm.Use(gormkit.NewPlugin(gormkit.WithObservers(rec))))
		bad := map[string]Request{
			"overlong key":         req(strings.Repeat("k", models.MaxKeyLength+1), "fp"),
			"empty key":            req("", "fp"),
			"empty namespace":      {Key: "k"},
			"overlong namespace":   {Namespace: strings.Repeat("n", models.MaxNamespaceLength+1), Key: "k"},
			"overlong fingerprint": req("k", strings.Repeat("f", models.MaxFingerprintLength+1)),
			"control character":    req("k\n", "fp"),
			"invalid utf-8":        req("k\xff", "fp"),
			"negative lease":       {Namespace: "n", Key: "k", Lease: -time.Second},
		}
		for name, r := range bad {
			_, err := b.store.Reserve(b.ctx, r)
			require.ErrorIs(t, err, ErrInvalidRequest, name)
			_, err = Run(b.ctx, b.store, r, func(ctx context.Context) (int, error) { panic("must not run") })
			require.ErrorIs(t, err, ErrInvalidRequest, name)
		}
		require.Zero(t, rec.Total(), "no statement ran")

		require.EqualValues(t, 1, b.count(t))
		replay := b.reserve(t, req(strings.Repeat("k", models.MaxKeyLength), "fp"))
		require.Equal(t, Replay, replay.Outcome)
		require.Equal(t, `"kept"`, string(replay.Result))

		_, err := NewStore(db.Gorm, Config{Table: "x; DROP TABLE " + b.table})
		require.Error(t, err)
		_, err = NewStore(db.Gorm, Config{Lease: -1})
		require.Error(t, err)
	})
}

func TestPurgeDeletesExpiredRecordsInBatches(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		for i := range 7 {
			r := req("old-"+string(rune('a'+i)), "fp")
			r.Retention = time.Hour
			res := b.reserve(t, r)
			if i%2 == 0 {
				require.NoError(t, b.store.Complete(b.ctx, res, []byte(`1`)))
			}
		}
		fresh := req("fresh", "fp")
		fresh.Retention = 3 * time.Hour
		require.NoError(t, b.store.Complete(b.ctx, b.reserve(t, fresh), []byte(`1`)))

		n, err := b.store.Purge(b.ctx, 3)
		require.NoError(t, err)
		require.Zero(t, n, "nothing expired yet")

		b.clock.Advance(2 * time.Hour)
		n, err = b.store.Purge(b.ctx, 3)
		require.NoError(t, err)
		require.EqualValues(t, 7, n)
		require.EqualValues(t, 1, b.count(t))
		require.Equal(t, Replay, b.reserve(t, fresh).Outcome)

		n, err = b.store.Purge(b.ctx, 0)
		require.NoError(t, err)
		require.Zero(t, n)
	})
}

func TestOutcomeString(t *testing.T) {
	require.Equal(t, "acquired", Acquired.String())
	require.Equal(t, "fingerprint_mismatch", FingerprintMismatch.String())
	require.Equal(t, "Outcome(0)", Outcome(0).String())
	require.True(t, errors.Is(&MutationError{}, ErrReservationLost))
}
