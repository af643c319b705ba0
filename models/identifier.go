package models

import (
	"fmt"
	"time"
)

// MaxIdentifierLength is the longest table name part accepted: PostgreSQL's
// limit, which is below MySQL's 64.
const MaxIdentifierLength = 63

// ValidateTableName checks that name is a plain SQL identifier, or a
// schema-qualified one ("schema.table"), made of ASCII letters, digits and
// underscores, not starting with a digit, each part at most 63 bytes. Table
// names are spliced into SQL text, so nothing else is allowed.
func ValidateTableName(name string) error {
	if name == "" {
		return fmt.Errorf("gormkit: table name is empty")
	}
	part, parts := 0, 1
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			if part == 0 || parts == 2 {
				return fmt.Errorf("gormkit: table name %q is not a valid identifier (at most one '.', between two names)", name)
			}
			part, parts = 0, parts+1
			continue
		case c >= '0' && c <= '9':
			if part == 0 {
				return fmt.Errorf("gormkit: table name %q is not a valid identifier (a name may not start with a digit)", name)
			}
		case c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
		default:
			return fmt.Errorf("gormkit: table name %q is not a valid identifier (only letters, digits and '_' are allowed)", name)
		}
		part++
		if part > MaxIdentifierLength {
			return fmt.Errorf("gormkit: table name %q is too long (at most %d characters per name)", name, MaxIdentifierLength)
		}
	}
	if part == 0 {
		return fmt.Errorf("gormkit: table name %q is not a valid identifier (ends with '.')", name)
	}
	return nil
}

// UTC returns t in UTC truncated to whole microseconds, the precision every
// supported dialect stores. Write every time through it so that a value read
// back compares equal to the value written.
func UTC(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}
