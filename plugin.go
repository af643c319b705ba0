package gormkit

import (
	"fmt"

	"gorm.io/gorm"

	"github.com/gormkit/gormkit/callbacks"
	"github.com/gormkit/gormkit/models"
)

// PluginName is the name the plugin registers under with db.Use.
const PluginName = "gormkit"

// Plugin is a gorm.Plugin that reports every statement to query observers
// and, when asked, migrates gormkit's tables. Install it with
// db.Use(gormkit.NewPlugin(...)); using it twice on one *gorm.DB fails with
// gorm.ErrRegistered.
type Plugin struct {
	cfg     callbacks.Config
	migrate *TableNames
}

// PluginOption configures NewPlugin.
type PluginOption func(*Plugin)

// WithObservers adds query observers.
func WithObservers(o ...callbacks.Observer) PluginOption {
	return func(p *Plugin) { p.cfg.Observers = append(p.cfg.Observers, o...) }
}

// WithPortName sets the port name in events. Default "db".
func WithPortName(name string) PluginOption {
	return func(p *Plugin) { p.cfg.Port = name }
}

// WithProviderName sets the provider name in events. Default "gormkit-"
// plus the dialect.
func WithProviderName(name string) PluginOption {
	return func(p *Plugin) { p.cfg.Provider = name }
}

// WithParamValues puts bind parameter values in events. Off by default:
// values carry personal data and secrets that logs must not hold.
func WithParamValues() PluginOption {
	return func(p *Plugin) { p.cfg.ParamValues = true }
}

// WithAutoMigrate migrates the outbox and idempotency tables when the
// plugin is initialized.
func WithAutoMigrate(tables TableNames) PluginOption {
	return func(p *Plugin) { p.migrate = &tables }
}

// NewPlugin returns a plugin configured by opts.
func NewPlugin(opts ...PluginOption) *Plugin {
	p := &Plugin{cfg: callbacks.Config{Name: PluginName, Port: "db"}}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Name implements gorm.Plugin.
func (p *Plugin) Name() string { return PluginName }

// Initialize implements gorm.Plugin: it runs the migration asked for with
// WithAutoMigrate, then registers the callbacks.
func (p *Plugin) Initialize(db *gorm.DB) error {
	cfg := p.cfg
	if cfg.Provider == "" && db.Dialector != nil {
		cfg.Provider = "gormkit-" + db.Dialector.Name()
	}
	// Migrate first: if it fails, nothing is registered and db.Use can be
	// called again.
	if p.migrate != nil {
		if err := AutoMigrate(db, *p.migrate); err != nil {
			return err
		}
	}
	return callbacks.Register(db, cfg)
}

// TableNames names gormkit's tables. Empty fields take the defaults,
// outbox_messages and idempotency_records.
type TableNames struct {
	Outbox      string
	Idempotency string
}

func (t TableNames) withDefaults() (TableNames, error) {
	if t.Outbox == "" {
		t.Outbox = models.DefaultOutboxTable
	}
	if t.Idempotency == "" {
		t.Idempotency = models.DefaultIdempotencyTable
	}
	for _, name := range []string{t.Outbox, t.Idempotency} {
		if err := models.ValidateTableName(name); err != nil {
			return t, err
		}
	}
	if t.Outbox == t.Idempotency {
		return t, fmt.Errorf("gormkit: outbox and idempotency tables are both named %q", t.Outbox)
	}
	return t, nil
}

// AutoMigrate creates or updates the outbox and idempotency tables and their
// indexes. Names are validated before any SQL runs.
func AutoMigrate(db *gorm.DB, tables TableNames) error {
	tables, err := tables.withDefaults()
	if err != nil {
		return err
	}
	// One model per call: GORM applies db.Table to every model of a call.
	if err := db.Table(tables.Outbox).AutoMigrate(&models.OutboxMessage{}); err != nil {
		return fmt.Errorf("gormkit: migrate %s: %w", tables.Outbox, err)
	}
	if err := db.Table(tables.Idempotency).AutoMigrate(&models.IdempotencyRecord{}); err != nil {
		return fmt.Errorf("gormkit: migrate %s: %w", tables.Idempotency, err)
	}
	return nil
}

// SetupStatements returns the DDL creating both tables on dialect d, for
// applications that keep their own migrations (goose, golang-migrate,
// atlas). It matches what AutoMigrate creates.
func SetupStatements(d Dialect, tables TableNames) ([]string, error) {
	tables, err := tables.withDefaults()
	if err != nil {
		return nil, err
	}
	outbox, err := models.SetupStatements(string(d), models.OutboxTable, tables.Outbox)
	if err != nil {
		return nil, err
	}
	idem, err := models.SetupStatements(string(d), models.IdempotencyTable, tables.Idempotency)
	if err != nil {
		return nil, err
	}
	return append(outbox, idem...), nil
}
