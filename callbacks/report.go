package callbacks

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"weak"

	"gorm.io/gorm"
)

// registry maps the callback manager (db.Callback()) of every handle
// Register ran on to the configs registered there. Every session and
// transaction of one *gorm.DB shares that manager (each copies the
// *gorm.Config, which points to it), so a transaction handle finds the
// observers of the database it came from, exactly as GORM finds the
// callbacks. The key is a weak pointer: a database that is no longer
// referenced drops its entry.
var (
	registryMu sync.Mutex
	registry   sync.Map // weak.Pointer to the callback manager -> []Config
)

// registryKey returns db's key in registry.
func registryKey(db *gorm.DB) (any, bool) {
	if db == nil || db.Config == nil || db.Callback() == nil {
		return nil, false
	}
	return weak.Make(db.Callback()), true
}

func remember(db *gorm.DB, cfg Config) {
	key, ok := registryKey(db)
	if !ok {
		return
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	v, ok := registry.Load(key)
	if !ok {
		runtime.AddCleanup(db.Callback(), func(k any) { registry.Delete(k) }, key)
	}
	list, _ := v.([]Config)
	registry.Store(key, append(slices.Clip(list), cfg))
}

// Observed reports whether Register installed observers on db (on the
// *gorm.DB it came from: sessions and transactions share them). Code that
// runs statements outside GORM can skip building events when it is false.
func Observed(db *gorm.DB) bool {
	key, ok := registryKey(db)
	if !ok {
		return false
	}
	_, ok = registry.Load(key)
	return ok
}

// Report hands a statement that ran outside GORM's processors (straight on
// db.Statement.ConnPool, say) to the observers Register installed on db, or
// on the *gorm.DB db is a session or transaction of. The event is completed
// exactly as the after hooks complete theirs: Port and Provider are set,
// Params (fill it with the bind values) is kept only when ParamValues is on,
// and gorm.ErrRecordNotFound is not reported as an error. Set SQL,
// Operation, Table, ParamCount, RowsAffected, Duration, Err and Time. It
// does nothing when no observers were registered.
func Report(ctx context.Context, db *gorm.DB, e QueryEvent) {
	key, ok := registryKey(db)
	if !ok {
		return
	}
	v, ok := registry.Load(key)
	if !ok {
		return
	}
	if ctx == nil && db.Statement != nil {
		ctx = db.Statement.Context
	}
	for _, cfg := range v.([]Config) {
		cfg.emit(ctx, e)
	}
}
