package gormkit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/callbacks"
	"github.com/gormkit/gormkit/internal/testdb"
)

const secret = "s3cr3t-card-4242"

type pluginItem struct {
	ID     uint `gorm:"primaryKey"`
	Name   string
	Secret string
}

// setupPlugin migrates a table of its own and installs the plugin with a
// recorder, which it returns empty.
func setupPlugin(t *testing.T, db *gormkit.DB, opts ...gormkit.PluginOption) (*callbacks.Recorder, string) {
	t.Helper()
	table := testdb.Table(t, db, "plugin_items")
	require.NoError(t, db.Gorm.Table(table).AutoMigrate(&pluginItem{}))
	rec := callbacks.NewRecorder(0)
	require.NoError(t, db.Gorm.Use(gormkit.NewPlugin(append([]gormkit.PluginOption{gormkit.WithObservers(rec), gormkit.WithPortName("orders")}, opts...)...)))
	return rec, table
}

// only returns the single event recorded since the last call.
func only(t *testing.T, rec *callbacks.Recorder) callbacks.QueryEvent {
	t.Helper()
	events := rec.Events()
	require.Len(t, events, 1, "one event per statement: %+v", events)
	rec.Reset()
	e := events[0]
	require.Positive(t, e.Duration, "duration")
	require.False(t, e.Time.IsZero())
	require.WithinDuration(t, time.Now(), e.Time, time.Minute)
	return e
}

func TestPluginEvents(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		rec, table := setupPlugin(t, db)
		provider := "gormkit-" + string(db.Dialect)
		check := func(e callbacks.QueryEvent, op callbacks.Operation, params int, rows int64) {
			t.Helper()
			require.Equal(t, op, e.Operation)
			require.Equal(t, params, e.ParamCount, e.SQL)
			require.Equal(t, rows, e.RowsAffected, e.SQL)
			require.Equal(t, "orders", e.Port)
			require.Equal(t, provider, e.Provider)
			require.Nil(t, e.Params, "values are redacted by default")
			require.NotContains(t, e.SQL, secret, "values never enter the SQL text")
			require.NoError(t, e.Err)
		}

		item := pluginItem{Name: "a", Secret: secret}
		require.NoError(t, db.Gorm.Table(table).Create(&item).Error)
		e := only(t, rec)
		check(e, callbacks.OpCreate, 2, 1)
		require.Equal(t, table, e.Table)
		require.Contains(t, strings.ToUpper(e.SQL), "INSERT INTO")

		var items []pluginItem
		require.NoError(t, db.Gorm.Table(table).Where("secret = ?", secret).Find(&items).Error)
		require.Len(t, items, 1)
		e = only(t, rec)
		check(e, callbacks.OpQuery, 1, 1)
		require.Equal(t, table, e.Table)
		require.Contains(t, strings.ToUpper(e.SQL), "SELECT")

		require.NoError(t, db.Gorm.Table(table).Where("id = ?", item.ID).Update("name", "b").Error)
		e = only(t, rec)
		check(e, callbacks.OpUpdate, 2, 1)
		require.Equal(t, table, e.Table)

		// Raw(...).Scan runs through the row processor; the row count is
		// unknown (-1) there because rows are read after the callbacks.
		var name string
		require.NoError(t, db.Gorm.Raw("SELECT name FROM "+table+" WHERE secret = ?", secret).Scan(&name).Error)
		require.Equal(t, "b", name)
		check(only(t, rec), callbacks.OpRow, 1, -1)

		var count int64
		require.NoError(t, db.Gorm.Table(table).Select("COUNT(*)").Where("name = ?", "b").Row().Scan(&count))
		require.EqualValues(t, 1, count)
		e = only(t, rec)
		check(e, callbacks.OpRow, 1, -1)
		require.Equal(t, table, e.Table)

		require.NoError(t, db.Gorm.Exec("UPDATE "+table+" SET secret = ? WHERE id = ?", secret+"2", item.ID).Error)
		check(only(t, rec), callbacks.OpRaw, 2, 1)

		require.NoError(t, db.Gorm.Table(table).Delete(&pluginItem{}, item.ID).Error)
		e = only(t, rec)
		check(e, callbacks.OpDelete, 1, 1)
		require.Equal(t, table, e.Table)

		// Not found is an answer, not an error.
		err := db.Gorm.Table(table).First(&pluginItem{}).Error
		require.ErrorIs(t, err, gorm.ErrRecordNotFound)
		e = only(t, rec)
		require.NoError(t, e.Err)
		require.Zero(t, e.RowsAffected)

		// A failing statement is an error event.
		err = db.Gorm.Exec("SELECT * FROM " + table + "_missing").Error
		require.Error(t, err)
		e = only(t, rec)
		require.Equal(t, callbacks.OpRaw, e.Operation)
		require.Error(t, e.Err)
		require.Equal(t, err.Error(), e.Err.Error())

		err = db.Gorm.Table(table + "_missing").Find(&items).Error
		require.Error(t, err)
		require.Error(t, only(t, rec).Err)

		// Statements inside a transaction are reported; BEGIN and COMMIT do
		// not pass through GORM's callbacks.
		require.NoError(t, db.Gorm.Transaction(func(tx *gorm.DB) error {
			return tx.Table(table).Create(&pluginItem{Name: "tx"}).Error
		}))
		check(only(t, rec), callbacks.OpCreate, 2, 1)

		// The plugin is registered once per *gorm.DB.
		require.ErrorIs(t, db.Gorm.Use(gormkit.NewPlugin()), gorm.ErrRegistered)
		rec.Reset()

		// Concurrent statements each get their own event and duration.
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				var n int
				require.NoError(t, db.Gorm.Raw(fmt.Sprintf("SELECT %d + ?", i), 1).Scan(&n).Error)
				require.Equal(t, i+1, n)
			})
		}
		wg.Wait()
		events := rec.Events()
		require.Len(t, events, 16)
		seen := map[string]int{}
		for _, e := range events {
			require.Positive(t, e.Duration)
			require.Equal(t, callbacks.OpRow, e.Operation)
			seen[e.SQL]++
		}
		require.Len(t, seen, 16, "each statement reported once")
	})
}

