package idempotency

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/internal/dialect"
	"github.com/gormkit/gormkit/internal/testdb"
)

type receipt struct {
	OrderID int    `json:"order_id"`
	Status  string `json:"status"`
}

func TestRunReplaysTheStoredResult(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		var calls atomic.Int32
		place := func(ctx context.Context) (receipt, error) {
			calls.Add(1)
			return receipt{OrderID: 42, Status: "placed"}, nil
		}
		for range 3 {
			got, err := Run(b.ctx, b.store, req("k-run", "fp"), place)
			require.NoError(t, err)
			require.Equal(t, receipt{OrderID: 42, Status: "placed"}, got)
		}
		require.EqualValues(t, 1, calls.Load())

		_, err := Run(b.ctx, b.store, req("k-run", "other"), place)
		require.ErrorIs(t, err, ErrFingerprintMismatch)

		_, err = Run(b.ctx, b.store, req("k-run", "fp"), func(ctx context.Context) (string, error) { return "", nil })
		require.ErrorContains(t, err, "decode stored result", "a receipt does not decode into a string")
	})
}

func TestRunReleasesOnErrorAndPanic(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		boom := errors.New("boom")
		_, err := Run(b.ctx, b.store, req("k-err", "fp"), func(ctx context.Context) (int, error) { return 0, boom })
		require.ErrorIs(t, err, boom)
		require.Zero(t, b.count(t), "the key is free again")

		require.PanicsWithValue(t, "kaboom", func() {
			_, _ = Run(b.ctx, b.store, req("k-err", "fp"), func(ctx context.Context) (int, error) { panic("kaboom") })
		})
		require.Zero(t, b.count(t))

		_, err = Run(b.ctx, b.store, req("k-err", "fp"), func(ctx context.Context) (chan int, error) { return make(chan int), nil })
		require.ErrorContains(t, err, "encode result")
		require.Zero(t, b.count(t))

		got, err := Run(b.ctx, b.store, req("k-err", "fp"), func(ctx context.Context) (int, error) { return 7, nil })
		require.NoError(t, err)
		require.Equal(t, 7, got)
	})
}

func TestRunWhileInProgress(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		held := b.reserve(t, req("k-busy", "fp"))
		_, err := Run(b.ctx, b.store, req("k-busy", "fp"), func(ctx context.Context) (int, error) { panic("must not run") })
		require.ErrorIs(t, err, ErrInProgress)
		require.NoError(t, b.store.Fail(b.ctx, held))
	})
}

func TestRunInsideUnitOfWork(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		orders := testdb.Table(t, db, "orders")
		require.NoError(t, db.Gorm.Exec("CREATE TABLE "+dialect.Name(db.Dialect).Quote(orders)+" (id integer PRIMARY KEY, note varchar(64) NOT NULL)").Error)
		countOrders := func() int64 {
			var n int64
			require.NoError(t, db.Gorm.Table(orders).Count(&n).Error)
			return n
		}
		uow := gormkit.NewUnitOfWork(db.Gorm, func(tx *gorm.DB, _ gormkit.EventRecorder) *gorm.DB { return tx })
		place := func(ctx context.Context, id int) func(context.Context) (int, error) {
			return func(ctx context.Context) (int, error) {
				tx, ok := gormkit.TxFromContext(ctx)
				require.True(t, ok)
				return id, tx.Exec("INSERT INTO "+dialect.Name(db.Dialect).Quote(orders)+" (id, note) VALUES (?, ?)", id, "placed").Error
			}
		}

		// The unit of work rolls back after Run completed: nothing stays.
		rollback := errors.New("rollback")
		err := uow.Transaction(b.ctx, func(ctx context.Context, tx *gorm.DB) error {
			id, err := Run(ctx, b.store, req("k-uow", "fp"), place(ctx, 1))
			require.NoError(t, err)
			require.Equal(t, 1, id)
			return rollback
		})
		require.ErrorIs(t, err, rollback)
		require.Zero(t, countOrders())
		require.Zero(t, b.count(t), "no completed record survives the rollback")

		// It commits: the order and the result are stored together, and a
		// retry in a new unit of work replays without writing again.
		for range 2 {
			err = uow.Transaction(b.ctx, func(ctx context.Context, tx *gorm.DB) error {
				id, err := Run(ctx, b.store, req("k-uow", "fp"), place(ctx, 2))
				require.Equal(t, 2, id)
				return err
			})
			require.NoError(t, err)
		}
		require.EqualValues(t, 1, countOrders())
		r := b.reserve(t, req("k-uow", "fp"))
		require.Equal(t, Replay, r.Outcome)

		// An explicit transaction through WithTx behaves the same.
		tx := db.Gorm.Begin()
		require.NoError(t, tx.Error)
		_, err = Run(b.ctx, b.store.WithTx(tx), req("k-withtx", "fp"), func(ctx context.Context) (int, error) {
			return 3, tx.Exec("INSERT INTO "+dialect.Name(db.Dialect).Quote(orders)+" (id, note) VALUES (?, ?)", 3, "placed").Error
		})
		require.NoError(t, err)
		require.NoError(t, tx.Rollback().Error)
		require.EqualValues(t, 1, countOrders())
		require.EqualValues(t, 1, b.count(t))
	})
}

// A transaction in ctx on another database is not joined: the store stays
// on its own.
func TestRunIgnoresTransactionOfAnotherDatabase(t *testing.T) {
	t.Parallel()
	other := testdb.Open(t, backend(t, "sqlite-file"))
	b := setup(t, testdb.Open(t, backend(t, "sqlite-file")))
	uow := gormkit.NewUnitOfWork(other.Gorm, func(tx *gorm.DB, _ gormkit.EventRecorder) *gorm.DB { return tx })
	err := uow.Transaction(b.ctx, func(ctx context.Context, tx *gorm.DB) error {
		_, err := Run(ctx, b.store, req("k-other-db", "fp"), func(ctx context.Context) (int, error) { return 1, nil })
		return err
	})
	require.NoError(t, err)
	require.Equal(t, Replay, b.reserve(t, req("k-other-db", "fp")).Outcome)
}
