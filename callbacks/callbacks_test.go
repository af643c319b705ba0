package callbacks_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/gormkit/gormkit/callbacks"
)

func TestRecorderRing(t *testing.T) {
	r := callbacks.NewRecorder(3)
	require.Empty(t, r.Events())
	for i := range 5 {
		r.Observe(context.Background(), callbacks.QueryEvent{SQL: string(rune('a' + i))})
	}
	var sqls []string
	for _, e := range r.Events() {
		sqls = append(sqls, e.SQL)
	}
	require.Equal(t, []string{"c", "d", "e"}, sqls, "oldest first, oldest dropped")
	require.Equal(t, 5, r.Total())

	r.Reset()
	require.Empty(t, r.Events())
	require.Zero(t, r.Total())
	r.Observe(context.Background(), callbacks.QueryEvent{SQL: "x"})
	require.Len(t, r.Events(), 1)

	require.Len(t, callbacks.NewRecorder(0).Events(), 0)
}

func TestRecorderConcurrent(t *testing.T) {
	r := callbacks.NewRecorder(64)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				r.Observe(context.Background(), callbacks.QueryEvent{})
				_ = r.Events()
			}
		})
	}
	wg.Wait()
	require.Equal(t, 800, r.Total())
	require.Len(t, r.Events(), 64)
}

func TestSlogObserverLevels(t *testing.T) {
	cases := []struct {
		name  string
		slow  time.Duration
		event callbacks.QueryEvent
		want  string // empty: nothing logged at Info
	}{
		{"fast", time.Second, callbacks.QueryEvent{Duration: time.Millisecond}, ""},
		{"slow", time.Second, callbacks.QueryEvent{Duration: 2 * time.Second}, "level=WARN msg=\"slow query\""},
		{"threshold off", 0, callbacks.QueryEvent{Duration: time.Hour}, ""},
		{"error", time.Second, callbacks.QueryEvent{Err: errors.New("boom")}, "level=ERROR msg=\"query failed\""},
		{"slow error", time.Second, callbacks.QueryEvent{Err: errors.New("boom"), Duration: time.Hour}, "level=ERROR"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			obs := callbacks.NewSlogObserver(slog.New(slog.NewTextHandler(&buf, nil)), c.slow)
			obs.Observe(context.Background(), c.event)
			if c.want == "" {
				require.Empty(t, buf.String())
				return
			}
			require.Contains(t, buf.String(), c.want)
		})
	}

	var buf bytes.Buffer
	obs := &callbacks.SlogObserver{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	obs.Observe(context.Background(), callbacks.QueryEvent{SQL: "SELECT 1", Operation: callbacks.OpRaw, Table: "t", Port: "db", Provider: "p"})
	for _, want := range []string{"level=DEBUG", "msg=query", `sql="SELECT 1"`, "op=raw", "table=t", "port=db", "provider=p"} {
		require.Contains(t, buf.String(), want)
	}
}

func openSQLite(t *testing.T) *gorm.DB {
	db, err := gorm.Open(sqlite.Open("file::memory:"), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	sqlDB, err := db.DB()
	require.NoError(t, err)
	sqlDB.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = sqlDB.Close() })
	return db
}

func TestRegister(t *testing.T) {
	db := openSQLite(t)
	rec := callbacks.NewRecorder(0)
	require.NoError(t, callbacks.Register(db, callbacks.Config{Observers: []callbacks.Observer{rec}, Port: "p"}))
	for _, name := range []string{"create", "query", "update", "delete", "row", "raw"} {
		require.NotNil(t, getCallback(db, name, "gormkit:"+name+"_before"), name)
		require.NotNil(t, getCallback(db, name, "gormkit:"+name+"_after"), name)
	}
	err := callbacks.Register(db, callbacks.Config{})
	require.ErrorContains(t, err, "already registered")

	// Another name registers a second, independent set.
	other := callbacks.NewRecorder(0)
	require.NoError(t, callbacks.Register(db, callbacks.Config{Name: "audit", Observers: []callbacks.Observer{other}}))
	require.NoError(t, db.Exec("SELECT 1").Error)
	require.Len(t, rec.Events(), 1)
	require.Len(t, other.Events(), 1)
	require.Equal(t, "p", rec.Events()[0].Port)
	require.True(t, strings.HasPrefix(rec.Events()[0].SQL, "SELECT 1"))
}

func getCallback(db *gorm.DB, processor, name string) func(*gorm.DB) {
	cb := db.Callback()
	switch processor {
	case "create":
		return cb.Create().Get(name)
	case "query":
		return cb.Query().Get(name)
	case "update":
		return cb.Update().Get(name)
	case "delete":
		return cb.Delete().Get(name)
	case "row":
		return cb.Row().Get(name)
	}
	return cb.Raw().Get(name)
}

// Report reaches the observers registered on the handle a transaction or
// session came from, completed like the events of the after hooks.
func TestReport(t *testing.T) {
	db := openSQLite(t)
	// Nothing registered: nothing to do, and no panic.
	require.False(t, callbacks.Observed(db))
	callbacks.Report(context.Background(), db, callbacks.QueryEvent{SQL: "x"})

	rec := callbacks.NewRecorder(0)
	require.NoError(t, callbacks.Register(db, callbacks.Config{Observers: []callbacks.Observer{rec}, Port: "p", Provider: "prov"}))
	withValues := callbacks.NewRecorder(0)
	require.NoError(t, callbacks.Register(db, callbacks.Config{Name: "audit", ParamValues: true, Observers: []callbacks.Observer{withValues}}))
	require.True(t, callbacks.Observed(db))

	params := []any{"secret", 1}
	boom := errors.New("boom")
	err := db.Transaction(func(tx *gorm.DB) error {
		require.True(t, callbacks.Observed(tx))
		callbacks.Report(context.Background(), tx.Session(&gorm.Session{}), callbacks.QueryEvent{
			SQL: "INSERT INTO t VALUES (?, ?)", Operation: callbacks.OpRaw, Table: "t", ParamCount: 2,
			Params: params, RowsAffected: 1, Duration: time.Millisecond, Err: boom,
		})
		callbacks.Report(nil, tx, callbacks.QueryEvent{SQL: "SELECT", Err: gorm.ErrRecordNotFound}) //nolint:staticcheck // nil ctx: the statement's is used
		return nil
	})
	require.NoError(t, err)

	events := rec.Events()
	require.Len(t, events, 2)
	e := events[0]
	require.Equal(t, "INSERT INTO t VALUES (?, ?)", e.SQL)
	require.Equal(t, callbacks.OpRaw, e.Operation)
	require.Equal(t, "t", e.Table)
	require.Equal(t, 2, e.ParamCount)
	require.Nil(t, e.Params, "values are redacted unless asked for")
	require.Equal(t, "p", e.Port)
	require.Equal(t, "prov", e.Provider)
	require.EqualValues(t, 1, e.RowsAffected)
	require.ErrorIs(t, e.Err, boom)
	require.NoError(t, events[1].Err, "record not found is not an error event")

	require.Len(t, withValues.Events(), 2)
	require.Equal(t, params, withValues.Events()[0].Params)
	params[0] = "changed"
	require.Equal(t, "secret", withValues.Events()[0].Params[0], "observers get a copy")
}
