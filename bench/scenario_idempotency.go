package main

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync/atomic"

	"gorm.io/gorm"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/idempotency"
)

// Contender names of the idempotency scenario.
const (
	idemBare   = "bare command"
	idemRun    = "idempotency.Run, new key"
	idemUoW    = "idempotency.Run in a unit of work, new key"
	idemReplay = "idempotency.Run, replayed key"
)

// placeResult is what the command returns and Run stores.
type placeResult struct {
	OrderID int64 `json:"order_id"`
}

// placeOrder is the trivial command: one INSERT with GORM on db.
func placeOrder(ctx context.Context, db *gorm.DB, table string, i int) (placeResult, error) {
	o := newOrder(i)
	err := createOrder(db.WithContext(ctx), table, &o)
	return placeResult{OrderID: o.OrderID}, err
}

// idempotency runs scenario 4 on every dialect: idempotency.Run around a
// one-INSERT command against the bare command.
func (b *bench) idempotency(ctx context.Context) error {
	headline := math.NaN()
	for _, d := range []gormkit.Dialect{gormkit.SQLite, gormkit.Postgres, gormkit.MySQL} {
		t := &table{title: "4. Idempotency — " + dialectTitle(d, false), metric: cost, refs: []string{idemBare}, env: b.env.describe(d)}
		n := b.o.idemOps
		cs := []*contender{
			b.idemContender(idemBare, dbSpec{dialect: d, label: "idem_bare"}, idemModeBare),
			b.idemContender(idemRun, dbSpec{dialect: d, label: "idem_run"}, idemModeRun),
			b.idemContender(idemUoW, dbSpec{dialect: d, label: "idem_uow"}, idemModeUoW),
			b.idemContender(idemReplay, dbSpec{dialect: d, label: "idem_replay"}, idemModeReplay),
		}
		b.skipUnless(d, cs...)
		b.measure(ctx, t, n, max(n/10, 50), cs...)
		t.notes = append(t.notes, fmt.Sprintf("The command INSERTs one order row with GORM. A new key reserves (one upsert), runs the command and stores the result (one compare-and-set UPDATE); "+
			"a replayed key answers from the stored result without running the command. %d concurrent callers (-workers). "+
			"Statements per request are counted by a gormkit query observer; BEGIN and COMMIT do not pass through GORM callbacks and are not counted.", b.o.workers))
		b.print(t)
		// The headline is PostgreSQL's, or SQLite's when PostgreSQL did
		// not run.
		if r := t.ratio(idemRun, idemBare); !math.IsNaN(r) && (d == gormkit.Postgres || math.IsNaN(headline)) {
			headline = r
		}
	}
	b.sum.set("idempotency-overhead", headline)
	return nil
}

type idemMode int

const (
	idemModeBare idemMode = iota
	idemModeRun
	idemModeUoW
	idemModeReplay
)

func (b *bench) idemContender(name string, s dbSpec, mode idemMode) *contender {
	var g *gormkitOutbox
	var store *idempotency.Store
	var uow *gormkit.UnitOfWork[*gorm.DB]
	var round atomic.Int64
	var ran atomic.Int64
	stmts := &counter{}
	var perRequest float64
	key := func(i int) string { return "r" + strconv.FormatInt(round.Load(), 10) + "-" + strconv.Itoa(i) }
	request := func(i int) idempotency.Request {
		o := newOrder(i)
		return idempotency.Request{
			Namespace:   "orders.place",
			Key:         key(i),
			Scope:       map[string]string{"tenant": "t1"},
			Fingerprint: idempotency.Fingerprint(o.Customer, strconv.FormatInt(o.Amount, 10)),
		}
	}
	runOne := func(ctx context.Context, i int) error {
		_, err := idempotency.Run(ctx, store, request(i), func(ctx context.Context) (placeResult, error) {
			ran.Add(1)
			return placeOrder(ctx, g.db.Gorm, g.orders, i)
		})
		return err
	}
	return &contender{
		name: name,
		setup: func(ctx context.Context) (err error) {
			if g, err = b.newGormkitOutbox(ctx, s, stmts); err != nil {
				return err
			}
			if store, err = idempotency.NewStore(g.db.Gorm, idempotency.Config{Table: g.idem}); err != nil {
				return err
			}
			uow = gormkit.NewUnitOfWork(g.db.Gorm, func(tx *gorm.DB, _ gormkit.EventRecorder) *gorm.DB { return tx })
			return nil
		},
		prepare: func(ctx context.Context, n int) error {
			round.Add(1)
			if err := clearTable(ctx, g.db.Gorm, g.db.Dialect, g.idem); err != nil {
				return err
			}
			if err := g.clear(ctx); err != nil {
				return err
			}
			if mode == idemModeReplay { // the first attempts, untimed
				if err := parallel(ctx, n, b.o.workers, func(ctx context.Context, _, i int) error { return runOne(ctx, i) }); err != nil {
					return err
				}
			}
			ran.Store(0)
			return nil
		},
		run: func(ctx context.Context, n int) error {
			before := stmts.n.Load()
			err := parallel(ctx, n, b.o.workers, func(ctx context.Context, _, i int) error {
				switch mode {
				case idemModeBare:
					ran.Add(1)
					_, err := placeOrder(ctx, g.db.Gorm, g.orders, i)
					return err
				case idemModeUoW:
					return uow.Transaction(ctx, func(ctx context.Context, tx *gorm.DB) error {
						_, err := idempotency.Run(ctx, store, request(i), func(ctx context.Context) (placeResult, error) {
							ran.Add(1)
							return placeOrder(ctx, tx, g.orders, i)
						})
						return err
					})
				}
				return runOne(ctx, i)
			})
			perRequest = float64(stmts.n.Load()-before) / float64(n)
			return err
		},
		check: func(ctx context.Context, n int) error {
			want := int64(n)
			if mode == idemModeReplay {
				want = 0
			}
			if got := ran.Load(); got != want {
				return fmt.Errorf("the command ran %d times, want %d", got, want)
			}
			return nil
		},
		note:     func() string { return fmt.Sprintf("%.1f statements/request", perRequest) },
		teardown: func(context.Context) error { return g.close() },
	}
}
