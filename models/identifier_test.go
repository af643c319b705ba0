package models_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gormkit/gormkit/models"
)

func TestValidateTableName(t *testing.T) {
	valid := []string{
		"outbox_messages", "Outbox", "_t", "t1", "app.outbox_messages", "a.b",
		strings.Repeat("a", models.MaxIdentifierLength),
		strings.Repeat("s", 63) + "." + strings.Repeat("t", 63),
	}
	for _, name := range valid {
		require.NoError(t, models.ValidateTableName(name), name)
	}
	invalid := []string{
		"", "x;drop", "x; DROP TABLE users", "1outbox", "out box", `out"box`, "out`box", "out'box",
		"a.b.c", ".a", "a.", "a..b", "a.1b", "outbox-messages", "tåble", "t\x00", "t\n",
		strings.Repeat("a", models.MaxIdentifierLength+1),
	}
	for _, name := range invalid {
		err := models.ValidateTableName(name)
		require.Error(t, err, "%q", name)
		require.Contains(t, err.Error(), "table name")
	}
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$`)

func FuzzValidateTableName(f *testing.F) {
	for _, s := range []string{"outbox", "a.b", "x;drop", "1a", "a.", ".a", "a..b", `a"b`, "a`b", strings.Repeat("z", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := models.ValidateTableName(name)
		if want := identifier.MatchString(name); want != (err == nil) {
			t.Fatalf("ValidateTableName(%q) = %v, want valid=%v", name, err, want)
		}
		if err == nil && strings.ContainsAny(name, "\"`'; \t\n\\-/*") {
			t.Fatalf("%q accepted but holds SQL syntax", name)
		}
	})
}

func TestUTC(t *testing.T) {
	in := time.Date(2024, 3, 10, 1, 2, 3, 456789999, time.FixedZone("X", -7*3600))
	got := models.UTC(in)
	require.Equal(t, time.UTC, got.Location())
	require.Equal(t, 456789000, got.Nanosecond())
	require.True(t, got.Equal(in.Truncate(time.Microsecond)))
	require.Equal(t, 8, got.Hour())
}

func TestJSON(t *testing.T) {
	v, err := models.JSON(`{"a":1}`).Value()
	require.NoError(t, err)
	require.Equal(t, `{"a":1}`, v)

	v, err = models.JSON(nil).Value()
	require.NoError(t, err)
	require.Nil(t, v)

	_, err = models.JSON(`{"a":`).Value()
	require.ErrorContains(t, err, "not valid JSON")

	var j models.JSON
	require.NoError(t, j.Scan([]byte(`[1]`)))
	require.Equal(t, models.JSON(`[1]`), j)
	require.NoError(t, j.Scan(`"s"`))
	require.Equal(t, models.JSON(`"s"`), j)
	require.NoError(t, j.Scan(nil))
	require.Nil(t, j)
	require.Error(t, j.Scan(42))

	// Scan copies: the driver may reuse its buffer.
	buf := []byte(`{"b":2}`)
	require.NoError(t, j.Scan(buf))
	buf[2] = 'x'
	require.Equal(t, models.JSON(`{"b":2}`), j)

	out, err := json.Marshal(struct {
		P models.JSON `json:"p"`
		N models.JSON `json:"n"`
	}{P: models.JSON(`{"k":"v"}`)})
	require.NoError(t, err)
	require.JSONEq(t, `{"p":{"k":"v"},"n":null}`, string(out))

	var back struct{ P models.JSON }
	require.NoError(t, json.Unmarshal([]byte(`{"P":{"k":[1,2]}}`), &back))
	require.JSONEq(t, `{"k":[1,2]}`, string(back.P))
}

func TestSetupStatementsRejectsBadInput(t *testing.T) {
	_, err := models.SetupStatements("sqlite", models.OutboxTable, "x;drop")
	require.ErrorContains(t, err, "table name")
	_, err = models.SetupStatements("oracle", models.OutboxTable, "")
	require.ErrorContains(t, err, "unknown dialect")
	_, err = models.SetupStatements("sqlite", "jobs", "")
	require.ErrorContains(t, err, "unknown table")

	stmts, err := models.SetupStatements("postgresql", models.IdempotencyTable, "")
	require.NoError(t, err)
	require.Contains(t, stmts[0], `CREATE TABLE IF NOT EXISTS "idempotency_records"`)
	require.Contains(t, stmts[0], "timestamptz(6)")

	stmts, err = models.SetupStatements("mariadb", models.OutboxTable, "app.jobs")
	require.NoError(t, err)
	require.Len(t, stmts, 1)
	require.Contains(t, stmts[0], "CREATE TABLE IF NOT EXISTS `app`.`jobs`")
}
