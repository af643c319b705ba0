// Package sqlitetime makes a SQLite database/sql driver bind every
// time.Time argument in UTC.
//
// SQLite has no time type. Both SQLite drivers gormkit supports store a
// time.Time as text in the value's own zone ("2024-03-10 01:02:03-07:00"),
// and SQLite compares text byte by byte: one instant written in two zones is
// two different values, instants in different zones sort wrongly, and a
// query argument in local time ("available_at <= ?" with time.Now()) misses
// or matches the wrong rows. Bound in UTC, the text of equal instants is
// equal and its byte order is the time order (the fraction is written
// without trailing zeros, and '+' sorts below every digit and '.'), which
// is how PostgreSQL and MySQL behave.
package sqlitetime

import (
	"database/sql"
	"database/sql/driver"
	"fmt"
	"time"
)

// Register registers under name the driver registered as base, wrapped so
// that time arguments are bound in UTC. Call it from an init function, after
// the base driver's package has registered it.
func Register(name, base string) {
	db, err := sql.Open(base, "") // no connection is made
	if err != nil {
		panic(fmt.Sprintf("gormkit: SQLite driver %q is not registered: %v", base, err))
	}
	sql.Register(name, utcDriver{db.Driver()})
	_ = db.Close()
}

type utcDriver struct{ driver.Driver }

func (d utcDriver) Open(name string) (driver.Conn, error) {
	c, err := d.Driver.Open(name)
	if err != nil {
		return nil, err
	}
	if full, ok := c.(conn); ok {
		return utcConn{full}, nil
	}
	return c, nil
}

// conn is the set of interfaces both SQLite drivers' connections implement;
// the wrapper keeps all of them.
type conn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
}

type utcConn struct{ conn }

// CheckNamedValue implements driver.NamedValueChecker. database/sql calls
// it for every argument of a query, prepared statement or transaction on
// this connection, after driver.Valuer, so sql.NullTime and pointers are
// already resolved.
func (utcConn) CheckNamedValue(nv *driver.NamedValue) error {
	v, err := driver.DefaultParameterConverter.ConvertValue(nv.Value)
	if err != nil {
		return err
	}
	if t, ok := v.(time.Time); ok {
		v = t.UTC()
	}
	nv.Value = v
	return nil
}

// Unwrap returns the driver's own connection, for code that needs its
// extensions through sql.Conn.Raw.
func (c utcConn) Unwrap() driver.Conn { return c.conn }
