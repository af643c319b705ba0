// Package dialect holds the few facts about SQLite, PostgreSQL and
// MySQL/MariaDB that every gormkit store needs: which dialect a *gorm.DB
// speaks, how to quote an identifier, and which errors are worth a retry.
// SQL that differs per dialect lives in the store that runs it, in files named
// after the dialect.
package dialect

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// Name identifies a SQL dialect. The values match gorm.Dialector.Name().
type Name string

// The dialects gormkit supports.
const (
	SQLite   Name = "sqlite"
	Postgres Name = "postgres"
	MySQL    Name = "mysql"
)

// Parse validates a dialect name.
func Parse(s string) (Name, error) {
	switch n := Name(strings.ToLower(s)); n {
	case SQLite, Postgres, MySQL:
		return n, nil
	case "postgresql":
		return Postgres, nil
	case "mariadb":
		return MySQL, nil
	}
	return "", fmt.Errorf("unknown dialect %q (want sqlite, postgres or mysql)", s)
}

// Of reports the dialect of db from its dialector.
func Of(db *gorm.DB) (Name, error) {
	if db == nil || db.Dialector == nil {
		return "", errors.New("gormkit: nil *gorm.DB")
	}
	return Parse(db.Dialector.Name())
}

// Quote quotes a validated identifier, including a schema-qualified one
// ("schema.table"). Callers validate with models.ValidateTableName first.
func (n Name) Quote(ident string) string {
	q := `"`
	if n == MySQL {
		q = "`"
	}
	parts := strings.Split(ident, ".")
	for i, p := range parts {
		parts[i] = q + p + q
	}
	return strings.Join(parts, ".")
}

// IsRetryable reports whether err is a serialization failure, a deadlock or a
// lock wait timeout: an error after which running the whole transaction
// again can succeed.
func IsRetryable(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "40001" || pg.Code == "40P01"
	}
	var my *mysql.MySQLError
	if errors.As(err, &my) {
		return my.Number == 1213 || my.Number == 1205
	}
	msg := err.Error()
	return strings.Contains(msg, "SQLITE_BUSY") || strings.Contains(msg, "database is locked")
}

// NativePlaceholders rewrites the "?" placeholders of q as the driver's own:
// $1, $2, … on PostgreSQL, unchanged elsewhere. It is for statements run
// straight on a connection pool, past GORM, which otherwise does this
// rewrite; q must have no "?" inside literals or identifiers.
func (n Name) NativePlaceholders(q string) string {
	if n != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + strings.Count(q, "?")*3)
	i := 0
	for _, part := range strings.SplitAfter(q, "?") {
		if !strings.HasSuffix(part, "?") {
			b.WriteString(part)
			continue
		}
		i++
		b.WriteString(part[:len(part)-1])
		b.WriteString("$" + strconv.Itoa(i))
	}
	return b.String()
}
