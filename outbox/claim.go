package outbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gormkit/gormkit/internal/dialect"
	"github.com/gormkit/gormkit/internal/ids"
	"github.com/gormkit/gormkit/models"
)

// Batch is the result of one Claim.
type Batch struct {
	// Token is the claim token shared by every message of the batch.
	Token string
	// LockedUntil is the end of the lease.
	LockedUntil time.Time
	// Messages are the claimed messages, oldest available_at first.
	Messages []Message
	// DeadLettered are the IDs of messages the claim found with their
	// attempts used up and their last lease expired (a worker died during
	// the last attempt); the claim dead-lettered them instead of running
	// them again.
	DeadLettered []string
}

// IDs returns the IDs of the claimed messages.
func (b Batch) IDs() []string {
	out := make([]string, len(b.Messages))
	for i, m := range b.Messages {
		out[i] = m.ID
	}
	return out
}

// reasonLeaseExpired is the last_error of a message dead-lettered by a
// claim because its last attempt never reported back.
const reasonLeaseExpired = "outbox: the lease of the last attempt expired without a write-back"

// claimParams are the values one claim binds.
type claimParams struct {
	now         time.Time
	lockedUntil time.Time
	token       string
	limit       int
}

// dialectSQL is what differs between dialects; the state machine around it
// is shared. Implementations live in dialect_<name>.go.
type dialectSQL interface {
	// claim selects up to p.limit claimable messages, oldest first, and
	// claims them (or dead-letters the exhausted ones) atomically.
	claim(ctx context.Context, o *Outbox, p claimParams) ([]claimedRow, error)
	// purgeSQL deletes up to a limit of the rows purgeWhere selects; it
	// binds purgeWhere's values, then the limit.
	purgeSQL(table string) string
	// maxInsertRows bounds the rows of one INSERT, below the dialect's
	// bind parameter limit.
	maxInsertRows() int
}

func sqlFor(d dialect.Name) dialectSQL {
	switch d {
	case dialect.Postgres:
		return postgresSQL{}
	case dialect.MySQL:
		return mysqlSQL{}
	}
	return sqliteSQL{}
}

