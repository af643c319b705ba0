package gormkit_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/internal/dialect"
	"github.com/gormkit/gormkit/internal/testdb"
)

type uowOrder struct {
	ID   string `gorm:"primaryKey;type:varchar(64)"`
	Note string
}

// orderRepo is an application port built from the transaction handle.
type orderRepo struct {
	tx     *gorm.DB
	table  string
	events gormkit.EventRecorder
}

func (r *orderRepo) Place(ctx context.Context, id string) error {
	if err := r.tx.WithContext(ctx).Table(r.table).Create(&uowOrder{ID: id}).Error; err != nil {
		return err
	}
	r.events.Record(gormkit.Event{Name: "order.placed", Payload: id})
	return nil
}

type uowPorts struct {
	Orders *orderRepo
	Tx     *gorm.DB
}

// recordingBus keeps every published batch.
type recordingBus struct {
	mu      sync.Mutex
	batches [][]string
	err     error
}

func (b *recordingBus) Publish(_ context.Context, events []gormkit.Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var names []string
	for _, e := range events {
		names = append(names, e.Payload.(string))
	}
	b.batches = append(b.batches, names)
	return b.err
}

func (b *recordingBus) published() [][]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([][]string(nil), b.batches...)
}

type uowSetup struct {
	db     *gormkit.DB
	table  string
	bus    *recordingBus
	builds atomic.Int32
}

func newUOWSetup(t *testing.T, db *gormkit.DB) *uowSetup {
	t.Helper()
	s := &uowSetup{db: db, table: testdb.Table(t, db, "uow_orders"), bus: &recordingBus{}}
	require.NoError(t, db.Gorm.Table(s.table).AutoMigrate(&uowOrder{}))
	return s
}

func (s *uowSetup) unit(opts ...gormkit.UnitOfWorkOption) *gormkit.UnitOfWork[uowPorts] {
	opts = append([]gormkit.UnitOfWorkOption{gormkit.WithEventBus(s.bus)}, opts...)
	return gormkit.NewUnitOfWork(s.db.Gorm, func(tx *gorm.DB, events gormkit.EventRecorder) uowPorts {
		s.builds.Add(1)
		return uowPorts{Orders: &orderRepo{tx: tx, table: s.table, events: events}, Tx: tx}
	}, opts...)
}

// stored lists the order ids committed, in id order.
func (s *uowSetup) stored(t *testing.T) []string {
	t.Helper()
	var ids []string
	require.NoError(t, s.db.Gorm.Table(s.table).Order("id").Pluck("id", &ids).Error)
	return ids
}

