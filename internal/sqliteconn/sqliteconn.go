// Package sqliteconn wraps the connections of a SQLite database/sql driver
// to fix two behaviours that differ from the server dialects.
//
// Times are bound in UTC. SQLite has no time type: both SQLite drivers
// gormkit supports store a time.Time as text in the value's own zone
// ("2024-03-10 01:02:03-07:00"), and SQLite compares text byte by byte: one
// instant written in two zones is two different values, instants in
// different zones sort wrongly, and a query argument in local time
// ("available_at <= ?" with time.Now()) misses or matches the wrong rows.
// Bound in UTC, the text of equal instants is equal and its byte order is
// the time order (the fraction is written without trailing zeros, and '+'
// sorts below every digit and '.'), as on PostgreSQL and MySQL.
//
// Connections survive a cancelled transaction. database/sql closes a
// connection whose transaction's context is cancelled unless the driver
// can reset sessions; neither SQLite driver says it can, so a cancelled
// request would close the single connection of an in-memory database and
// drop the database with it. A rolled-back SQLite connection has no session
// state to reset, so the wrapper says it can.
package sqliteconn

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"time"
)

// Register registers under name the driver registered as base, with its
// connections wrapped as the package doc describes. Call it from an init
// function, after the base driver's package has registered it.
func Register(name, base string) {
	db, err := sql.Open(base, "") // no connection is made
	if err != nil {
		panic(fmt.Sprintf("gormkit: SQLite driver %q is not registered: %v", base, err))
	}
	sql.Register(name, wrappedDriver{db.Driver()})
	_ = db.Close()
}

type wrappedDriver struct{ driver.Driver }

func (d wrappedDriver) Open(name string) (driver.Conn, error) {
	c, err := d.Driver.Open(name)
	if err != nil {
		return nil, err
	}
	if full, ok := c.(conn); ok {
		return wrappedConn{full}, nil
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

type wrappedConn struct{ conn }

// CheckNamedValue implements driver.NamedValueChecker. database/sql calls
// it for every argument of a query, prepared statement or transaction on
// this connection, after driver.Valuer, so sql.NullTime and pointers are
// already resolved.
func (wrappedConn) CheckNamedValue(nv *driver.NamedValue) error {
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

// ResetSession implements driver.SessionResetter; together with IsValid it
// lets database/sql keep the connection after a cancelled transaction's
// rollback.
func (wrappedConn) ResetSession(context.Context) error { return nil }

// IsValid implements driver.Validator.
func (wrappedConn) IsValid() bool { return true }

// Unwrap returns the driver's own connection, for code that needs its
// extensions through sql.Conn.Raw.
func (c wrappedConn) Unwrap() driver.Conn { return c.conn }
