package outbox

import "context"

// postgresSQL claims with one statement: a CTE locks the oldest claimable
// rows with FOR UPDATE SKIP LOCKED, so competing workers pass over each
// other's rows instead of waiting, and the UPDATE returns them.
type postgresSQL struct{}

func (postgresSQL) claim(ctx context.Context, o *Outbox, p claimParams) ([]claimedRow, error) {
	// MATERIALIZED keeps the planner from inlining the locking subquery
	// into a join that could run it more than once.
	q := "WITH gormkit_claim AS MATERIALIZED (SELECT id FROM " + o.table + " WHERE " + claimableWhere +
		" ORDER BY available_at, id LIMIT ? FOR UPDATE SKIP LOCKED) UPDATE " + o.table + " AS o SET " + claimSet("CAST(? AS timestamptz)") +
		" FROM gormkit_claim WHERE o.id = gormkit_claim.id RETURNING " + columnList("o.")
	args := append(claimableArgs(p), p.limit)
	args = append(args, claimSetArgs(p)...)
	rows, err := o.db.WithContext(ctx).Raw(q, args...).Rows()
	if err != nil {
		return nil, err
	}
	return scanClaimed(rows)
}

func (postgresSQL) purgeSQL(table string) string { return purgeByIDSubquery(table) }

// purgeByIDSubquery deletes a bounded batch through a LIMITed subquery,
// for dialects without DELETE … LIMIT.
func purgeByIDSubquery(table string) string {
	return "DELETE FROM " + table + " WHERE id IN (SELECT id FROM " + table + " WHERE " + purgeWhere + " LIMIT ?)"
}

func (postgresSQL) maxInsertRows() int { return 1000 }
