package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/outbox"
)

// cli runs the command line in-process and returns its output.
func cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), args, &out)
	return out.String(), err
}

func TestDemoRunsAndShowsEachPart(t *testing.T) {
	out, err := cli(t, "demo")
	require.NoError(t, err, out)
	for _, want := range []string{
		"published after commit: order.placed",
		"orders stored: 2 (o-3 rolled back, no event published)",
		"job invoice.render attempt 2 done",
		"dead letter: legacy.sync after 2 attempts",
		"attempt 2: receipt {Charge:ch_1 Amount:700} (charges made so far: 1)",
		"errors.Is ErrFingerprintMismatch: true",
		"query log",
		"demo finished",
	} {
		require.Contains(t, out, want)
	}
}

func TestOutboxCommandsOnSQLite(t *testing.T) {
	url := "file:" + filepath.Join(t.TempDir(), "cli.db")
	out, err := cli(t, "migrate", "-url", url)
	require.NoError(t, err, out)

	db, err := gormkit.Open(context.Background(), gormkit.Config{URL: url})
	require.NoError(t, err)
	defer db.Close()
	box, err := outbox.New(db.Gorm, outbox.Config{})
	require.NoError(t, err)
	ctx := context.Background()
	ids, err := box.Enqueue(ctx,
		outbox.NewMessage{Kind: outbox.KindJob, Name: "a", Payload: 1, MaxAttempts: 1},
		outbox.NewMessage{Kind: outbox.KindJob, Name: "b", Payload: 2},
	)
	require.NoError(t, err)
	// Dead-letter the first message through a real claim.
	batch, err := box.Claim(ctx, 1, time.Minute)
	require.NoError(t, err)
	require.Equal(t, []string{ids[0]}, batch.IDs())
	require.NoError(t, box.DeadLetter(ctx, batch.Token, ids[0], "boom"))

	out, err = cli(t, "outbox", "stats", "-url", url)
	require.NoError(t, err, out)
	require.Regexp(t, `(?m)pending\s+1`, out)
	require.Regexp(t, `(?m)dead_lettered\s+1`, out)

	out, err = cli(t, "outbox", "list", "-url", url)
	require.NoError(t, err, out)
	require.Contains(t, out, ids[0])
	require.NotContains(t, out, ids[1])

	out, err = cli(t, "outbox", "requeue", "-url", url, "-id", ids[0])
	require.NoError(t, err, out)
	stats, err := box.Stats(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 2, stats.Pending)
	require.EqualValues(t, 0, stats.DeadLettered)

	out, err = cli(t, "outbox", "purge", "-url", url, "-older-than", "0s")
	require.Error(t, err, "a zero retention is refused: %s", out)

	_, err = cli(t, "outbox", "frobnicate", "-url", url)
	require.ErrorContains(t, err, "frobnicate")
}

func TestIdempotencyPurgeAndDDL(t *testing.T) {
	url := "file:" + filepath.Join(t.TempDir(), "cli.db")
	out, err := cli(t, "migrate", "-url", url)
	require.NoError(t, err, out)
	out, err = cli(t, "idempotency", "purge", "-url", url)
	require.NoError(t, err, out)
	require.Contains(t, out, "0")

	out, err = cli(t, "ddl", "-dialect", "postgres")
	require.NoError(t, err)
	require.Contains(t, out, `CREATE TABLE IF NOT EXISTS "outbox_messages"`)
	require.Contains(t, out, `CREATE TABLE IF NOT EXISTS "idempotency_records"`)

	_, err = cli(t, "ddl", "-dialect", "oracle")
	require.ErrorContains(t, err, "oracle")
	_, err = cli(t, "migrate", "-url", url, "-outbox-table", "x;drop")
	require.ErrorContains(t, err, "not a valid identifier")
}

func TestDatabaseChoiceFromEnv(t *testing.T) {
	t.Setenv("SQLITE_DB_URL", "")
	t.Setenv("POSTGRES_DB_URL", "")
	t.Setenv("MYSQL_DB_URL", "")
	_, err := cli(t, "migrate")
	require.ErrorContains(t, err, "no database")

	t.Setenv("SQLITE_DB_URL", "file:"+filepath.Join(t.TempDir(), "env.db"))
	out, err := cli(t, "migrate")
	require.NoError(t, err, out)

	t.Setenv("POSTGRES_DB_URL", "postgres://u:topsecret@127.0.0.1:1/x")
	_, err = cli(t, "migrate")
	require.ErrorContains(t, err, "more than one")
	require.False(t, strings.Contains(err.Error(), "topsecret"))
}
