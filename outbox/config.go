package outbox

import (
	"fmt"
	"time"

	"github.com/gormkit/gormkit/models"
)

// Config configures an Outbox. The zero value is usable.
type Config struct {
	// Table is the outbox table name, validated as a SQL identifier before
	// any SQL is built. Default models.DefaultOutboxTable ("outbox_messages").
	Table string
	// Now is the clock every stored and compared time comes from; the
	// database's own clock is never used. Default time.Now.
	Now func() time.Time
	// DefaultMaxAttempts is the number of attempts a message enqueued with
	// MaxAttempts 0 gets before it is dead-lettered. Default 10.
	DefaultMaxAttempts int
}

// DefaultMaxAttempts is Config.DefaultMaxAttempts when left zero.
const DefaultMaxAttempts = 10

// WithDefaults returns c with its zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Table == "" {
		c.Table = models.DefaultOutboxTable
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.DefaultMaxAttempts == 0 {
		c.DefaultMaxAttempts = DefaultMaxAttempts
	}
	return c
}

func (c Config) validate() error {
	if err := models.ValidateTableName(c.Table); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if c.DefaultMaxAttempts < 1 {
		return invalid("Config.DefaultMaxAttempts is %d, want at least 1", c.DefaultMaxAttempts)
	}
	return nil
}
