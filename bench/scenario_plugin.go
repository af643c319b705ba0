package main

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"syscall"
	"time"

	"gorm.io/gorm"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/callbacks"
)

// widget is the row of the plugin scenario's create/query/update mix.
type widget struct {
	ID        int64  `gorm:"primaryKey"`
	Name      string `gorm:"size:64"`
	Qty       int
	UpdatedAt time.Time
}

// pluginBlocks is how many alternating blocks one run of the plugin
// scenario is cut into.
const pluginBlocks = 20

// measurePaired is measure for two contenders whose difference is small:
// each run alternates them in blocks of n/blocks operations (A B B A …) and
// adds up each one's time, so that drift on a busy machine cancels out. It
// also records process CPU time per operation in the notes column.
func (b *bench) measurePaired(ctx context.Context, t *table, n, blocks int, x, y *contender) {
	cs := []*contender{x, y}
	rows := []*row{t.add(x.name), t.add(y.name)}
	fail := func(err error) {
		for i, c := range cs {
			if c.skip != "" {
				rows[i].skip = c.skip
			} else {
				rows[i].err = err
			}
		}
	}
	if x.skip != "" || y.skip != "" {
		fail(nil)
		return
	}
	defer func() {
		for _, c := range cs {
			if c.teardown != nil {
				_ = c.teardown(ctx)
			}
		}
	}()
	for _, c := range cs {
		if err := c.setup(ctx); err != nil {
			fail(fmt.Errorf("setup %s: %w", c.name, err))
			return
		}
	}
	blocks = max(2, blocks-blocks%2)
	size := max(n/blocks, 1)
	cpu := make([]time.Duration, 2)
	for round := -1; round < b.o.runs && ctx.Err() == nil; round++ {
		var wall [2]time.Duration
		for k := range blocks {
			i := k % 2
			if (k/2)%2 == 1 {
				i = 1 - i // A B B A A B B A …
			}
			if round < 0 && k >= 2 { // warm-up: one block each
				break
			}
			b.logf("%s: %s round %d block %d", t.title, cs[i].name, round, k)
			c0, start := processCPU(), time.Now()
			if err := cs[i].run(ctx, size); err != nil {
				fail(err)
				return
			}
			wall[i] += time.Since(start)
			if round >= 0 {
				cpu[i] += processCPU() - c0
			}
		}
		if round >= 0 {
			for i := range cs {
				rows[i].samples = append(rows[i].samples, wall[i].Seconds()/float64(size*blocks/2))
			}
		}
	}
	for i, c := range cs {
		ops := float64(size * blocks / 2 * b.o.runs)
		rows[i].note = fmt.Sprintf("Go CPU %s/op", formatDuration(cpu[i].Seconds()/ops))
		if c.note != nil {
			rows[i].note += "; " + c.note()
		}
	}
}

// processCPU is the user+system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// counter is the cheapest useful observer: it counts statements. The bench
// also uses it to count round trips per request.
type counter struct{ n atomic.Int64 }

func (c *counter) Observe(context.Context, callbacks.QueryEvent) { c.n.Add(1) }

// pluginOverhead runs scenario 1: the same GORM mix with and without the
// gormkit plugin, on in-memory SQLite and on Postgres.
func (b *bench) pluginOverhead(ctx context.Context) error {
	worst := math.NaN()
	for _, d := range []gormkit.Dialect{gormkit.SQLite, gormkit.Postgres} {
		t := &table{title: "1. Plugin overhead — " + dialectTitle(d, true), metric: cost, refs: []string{"GORM without plugin"}}
		t.env = b.env.describe(d)
		n := b.o.mixOps
		if n == 0 {
			n = 20000
			if d != gormkit.SQLite {
				n = 3000
			}
		}
		var base, with *contender
		if why := b.unavailable(d); why != "" {
			base = &contender{name: "GORM without plugin", skip: why}
			with = &contender{name: "GORM + gormkit plugin (counting observer)", skip: why}
		} else {
			base = b.mixContender(d, "GORM without plugin", nil)
			obs := &counter{}
			with = b.mixContender(d, "GORM + gormkit plugin (counting observer)", obs)
			with.note = func() string { return fmt.Sprintf("%d events observed", obs.n.Load()) }
		}
		b.measurePaired(ctx, t, n, pluginBlocks, base, with)
		t.notes = append(t.notes, fmt.Sprintf("One op = create a row, read it by primary key, update one column: three statements, sequential on one connection. "+
			"Each run interleaves the two handles in %d alternating blocks (ABBA order) so that load from other processes falls on both alike; "+
			"Go CPU is this process's user+system time per op (getrusage).", pluginBlocks))
		b.print(t)
		if r := t.ratio(with.name, base.name); !math.IsNaN(r) && (math.IsNaN(worst) || r > worst) {
			worst = r
		}
	}
	b.sum.set("plugin-overhead", worst)
	return nil
}

func dialectTitle(d gormkit.Dialect, memory bool) string {
	switch d {
	case gormkit.Postgres:
		return "PostgreSQL"
	case gormkit.MySQL:
		return "MariaDB"
	}
	if memory {
		return "SQLite in memory"
	}
	return "SQLite file"
}

// mixContender builds a contender running the create/query/update mix on
// its own handle; obs non-nil installs the plugin with it.
func (b *bench) mixContender(d gormkit.Dialect, name string, obs callbacks.Observer) *contender {
	var db *gormkit.DB
	var tbl string
	c := &contender{name: name}
	c.setup = func(ctx context.Context) error {
		var err error
		if d == gormkit.SQLite {
			db, err = gormkit.Open(ctx, gormkit.Config{URL: ":memory:"})
		} else {
			db, err = b.env.open(ctx, d, 2)
		}
		if err != nil {
			return err
		}
		if obs != nil {
			if err := db.Gorm.Use(gormkit.NewPlugin(gormkit.WithObservers(obs))); err != nil {
				return err
			}
		}
		suffix := "plain"
		if obs != nil {
			suffix = "plugin"
		}
		tbl = b.env.table(d, "widgets_"+suffix)
		return db.Gorm.Table(tbl).AutoMigrate(&widget{})
	}
	c.run = func(ctx context.Context, n int) error {
		g := db.Gorm.WithContext(ctx)
		for i := range n {
			w := widget{Name: "w", Qty: i, UpdatedAt: time.Now()}
			if err := g.Table(tbl).Create(&w).Error; err != nil {
				return err
			}
			var got widget
			if err := g.Table(tbl).First(&got, w.ID).Error; err != nil {
				return err
			}
			if err := g.Table(tbl).Where("id = ?", w.ID).Update("qty", gorm.Expr("qty + 1")).Error; err != nil {
				return err
			}
		}
		return nil
	}
	c.teardown = func(ctx context.Context) error {
		if db == nil {
			return nil
		}
		return db.Close()
	}
	return c
}
