package outbox

import "context"

// sqliteSQL claims with one UPDATE … RETURNING (SQLite 3.35+). A write
// statement takes SQLite's single write lock when it starts, so the select
// and the update are one atomic step without an explicit transaction, and a
// competing writer waits on busy_timeout.
type sqliteSQL struct{}

func (sqliteSQL) claim(ctx context.Context, o *Outbox, p claimParams) ([]claimedRow, error) {
	q := "UPDATE " + o.table + " SET " + claimSet("?") + " WHERE id IN (SELECT id FROM " + o.table + " WHERE " + claimableWhere +
		" ORDER BY available_at, id LIMIT ?) RETURNING " + columnList("")
	args := append(claimSetArgs(p), claimableArgs(p)...)
	args = append(args, p.limit)
	rows, err := o.db.WithContext(ctx).Raw(q, args...).Rows()
	if err != nil {
		return nil, err
	}
	return scanClaimed(rows)
}

func (sqliteSQL) purgeSQL(table string) string { return purgeByIDSubquery(table) }

// maxInsertRows is small on SQLite: the driver matches each bind parameter
// to its argument by a linear search, so one statement's cost grows with
// the square of its parameters, and in-process statements are cheap anyway.
func (sqliteSQL) maxInsertRows() int { return 100 }
