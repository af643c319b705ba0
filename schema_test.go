package gormkit_test

import (
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/gormkit/gormkit"
	"github.com/gormkit/gormkit/internal/testdb"
	"github.com/gormkit/gormkit/models"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestSetupStatementsGolden(t *testing.T) {
	for _, d := range []gormkit.Dialect{gormkit.SQLite, gormkit.Postgres, gormkit.MySQL} {
		t.Run(string(d), func(t *testing.T) {
			stmts, err := gormkit.SetupStatements(d, gormkit.TableNames{})
			require.NoError(t, err)
			got := strings.Join(stmts, ";\n\n") + ";\n"
			path := filepath.Join("testdata", "ddl_"+string(d)+".sql")
			if *update {
				require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test -run TestSetupStatementsGolden -update to create it")
			require.Equal(t, string(want), got, "DDL changed; if on purpose, rerun with -update")
		})
	}
}

func TestTableNamesAreValidatedBeforeSQL(t *testing.T) {
	db := testdb.Open(t, testdb.Backends()[1])
	var statements int
	require.NoError(t, db.Gorm.Callback().Raw().Before("gorm:raw").Register("test:count", func(*gorm.DB) { statements++ }))
	require.NoError(t, db.Gorm.Callback().Row().Before("gorm:row").Register("test:count_row", func(*gorm.DB) { statements++ }))
	for _, tables := range []gormkit.TableNames{
		{Outbox: "x;drop"},
		{Idempotency: "idem records"},
		{Outbox: `o"`},
		{Outbox: "same", Idempotency: "same"},
	} {
		err := gormkit.AutoMigrate(db.Gorm, tables)
		require.Error(t, err, "%+v", tables)
		_, err = gormkit.SetupStatements(gormkit.SQLite, tables)
		require.Error(t, err, "%+v", tables)
	}
	require.Zero(t, statements, "no SQL may run for an invalid name")
	require.False(t, db.Gorm.Migrator().HasTable("x"))
}

func TestAutoMigrate(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		// Default names would collide between packages sharing a server, so
		// only the per-test SQLite databases use them.
		if db.Dialect == gormkit.SQLite {
			require.NoError(t, gormkit.AutoMigrate(db.Gorm, gormkit.TableNames{}))
			require.True(t, db.Gorm.Migrator().HasTable(models.DefaultOutboxTable))
			require.True(t, db.Gorm.Migrator().HasTable(models.DefaultIdempotencyTable))
			require.True(t, db.Gorm.Migrator().HasIndex(models.DefaultOutboxTable, "idx_outbox_messages_claim"))
		}
		{
			tables := testdb.Migrate(t, db)
			require.True(t, db.Gorm.Migrator().HasTable(tables.Outbox))
			require.True(t, db.Gorm.Migrator().HasTable(tables.Idempotency))
			// Index names follow the custom table name, so two outboxes in one
			// schema never collide.
			require.True(t, db.Gorm.Migrator().HasIndex(tables.Outbox, "idx_"+tables.Outbox+"_claim"))
			require.True(t, db.Gorm.Migrator().HasIndex(tables.Idempotency, "idx_"+tables.Idempotency+"_expires"))
			// A second run changes nothing.
			require.NoError(t, gormkit.AutoMigrate(db.Gorm, tables))
		}
	})
}

// The DDL an application runs itself creates the schema AutoMigrate
// expects: migrating on top of it succeeds and leaves the same columns.
func TestSetupStatementsMatchAutoMigrate(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		ddl := gormkit.TableNames{Outbox: testdb.Table(t, db, "ddl_outbox"), Idempotency: testdb.Table(t, db, "ddl_idem")}
		stmts, err := gormkit.SetupStatements(db.Dialect, ddl)
		require.NoError(t, err)
		for _, s := range stmts {
			require.NoError(t, db.Gorm.Exec(s).Error, s)
		}
		// Idempotent: running them again is fine.
		for _, s := range stmts {
			require.NoError(t, db.Gorm.Exec(s).Error, s)
		}
		before := columns(t, db, ddl)
		require.NoError(t, gormkit.AutoMigrate(db.Gorm, ddl))
		require.Equal(t, before, columns(t, db, ddl), "AutoMigrate altered the DDL's columns")

		auto := testdb.Migrate(t, db)
		require.Equal(t, columns(t, db, auto), before, "DDL and AutoMigrate disagree")
	})
}

// columns lists name:type of both tables, types normalized.
func columns(t *testing.T, db *gormkit.DB, tables gormkit.TableNames) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for kind, name := range map[string]string{"outbox": tables.Outbox, "idempotency": tables.Idempotency} {
		cols, err := db.Gorm.Migrator().ColumnTypes(name)
		require.NoError(t, err)
		var list []string
		for _, c := range cols {
			nullable, _ := c.Nullable()
			list = append(list, strings.ToLower(c.Name()+" "+c.DatabaseTypeName())+map[bool]string{true: " null", false: " not null"}[nullable])
		}
		slices.Sort(list)
		out[kind] = list
	}
	return out
}

