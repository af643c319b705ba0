package outbox_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/callbacks"
	"github.com/gormkit/gormkit/internal/testdb"
)

// Write-backs find their rows by primary key even when the table has no
// statistics (a backlog loaded after an outage, before any ANALYZE): the
// planner must not take the claim index for the status test and visit
// every pending row.
func TestWriteBacksUseThePrimaryKeyWithoutStatistics(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		rec := callbacks.NewRecorder(0)
		require.NoError(t, db.Gorm.Use(gormkit.NewPlugin(gormkit.WithObservers(rec), gormkit.WithParamValues())))
		b := setup(t, db)
		if db.Dialect == gormkit.Postgres {
			// Keep autovacuum from analyzing the table during the test.
			require.NoError(t, db.Gorm.Exec("ALTER TABLE "+b.table+" SET (autovacuum_enabled = false)").Error)
		}
		b.enqueueJobs(t, 3000, "work")
		batch, err := b.ob.Claim(b.ctx, 100, time.Minute)
		require.NoError(t, err)
		require.Len(t, batch.Messages, 100)
		ids := batch.IDs()
		rec.Reset()
		require.NoError(t, b.ob.MarkDelivered(b.ctx, batch.Token, ids[:50]...))
		require.NoError(t, b.ob.Release(b.ctx, batch.Token, ids[50:90]...))
		require.NoError(t, b.ob.Retry(b.ctx, batch.Token, ids[90], time.Time{}, "x"))
		require.NoError(t, b.ob.DeadLetter(b.ctx, batch.Token, ids[91], "x"))
		events := rec.Events()
		require.Len(t, events, 4)
		for _, e := range events {
			plan := explain(t, db, e)
			require.NotContains(t, plan, "_claim", "%s\nplan:\n%s", e.SQL, plan)
		}
	})
}

// explain returns the plan of a recorded statement, one line per row.
func explain(t *testing.T, db *gormkit.DB, e callbacks.QueryEvent) string {
	t.Helper()
	prefix := "EXPLAIN "
	if db.Dialect == gormkit.SQLite {
		prefix = "EXPLAIN QUERY PLAN "
	}
	rows, err := db.SQL.Query(prefix+e.SQL, e.Params...)
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var lines []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		var line []string
		for i, v := range vals {
			if db.Dialect == gormkit.MySQL && cols[i] != "key" {
				continue // the index used, not the possible ones
			}
			if bs, ok := v.([]byte); ok {
				v = string(bs)
			}
			line = append(line, fmt.Sprint(v))
		}
		lines = append(lines, strings.Join(line, " | "))
	}
	require.NoError(t, rows.Err())
	return strings.Join(lines, "\n")
}
