package callbacks

import "regexp"

// quotedValue matches a value a driver quotes in its error text: MySQL's
// "Duplicate entry 'ada@example.com' for key …" and "Incorrect integer
// value: 'x' for column …". PostgreSQL keeps values in PgError.Detail,
// outside Error(), and SQLite names only columns.
var quotedValue = regexp.MustCompile(`(?i)\b(entry|value:?) '(?:[^'\\]|\\.|'')*'`)

// redactedError is a statement error whose text has bind values removed.
// Unwrap returns the driver's error unchanged, so errors.Is and errors.As
// still see it; only the text that logs print is redacted.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactValues returns err with values quoted in its text replaced by '?',
// or err itself when its text quotes none.
func redactValues(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if !quotedValue.MatchString(msg) {
		return err
	}
	return &redactedError{msg: quotedValue.ReplaceAllString(msg, "$1 '?'"), err: err}
}