// Claim claims up to limit pending messages that are available (available_at
// <= now) and not leased (locked_until absent or <= now), oldest
// available_at first, in one atomic step: each gets attempts + 1,
// locked_until = now + lease and the batch's fresh claim token. Messages
// whose attempts are used up are dead-lettered instead (Batch.DeadLettered).
// Competing workers never receive the same message while its lease holds.
func (o *Outbox) Claim(ctx context.Context, limit int, lease time.Duration) (Batch, error) {
	if limit < 1 {
		return Batch{}, invalid("claim limit is %d, want at least 1", limit)
	}
	if lease <= 0 {
		return Batch{}, invalid("lease is %v, want a positive duration", lease)
	}
	now := o.now()
	p := claimParams{now: now, lockedUntil: models.UTC(now.Add(lease)), token: ids.Token(), limit: limit}
	rows, err := o.sql.claim(ctx, o, p)
	if err != nil {
		return Batch{}, fmt.Errorf("outbox: claim: %w", err)
	}
	b := Batch{Token: p.token, LockedUntil: p.lockedUntil, Messages: make([]Message, 0, len(rows))}
	for _, r := range rows {
		if r.status == StatusDeadLettered {
			b.DeadLettered = append(b.DeadLettered, r.msg.ID)
			continue
		}
		r.msg.ClaimToken, r.msg.LockedUntil = p.token, p.lockedUntil
		b.Messages = append(b.Messages, r.msg)
	}
	// RETURNING gives no order; handlers see the claim order.
	slices.SortFunc(b.Messages, func(a, b Message) int {
		if c := a.AvailableAt.Compare(b.AvailableAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return b, nil
}

// Status literals spliced into SQL. They are constants, and a literal
// (unlike a parameter) lets PostgreSQL plan a cached statement for the few
// pending rows instead of an average status, which would scan the table
// once delivered rows pile up.
const (
	sqlPending      = "'" + StatusPending + "'"
	sqlDelivered    = "'" + StatusDelivered + "'"
	sqlDeadLettered = "'" + StatusDeadLettered + "'"
)

// claimableWhere selects claimable rows. It binds: now, now.
const claimableWhere = "status = " + sqlPending + " AND available_at <= ? AND (locked_until IS NULL OR locked_until <= ?)"

func claimableArgs(p claimParams) []any { return []any{p.now, p.now} }

// claimSet returns the SET clause of a claim. A row whose attempts are
// used up is dead-lettered instead of claimed. MySQL evaluates assignments
// left to right with the new values, so columns the conditions read
// (locked_until, attempts) are assigned after the conditions that read
// them. lockedUntil is the placeholder of the new lease end: PostgreSQL
// needs a cast there, since a CASE of NULL and a parameter is typed text.
// It binds: now, reason, locked until, token, now.
func claimSet(lockedUntil string) string {
	return `status = CASE WHEN attempts >= max_attempts THEN ` + sqlDeadLettered + ` ELSE status END,
 dead_lettered_at = CASE WHEN attempts >= max_attempts THEN ? ELSE dead_lettered_at END,
 last_error = CASE WHEN attempts >= max_attempts AND locked_until IS NOT NULL THEN ? ELSE last_error END,
 locked_until = CASE WHEN attempts >= max_attempts THEN NULL ELSE ` + lockedUntil + ` END,
 claim_token = CASE WHEN attempts >= max_attempts THEN NULL ELSE ? END,
 updated_at = ?,
 attempts = CASE WHEN attempts >= max_attempts THEN attempts ELSE attempts + 1 END`
}

func claimSetArgs(p claimParams) []any {
	return []any{p.now, reasonLeaseExpired, p.lockedUntil, p.token, p.now}
}

// claimColumns are the columns a claim reads back, in scanRow's order.
var claimColumns = []string{"id", "kind", "name", "payload", "headers", "status", "attempts", "max_attempts", "available_at", "created_at"}

func columnList(prefix string) string {
	var b strings.Builder
	for i, c := range claimColumns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(prefix)
		b.WriteString(c)
	}
	return b.String()
}

// claimedRow is a row read by a claim.
type claimedRow struct {
	msg    Message
	status string
}

// scanClaimed reads claimColumns rows.
func scanClaimed(rows *sql.Rows) ([]claimedRow, error) {
	defer rows.Close()
	var out []claimedRow
	for rows.Next() {
		var (
			r                  claimedRow
			payload, headers   models.JSON
			available, created dbTime
		)
		if err := rows.Scan(&r.msg.ID, &r.msg.Kind, &r.msg.Name, &payload, &headers, &r.status,
			&r.msg.Attempt, &r.msg.MaxAttempts, &available, &created); err != nil {
			return nil, err
		}
		r.msg.Payload = json.RawMessage(payload)
		r.msg.AvailableAt, r.msg.CreatedAt = available.t, created.t
		r.msg.decodeHeaders(headers)
		out = append(out, r)
	}
	return out, rows.Err()
}

// decodeHeaders sets m.Headers from the stored headers, or m.headerErr when
// they are not a JSON object of strings.
func (m *Message) decodeHeaders(headers models.JSON) {
	if len(headers) == 0 || string(headers) == "null" {
		return
	}
	if err := json.Unmarshal(headers, &m.Headers); err != nil {
		m.headerErr = fmt.Errorf("outbox: headers of message %s are not a JSON object of strings: %w", m.ID, err)
	}
}

// dbTime scans a time column from any driver: time.Time from PostgreSQL
// and MySQL, and from SQLite the text the driver wrote when it does not
// convert it itself (RETURNING and aggregate columns carry no declared type).
type dbTime struct {
	t     time.Time
	valid bool
}

// sqliteTimeLayouts are the layouts SQLite drivers write times in.
var sqliteTimeLayouts = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02T15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
}

// Scan implements sql.Scanner.
func (d *dbTime) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case nil:
		*d = dbTime{}
		return nil
	case time.Time:
		*d = dbTime{t: v.UTC(), valid: true}
		return nil
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("outbox: cannot scan %T as a time", src)
	}
	t, err := parseSQLiteTime(s)
	if err != nil {
		return err
	}
	*d = dbTime{t: t, valid: true}
	return nil
}

// parseSQLiteTime parses a time as SQLite drivers write it, in UTC.
func parseSQLiteTime(s string) (time.Time, error) {
	if t, ok := parseTimeFast(s); ok {
		return t, nil
	}
	for _, layout := range sqliteTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("outbox: cannot parse time %q", s)
}

// parseTimeFast parses the form both SQLite drivers write,
// "2006-01-02 15:04:05.999999999-07:00" (or with "T", "Z" or no zone),
// without time.Parse's layout interpretation; ok is false for anything
// else, which parseSQLiteTime then hands to time.Parse.
func parseTimeFast(s string) (time.Time, bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	ok := true
	num := func(digits string) int {
		n := 0
		for i := 0; i < len(digits); i++ {
			c := digits[i]
			if c < '0' || c > '9' {
				ok = false
				return 0
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	year, month, day := num(s[0:4]), num(s[5:7]), num(s[8:10])
	hour, minute, sec := num(s[11:13]), num(s[14:16]), num(s[17:19])
	rest, nsec := s[19:], 0
	if len(rest) > 0 && rest[0] == '.' {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		frac := rest[1:i]
		if len(frac) == 0 || len(frac) > 9 {
			return time.Time{}, false
		}
		nsec = num(frac)
		for range 9 - len(frac) {
			nsec *= 10
		}
		rest = rest[i:]
	}
	offset := 0
	switch {
	case rest == "" || rest == "Z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		offset = (num(rest[1:3])*60 + num(rest[4:6])) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	if !ok || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day {
		return time.Time{}, false // e.g. February 30: time.Parse rejects it
	}
	return t.Add(-time.Duration(offset) * time.Second), true
}
