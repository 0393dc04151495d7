package filter

import (
	"errors"
	"sync"
)

// Filter is the framework's membership filter interface. Keys live in
// buckets.
type Filter interface {
	Exists(bucket string, key []byte) bool
	Add(bucket string, key []byte) error
	Delete(bucket string, key []byte) error
	CheckThenAdd(bucket string, key []byte) (bool, error)
	Open() error
	Close() error
}

// SimpleFilter is the simple view of a filter used in the documentation:
// items in one bucket.
type SimpleFilter interface {
	Add(item []byte) error
	Contains(item []byte) bool
}

// ErrNoFilter is returned by the package-level functions when no filter is
// registered.
var ErrNoFilter = errors.New("filter: no active filter")

// DefaultBucket is the bucket used by the [SimpleFilter] adapter that
// [GetFilter] returns.
const DefaultBucket = ""

type entry struct {
	name   string
	filter Filter
	view   SimpleFilter
}

var (
	mu      sync.RWMutex
	entries []entry // in registration order; the last one is active
)

// Register makes f available under name and makes it the active filter. It
// panics if f is nil or if name is still registered.
func Register(name string, f Filter) {
	if f == nil {
		panic("filter: Register filter is nil")
	}
	mu.Lock()
	defer mu.Unlock()
	if indexOf(name) >= 0 {
		panic("filter: Register called twice for filter " + name)
	}
	entries = append(entries, entry{name: name, filter: f, view: &adapter{f: f}})
}

// Unregister removes the filter registered under name; an unknown name is a
// no-op. If it was the active filter, the most recently registered filter
// still present becomes active, or none.
func Unregister(name string) {
	mu.Lock()
	defer mu.Unlock()
	if i := indexOf(name); i >= 0 {
		entries = append(entries[:i:i], entries[i+1:]...)
	}
}

// indexOf returns the position of name in entries, or -1. mu must be held.
func indexOf(name string) int {
	for i := range entries {
		if entries[i].name == name {
			return i
		}
	}
	return -1
}

// GetFilter returns the [SimpleFilter] view of the filter registered under
// name, or nil if there is none. The view is an adapter on the bucket
// [DefaultBucket].
func GetFilter(name string) SimpleFilter {
	mu.RLock()
	defer mu.RUnlock()
	if i := indexOf(name); i >= 0 {
		return entries[i].view
	}
	return nil
}

// Active returns the active filter, or nil if none is registered.
func Active() Filter {
	if e, ok := active(); ok {
		return e.filter
	}
	return nil
}

func active() (entry, bool) {
	mu.RLock()
	defer mu.RUnlock()
	if len(entries) == 0 {
		return entry{}, false
	}
	return entries[len(entries)-1], true
}

// Exists calls Exists on the active filter; false if there is none.
func Exists(bucket string, key []byte) bool {
	e, ok := active()
	return ok && e.filter.Exists(bucket, key)
}

// Add calls Add on the active filter.
func Add(bucket string, key []byte) error {
	e, ok := active()
	if !ok {
		return ErrNoFilter
	}
	return e.filter.Add(bucket, key)
}

// Remove calls Delete on the active filter.
func Remove(bucket string, key []byte) error {
	e, ok := active()
	if !ok {
		return ErrNoFilter
	}
	return e.filter.Delete(bucket, key)
}

// CheckThenAdd calls CheckThenAdd on the active filter: it adds the key and
// reports whether it was present before.
func CheckThenAdd(bucket string, key []byte) (bool, error) {
	e, ok := active()
	if !ok {
		return false, ErrNoFilter
	}
	return e.filter.CheckThenAdd(bucket, key)
}

// Contains calls Contains on the active filter's [SimpleFilter] view (see
// [GetFilter]); false if there is none.
func Contains(item []byte) bool {
	e, ok := active()
	return ok && e.view.Contains(item)
}

// adapter is the [SimpleFilter] view of a [Filter] on [DefaultBucket].
type adapter struct{ f Filter }

func (a *adapter) Add(item []byte) error { return a.f.Add(DefaultBucket, item) }

func (a *adapter) Contains(item []byte) bool { return a.f.Exists(DefaultBucket, item) }
