package main

import (
	"context"
	"fmt"
	"sync/atomic"
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

// counter is the cheapest useful observer: it counts statements. The bench
// also uses it to count round trips per request.
type counter struct{ n atomic.Int64 }

func (c *counter) Observe(context.Context, callbacks.QueryEvent) { c.n.Add(1) }

// pluginOverhead runs scenario 1: the same GORM mix with and without the
// gormkit plugin, on in-memory SQLite and on Postgres.
func (b *bench) pluginOverhead(ctx context.Context) error {
	worst := 0.0
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
		if !b.env.has(d) {
			base = &contender{name: "GORM without plugin", skip: b.env.skipReason(d)}
			with = &contender{name: "GORM + gormkit plugin (counting observer)", skip: b.env.skipReason(d)}
		} else {
			base = b.mixContender(d, "GORM without plugin", nil)
			obs := &counter{}
			with = b.mixContender(d, "GORM + gormkit plugin (counting observer)", obs)
			with.note = func() string { return fmt.Sprintf("%d events observed", obs.n.Load()) }
		}
		b.measure(ctx, t, n, max(n/10, 50), base, with)
		t.notes = append(t.notes, "One op = create a row, read it by primary key, update one column: three statements, sequential on one connection.")
		b.print(t)
		if r := t.ratio(with.name, base.name); r > worst || worst == 0 {
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
