package simplekv

import (
	"expvar"
	"sync"
	"sync/atomic"

	"github.com/simplekv/simplekv/engine"
)

// current is the database whose stats the expvar variable shows.
var (
	current     atomic.Pointer[engine.DB]
	publishOnce sync.Once
)

// publishStats makes db's Stats the expvar variable "simple_kv" (served at
// /debug/vars by net/http's default mux when the application imports
// expvar's handler). expvar names are process-wide and cannot be removed,
// so the variable is published once and follows the running module.
func publishStats(db *engine.DB) {
	current.Store(db)
	publishOnce.Do(func() {
		expvar.Publish(Name, expvar.Func(func() any {
			if db := current.Load(); db != nil {
				st := db.Stats()
				st.Files = nil // per-file details are for the Prometheus collector and Stats
				return st
			}
			return nil
		}))
	})
}

func unpublishStats(db *engine.DB) { current.CompareAndSwap(db, nil) }