func TestUnitOfWork(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		ctx := context.Background()

		t.Run("commit publishes after commit in record order", func(t *testing.T) {
			s := newUOWSetup(t, db)
			u := s.unit()
			err := u.Transaction(ctx, func(ctx context.Context, p uowPorts) error {
				require.NoError(t, p.Orders.Place(ctx, "b"))
				require.NoError(t, p.Orders.Place(ctx, "a"))
				require.Empty(t, s.bus.published(), "nothing is published before commit")
				return nil
			})
			require.NoError(t, err)
			require.Equal(t, []string{"a", "b"}, s.stored(t))
			require.Equal(t, [][]string{{"b", "a"}}, s.bus.published())
			require.EqualValues(t, 1, s.builds.Load(), "build runs once per transaction")

			require.NoError(t, u.Transaction(ctx, func(ctx context.Context, p uowPorts) error { return p.Orders.Place(ctx, "c") }))
			require.EqualValues(t, 2, s.builds.Load())
			require.Equal(t, [][]string{{"b", "a"}, {"c"}}, s.bus.published())
		})

		t.Run("error rolls back and publishes nothing", func(t *testing.T) {
			s := newUOWSetup(t, db)
			boom := errors.New("boom")
			err := s.unit().Transaction(ctx, func(ctx context.Context, p uowPorts) error {
				require.NoError(t, p.Orders.Place(ctx, "a"))
				return boom
			})
			require.ErrorIs(t, err, boom)
			require.Empty(t, s.stored(t))
			require.Empty(t, s.bus.published())
		})

		t.Run("panic rolls back and is re-raised", func(t *testing.T) {
			s := newUOWSetup(t, db)
			require.PanicsWithValue(t, "kaboom", func() {
				_ = s.unit().Transaction(ctx, func(ctx context.Context, p uowPorts) error {
					require.NoError(t, p.Orders.Place(ctx, "a"))
					panic("kaboom")
				})
			})
			require.Empty(t, s.stored(t))
			require.Empty(t, s.bus.published())
		})

		t.Run("bus failure after commit keeps the data", func(t *testing.T) {
			s := newUOWSetup(t, db)
			s.bus.err = errors.New("broker down")
			id, err := gormkit.Transact(ctx, s.unit(), func(ctx context.Context, p uowPorts) (string, error) {
				return "a", p.Orders.Place(ctx, "a")
			})
			require.ErrorIs(t, err, gormkit.ErrPublishAfterCommit)
			require.ErrorIs(t, err, s.bus.err)
			require.Equal(t, "a", id, "the committed result is still returned")
			require.Equal(t, []string{"a"}, s.stored(t))
		})

		t.Run("Transact returns the value", func(t *testing.T) {
			s := newUOWSetup(t, db)
			n, err := gormkit.Transact(ctx, s.unit(), func(ctx context.Context, p uowPorts) (int, error) {
				return 42, p.Orders.Place(ctx, "a")
			})
			require.NoError(t, err)
			require.Equal(t, 42, n)

			n, err = gormkit.Transact(ctx, s.unit(), func(ctx context.Context, p uowPorts) (int, error) {
				return 7, errors.New("no")
			})
			require.Error(t, err)
			require.Zero(t, n, "no value from a rolled back transaction")
		})

		t.Run("a transaction in ctx is joined", func(t *testing.T) {
			s := newUOWSetup(t, db)
			u, other := s.unit(), s.unit()
			err := u.Transaction(ctx, func(ctx context.Context, outer uowPorts) error {
				require.NoError(t, outer.Orders.Place(ctx, "a"))
				tx, ok := gormkit.TxFromContext(ctx)
				require.True(t, ok)
				require.NoError(t, u.Transaction(ctx, func(ctx context.Context, inner uowPorts) error {
					require.Same(t, outer.Orders, inner.Orders, "the same unit of work reuses its ports")
					innerTx, _ := gormkit.TxFromContext(ctx)
					require.Same(t, tx, innerTx)
					return inner.Orders.Place(ctx, "b")
				}))
				require.NoError(t, other.Transaction(ctx, func(ctx context.Context, p uowPorts) error {
					// Another unit of work joins the same transaction: it sees
					// the uncommitted row.
					var n int64
					require.NoError(t, p.Tx.Table(s.table).Where("id = ?", "a").Count(&n).Error)
					require.EqualValues(t, 1, n)
					return p.Orders.Place(ctx, "c")
				}))
				require.Empty(t, s.bus.published(), "inner units publish nothing on their own")
				return nil
			})
			require.NoError(t, err)
			require.Equal(t, []string{"a", "b", "c"}, s.stored(t))
			require.Equal(t, [][]string{{"a", "b"}, {"c"}}, s.bus.published(), "published once, after the outermost commit")
			require.EqualValues(t, 2, s.builds.Load(), "one build per unit of work per transaction")
		})

		t.Run("joined failure without savepoints dooms the transaction", func(t *testing.T) {
			s := newUOWSetup(t, db)
			u := s.unit()
			inner := errors.New("inner")
			err := u.Transaction(ctx, func(ctx context.Context, p uowPorts) error {
				require.NoError(t, p.Orders.Place(ctx, "a"))
				err := u.Transaction(ctx, func(ctx context.Context, p uowPorts) error {
					require.NoError(t, p.Orders.Place(ctx, "b"))
					return inner
				})
				require.ErrorIs(t, err, inner)
				return nil // the caller swallows the error
			})
			require.ErrorIs(t, err, gormkit.ErrRollbackOnly)
			require.ErrorIs(t, err, inner)
			require.Empty(t, s.stored(t))
			require.Empty(t, s.bus.published())

			// An error passed up is returned as is.
			err = u.Transaction(ctx, func(ctx context.Context, p uowPorts) error {
				return u.Transaction(ctx, func(ctx context.Context, p uowPorts) error { return inner })
			})
			require.ErrorIs(t, err, inner)
			require.Empty(t, s.stored(t))
		})

		t.Run("joined panic recovered by the caller dooms the transaction", func(t *testing.T) {
			s := newUOWSetup(t, db)
			u := s.unit()
			err := u.Transaction(ctx, func(ctx context.Context, p uowPorts) error {
				require.NoError(t, p.Orders.Place(ctx, "a"))
				func() {
					defer func() { _ = recover() }()
					_ = u.Transaction(ctx, func(ctx context.Context, p uowPorts) error {
						require.NoError(t, p.Orders.Place(ctx, "b"))
						panic("inner panic")
					})
				}()
				return nil
			})
			require.ErrorIs(t, err, gormkit.ErrRollbackOnly)
			require.Empty(t, s.stored(t))
			require.Empty(t, s.bus.published())
		})

		t.Run("savepoints undo only the inner unit", func(t *testing.T) {
			s := newUOWSetup(t, db)
			u, sp := s.unit(), s.unit(gormkit.WithSavepoints())
			err := u.Transaction(ctx, func(ctx context.Context, p uowPorts) error {
				require.NoError(t, p.Orders.Place(ctx, "a"))
				err := sp.Transaction(ctx, func(ctx context.Context, p uowPorts) error {
					require.NoError(t, p.Orders.Place(ctx, "b"))
					return errors.New("inner")
				})
				require.Error(t, err)
				require.NoError(t, sp.Transaction(ctx, func(ctx context.Context, p uowPorts) error {
					return p.Orders.Place(ctx, "c")
				}))
				require.PanicsWithValue(t, "inner panic", func() {
					_ = sp.Transaction(ctx, func(ctx context.Context, p uowPorts) error {
						require.NoError(t, p.Orders.Place(ctx, "d"))
						panic("inner panic")
					})
				})
				return p.Orders.Place(ctx, "e")
			})
			require.NoError(t, err)
			require.Equal(t, []string{"a", "c", "e"}, s.stored(t))
			require.Equal(t, [][]string{{"a", "e"}, {"c"}}, s.bus.published())
		})

		t.Run("cancelled context rolls back", func(t *testing.T) {
			s := newUOWSetup(t, db)
			cctx, cancel := context.WithCancel(ctx)
			err := s.unit().Transaction(cctx, func(ctx context.Context, p uowPorts) error {
				require.NoError(t, p.Orders.Place(ctx, "a"))
				cancel()
				return nil
			})
			require.ErrorIs(t, err, context.Canceled)
			require.Empty(t, s.stored(t))
			require.Empty(t, s.bus.published())
		})

		t.Run("read-only transactions reject writes", func(t *testing.T) {
			s := newUOWSetup(t, db)
			ro := s.unit(gormkit.WithTxOptions(&sql.TxOptions{ReadOnly: true}))
			err := ro.Transaction(ctx, func(ctx context.Context, p uowPorts) error {
				var n int64
				require.NoError(t, p.Tx.Table(s.table).Count(&n).Error)
				return p.Orders.Place(ctx, "a")
			})
			if db.Dialect == gormkit.SQLite {
				// SQLite has no read-only transactions; the option only
				// keeps the transaction deferred.
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Empty(t, s.stored(t))
		})
	})
}