func TestTimesRoundTripInUTC(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		tables := testdb.Migrate(t, db)
		zone := time.FixedZone("UTC-7", -7*3600)
		at := time.Date(2024, 3, 10, 1, 2, 3, 456789999, zone) // 08:02:03.456789999 UTC
		locked := time.Date(2024, 3, 10, 1, 2, 3, 0, zone)
		msg := models.OutboxMessage{
			ID: "m1", Kind: models.KindEvent, Name: "n", Payload: models.JSON(`{}`), Status: models.StatusPending,
			MaxAttempts: 3, AvailableAt: models.UTC(at), LockedUntil: &locked,
			CreatedAt: models.UTC(at), UpdatedAt: models.UTC(at),
		}
		require.NoError(t, db.Gorm.Table(tables.Outbox).Create(&msg).Error)

		var got models.OutboxMessage
		require.NoError(t, db.Gorm.Table(tables.Outbox).First(&got, "id = ?", "m1").Error)
		require.True(t, got.AvailableAt.Equal(at.Truncate(time.Microsecond)), "got %v", got.AvailableAt)
		require.Equal(t, 456789000, got.AvailableAt.UTC().Nanosecond(), "microseconds kept")
		require.True(t, got.LockedUntil.Equal(locked), "a time written in another zone is the same instant: %v", got.LockedUntil)

		// The stored wall clock is UTC.
		var wall string
		switch db.Dialect {
		case gormkit.SQLite:
			require.NoError(t, db.Gorm.Raw("SELECT CAST(locked_until AS TEXT) FROM "+tables.Outbox).Scan(&wall).Error)
		case gormkit.MySQL:
			require.NoError(t, db.Gorm.Raw("SELECT CAST(locked_until AS CHAR) FROM "+tables.Outbox).Scan(&wall).Error)
		case gormkit.Postgres:
			require.NoError(t, db.Gorm.Raw("SELECT to_char(locked_until AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM "+tables.Outbox).Scan(&wall).Error)
		}
		require.True(t, strings.HasPrefix(wall, "2024-03-10 08:02:03"), "stored %q", wall)

		// Equality and range filters match whatever zone the argument is in.
		for _, arg := range []time.Time{at.Truncate(time.Microsecond), at.Truncate(time.Microsecond).UTC()} {
			var n int64
			require.NoError(t, db.Gorm.Table(tables.Outbox).Where("available_at = ?", arg).Count(&n).Error)
			require.EqualValues(t, 1, n, "available_at = %v", arg)
			require.NoError(t, db.Gorm.Table(tables.Outbox).Where("available_at <= ?", arg.Add(-time.Microsecond)).Count(&n).Error)
			require.EqualValues(t, 0, n, "available_at <= %v", arg.Add(-time.Microsecond))
			require.NoError(t, db.Gorm.Table(tables.Outbox).Where("available_at <= ?", arg.Add(time.Microsecond)).Count(&n).Error)
			require.EqualValues(t, 1, n)
		}
	})
}

// Rows one microsecond apart sort in time order on every dialect, and a
// range filter cuts between neighbours.
func TestTimeOrderingAtMicroseconds(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gormkit.DB) {
		tables := testdb.Migrate(t, db)
		// The base has no fraction, so the first rows test the shortest
		// text form against longer ones.
		base := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
		const n = 50
		order := rand.Perm(n)
		rows := make([]models.OutboxMessage, 0, n)
		for _, i := range order {
			at := base.Add(time.Duration(i)*time.Microsecond + time.Duration(i/10)*9*time.Microsecond)
			rows = append(rows, models.OutboxMessage{
				ID: idOf(i), Kind: models.KindJob, Name: "n", Payload: models.JSON(`{}`), Status: models.StatusPending,
				MaxAttempts: 1, AvailableAt: at, CreatedAt: base, UpdatedAt: base,
			})
		}
		require.NoError(t, db.Gorm.Table(tables.Outbox).Create(&rows).Error)

		var ids []string
		require.NoError(t, db.Gorm.Table(tables.Outbox).Order("available_at").Pluck("id", &ids).Error)
		want := make([]string, n)
		for i := range want {
			want[i] = idOf(i)
		}
		require.Equal(t, want, ids)

		cut := rows[slices.IndexFunc(rows, func(m models.OutboxMessage) bool { return m.ID == idOf(25) })].AvailableAt
		var count int64
		require.NoError(t, db.Gorm.Table(tables.Outbox).Where("available_at <= ?", cut).Count(&count).Error)
		require.EqualValues(t, 26, count)
		require.NoError(t, db.Gorm.Table(tables.Outbox).Where("available_at < ?", cut).Count(&count).Error)
		require.EqualValues(t, 25, count)
	})
}

func idOf(i int) string { return "m" + string(rune('A'+i/26)) + string(rune('a'+i%26)) }
