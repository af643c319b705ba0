package idempotency

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/internal/testdb"
)

// A reservation made inside a transaction holds the key until that
// transaction ends: a concurrent transaction reserving the same key waits,
// then replays the committed result, or acquires the key after a rollback.
// The waiting transaction reads first, so MySQL's repeatable-read snapshot
// predates the other commit and the classifying read must see past it.
func TestConcurrentReservationsInTransactions(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		b := setup(t, db)
		uows := map[string]*gormkit.UnitOfWork[*gorm.DB]{"default": gormkit.NewUnitOfWork(db.Gorm, func(tx *gorm.DB, _ gormkit.EventRecorder) *gorm.DB { return tx })}
		if db.Dialect != gormkit.SQLite {
			// Under REPEATABLE READ, PostgreSQL raises a serialization
			// failure instead of looking past the snapshot; the unit of work
			// retries it.
			uows["repeatable-read"] = gormkit.NewUnitOfWork(db.Gorm, func(tx *gorm.DB, _ gormkit.EventRecorder) *gorm.DB { return tx },
				gormkit.WithTxOptions(&sql.TxOptions{Isolation: sql.LevelRepeatableRead}), gormkit.WithRetry(3))
		}
		for name, uow := range uows {
			for _, commit := range []bool{true, false} {
				t.Run(fmt.Sprintf("%s/commit=%v", name, commit), func(t *testing.T) {
					reserveInTransactions(t, b, uow, name+strconv.FormatBool(commit), commit)
				})
			}
		}
	})
}

func reserveInTransactions(t *testing.T, b *bundle, uow *gormkit.UnitOfWork[*gorm.DB], key string, commit bool) {
	var calls atomic.Int32
	work := func(ctx context.Context) (int, error) { return int(calls.Add(1)), nil }

	held := make(chan struct{})
	release := make(chan struct{})
	firstDone := make(chan error, 1)
	go func() {
		firstDone <- uow.Transaction(b.ctx, func(ctx context.Context, tx *gorm.DB) error {
			if _, err := Run(ctx, b.store, req(key, "fp"), work); err != nil {
				return err
			}
			close(held)
			<-release
			if !commit {
				return errors.New("rollback")
			}
			return nil
		})
	}()
	<-held

	type outcome struct {
		got int
		err error
	}
	secondDone := make(chan outcome, 1)
	go func() {
		var got int
		err := uow.Transaction(b.ctx, func(ctx context.Context, tx *gorm.DB) error {
			var n int64
			if err := tx.Table(b.table).Count(&n).Error; err != nil {
				return err
			}
			var err error
			got, err = Run(ctx, b.store, req(key, "fp"), work)
			return err
		})
		secondDone <- outcome{got, err}
	}()
	time.Sleep(100 * time.Millisecond) // let the second transaction wait on the key
	close(release)
	err := <-firstDone
	second := <-secondDone
	require.NoError(t, second.err)
	if commit {
		require.NoError(t, err)
		require.Equal(t, 1, second.got, "the committed result is replayed")
		require.EqualValues(t, 1, calls.Load())
	} else {
		require.Error(t, err)
		require.Equal(t, 2, second.got, "after the rollback the key is free")
		require.EqualValues(t, 2, calls.Load())
	}
}