func TestUnitOfWorkIsolationLevel(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		s := newUOWSetup(t, db)
		u := s.unit(gormkit.WithTxOptions(&sql.TxOptions{Isolation: sql.LevelSerializable}))
		err := u.Transaction(context.Background(), func(ctx context.Context, p uowPorts) error {
			switch db.Dialect {
			case gormkit.Postgres:
				var level string
				require.NoError(t, p.Tx.Raw("SHOW transaction_isolation").Scan(&level).Error)
				require.Equal(t, "serializable", level)
			case gormkit.MySQL:
				// The driver sets the level for the next transaction only,
				// which no variable shows; the transaction must still work.
			}
			return p.Orders.Place(ctx, "a")
		})
		// SQLite transactions are always serializable; its driver accepts
		// the level.
		require.NoError(t, err)
		require.Equal(t, []string{"a"}, s.stored(t))
	})
}

// Two SERIALIZABLE transactions read a counter and write it back: one of
// them fails with a serialization failure (Postgres) or deadlock (MySQL),
// and WithRetry runs it again so both increments land.
func TestUnitOfWorkRetry(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		if db.Dialect == gormkit.SQLite {
			// SQLite writers queue on the immediate lock instead of
			// conflicting, so there is nothing to retry.
			return
		}
		run := func(t *testing.T, attempts int) ([]error, int, int32) {
			s := newUOWSetup(t, db)
			require.NoError(t, db.Gorm.Table(s.table).Create(&uowOrder{ID: "counter", Note: "0"}).Error)
			u := s.unit(gormkit.WithTxOptions(&sql.TxOptions{Isolation: sql.LevelSerializable}), gormkit.WithRetry(attempts))
			var read sync.WaitGroup
			read.Add(2)
			var calls atomic.Int32
			errs := make([]error, 2)
			var wg sync.WaitGroup
			for i := range 2 {
				first := true
				wg.Go(func() {
					errs[i] = u.Transaction(context.Background(), func(ctx context.Context, p uowPorts) error {
						calls.Add(1)
						var row uowOrder
						if err := p.Tx.Table(s.table).First(&row, "id = ?", "counter").Error; err != nil {
							return err
						}
						if first { // both read before either writes
							first = false
							read.Done()
							read.Wait()
						}
						return p.Tx.Table(s.table).Where("id = ?", "counter").Update("note", row.Note+"x").Error
					})
				})
			}
			wg.Wait()
			var row uowOrder
			require.NoError(t, db.Gorm.Table(s.table).First(&row, "id = ?", "counter").Error)
			return errs, len(row.Note) - 1, calls.Load()
		}

		errs, increments, _ := run(t, 1)
		failed := 0
		for _, err := range errs {
			if err != nil {
				require.True(t, dialect.IsRetryable(err), "%v", err)
				failed++
			}
		}
		require.Equal(t, 1, failed, "without retry one transaction loses")
		require.Equal(t, 1, increments)

		errs, increments, calls := run(t, 5)
		require.GreaterOrEqual(t, calls, int32(3), "the loser ran again")
		require.NoError(t, errs[0])
		require.NoError(t, errs[1])
		require.Equal(t, 2, increments, "with retry both increments land")
	})
}
