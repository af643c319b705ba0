package outbox

import (
	"context"
	"database/sql"

	"gorm.io/gorm"
)

// mysqlSQL claims in a short READ COMMITTED transaction: SELECT … FOR
// UPDATE SKIP LOCKED (MySQL 8.0+, MariaDB 10.6+) locks the oldest claimable
// rows, then one UPDATE by id claims them. MySQL's UPDATE has no RETURNING,
// so the new attempts and status are computed from the selected rows.
// READ COMMITTED takes no gap locks, so the claim never blocks Enqueue.
type mysqlSQL struct{}

var mysqlClaimTx = &sql.TxOptions{Isolation: sql.LevelReadCommitted}

func (mysqlSQL) claim(ctx context.Context, o *Outbox, p claimParams) ([]claimedRow, error) {
	var out []claimedRow
	err := o.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		q := "SELECT " + columnList("") + " FROM " + o.table + " WHERE " + claimableWhere +
			" ORDER BY available_at, id LIMIT ? FOR UPDATE SKIP LOCKED"
		rows, err := tx.Raw(q, append(claimableArgs(p), p.limit)...).Rows()
		if err != nil {
			return err
		}
		if out, err = scanClaimed(rows); err != nil || len(out) == 0 {
			return err
		}
		ids := make([]string, len(out))
		for i := range out {
			ids[i] = out[i].msg.ID
			if out[i].msg.Attempt >= out[i].msg.MaxAttempts {
				out[i].status = StatusDeadLettered
			} else {
				out[i].msg.Attempt++
			}
		}
		return tx.Exec("UPDATE "+o.table+" SET "+claimSet("?")+" WHERE id IN ?", append(claimSetArgs(p), ids)...).Error
	}, mysqlClaimTx)
	return out, err
}

func (mysqlSQL) purgeSQL(table string) string {
	return "DELETE FROM " + table + " WHERE " + purgeWhere + " ORDER BY id LIMIT ?"
}

func (mysqlSQL) maxInsertRows() int { return 1000 }