func TestPluginParamValues(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		rec, table := setupPlugin(t, db, gormkit.WithParamValues(), gormkit.WithProviderName("custom"))
		require.NoError(t, db.Gorm.Exec("UPDATE "+table+" SET name = ? WHERE secret = ?", "n", secret).Error)
		e := only(t, rec)
		require.Equal(t, []any{"n", secret}, e.Params)
		require.Equal(t, "custom", e.Provider)
		require.NotContains(t, e.SQL, secret, "values stay bind parameters")
	})
}

func TestPluginFromConfig(t *testing.T) {
	rec := callbacks.NewRecorder(4)
	db := testdb.Open(t, testdb.Backends()[1], gormkit.Config{Name: "reports", QueryObservers: []callbacks.Observer{rec}})
	require.NoError(t, db.Gorm.Exec("SELECT 1").Error)
	e := only(t, rec)
	require.Equal(t, "reports", e.Port)
	require.Equal(t, "gormkit-sqlite", e.Provider)
	// The plugin is already installed.
	require.ErrorIs(t, db.Gorm.Use(gormkit.NewPlugin()), gorm.ErrRegistered)
}

func TestPluginDryRunIsNotReported(t *testing.T) {
	rec := callbacks.NewRecorder(0)
	db := testdb.Open(t, testdb.Backends()[1], gormkit.Config{QueryObservers: []callbacks.Observer{rec}})
	stmt := db.Gorm.Session(&gorm.Session{DryRun: true}).Exec("DELETE FROM anything WHERE id = ?", 1).Statement
	require.Contains(t, stmt.SQL.String(), "DELETE FROM anything")
	require.Empty(t, rec.Events())
}

func TestPluginAutoMigrate(t *testing.T) {
	db := testdb.Open(t, testdb.Backends()[1])
	tables := gormkit.TableNames{Outbox: "app_outbox", Idempotency: "app_idem"}
	require.NoError(t, db.Gorm.Use(gormkit.NewPlugin(gormkit.WithAutoMigrate(tables))))
	require.True(t, db.Gorm.Migrator().HasTable("app_outbox"))
	require.True(t, db.Gorm.Migrator().HasTable("app_idem"))

	other := testdb.Open(t, testdb.Backends()[1])
	err := other.Gorm.Use(gormkit.NewPlugin(gormkit.WithAutoMigrate(gormkit.TableNames{Outbox: "bad name"})))
	require.ErrorContains(t, err, "table name")
}

func TestSlogObserver(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	db := testdb.Open(t, testdb.Backends()[1], gormkit.Config{QueryObservers: []callbacks.Observer{
		callbacks.NewSlogObserver(logger, time.Nanosecond),
	}})
	records := func() []map[string]any {
		var out []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &m), line)
			out = append(out, m)
		}
		buf.Reset()
		return out
	}

	require.NoError(t, db.Gorm.Exec("SELECT ?", secret).Error)
	recs := records()
	require.Len(t, recs, 1)
	require.Equal(t, "WARN", recs[0]["level"])
	require.Equal(t, "slow query", recs[0]["msg"])
	require.Equal(t, "SELECT ?", recs[0]["sql"])
	require.Equal(t, "raw", recs[0]["op"])
	require.EqualValues(t, 1, recs[0]["params"])
	require.Equal(t, "gormkit-sqlite", recs[0]["provider"])
	require.NotContains(t, fmt.Sprint(recs[0]), secret)

	require.Error(t, db.Gorm.Exec("SELECT * FROM missing_table").Error)
	recs = records()
	require.Len(t, recs, 1)
	require.Equal(t, "ERROR", recs[0]["level"])
	require.Equal(t, "query failed", recs[0]["msg"])
	require.Contains(t, recs[0]["error"], "missing_table")
}

func TestObserverSeesStatementContext(t *testing.T) {
	type key struct{}
	var got []any
	var mu sync.Mutex
	obs := callbacks.ObserverFunc(func(ctx context.Context, e callbacks.QueryEvent) {
		mu.Lock()
		got = append(got, ctx.Value(key{}))
		mu.Unlock()
	})
	db := testdb.Open(t, testdb.Backends()[1], gormkit.Config{QueryObservers: []callbacks.Observer{obs}})
	ctx := context.WithValue(context.Background(), key{}, "request-7")
	require.NoError(t, db.Gorm.WithContext(ctx).Exec("SELECT 1").Error)
	require.Equal(t, []any{"request-7"}, got)
}

// A unique violation must not carry the duplicated value into events and
// logs: MySQL quotes it in the error text ("Duplicate entry '…'"). GORM's
// TranslateError (on in gormkit's default config) hides it too, so the
// test runs with a plain *gorm.Config.
func TestPluginErrorEventsHideValues(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			db := testdb.Open(t, b, gormkit.Config{Gorm: &gorm.Config{}})
			testPluginErrorEventHidesValues(t, db)
		})
	}
}

func testPluginErrorEventHidesValues(t *testing.T, db *gormkit.DB) {
	rec, table := setupPlugin(t, db)
	require.NoError(t, db.Gorm.Exec("CREATE UNIQUE INDEX "+table+"_secret ON "+table+" (secret)").Error)
	require.NoError(t, db.Gorm.Table(table).Create(&pluginItem{Name: "a", Secret: secret}).Error)
	rec.Reset()

	err := db.Gorm.Table(table).Create(&pluginItem{Name: "b", Secret: secret}).Error
	require.Error(t, err)
	events := rec.Events()
	require.NotEmpty(t, events)
	var failed *callbacks.QueryEvent
	for i := range events {
		if events[i].Err != nil {
			failed = &events[i]
		}
	}
	require.NotNil(t, failed, "the violation is an error event")
	require.NotContains(t, failed.Err.Error(), secret)
	require.ErrorIs(t, failed.Err, err, "the driver's error is still reachable")
}
