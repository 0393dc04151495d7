// Package filter is a registry of membership filters shaped like the filter
// registry of the application framework that simplekv plugs into, so that
// code written against the framework's filter package drops in unchanged.
//
// # Registration
//
// A filter implements [Filter] and is registered under a name with
// [Register], normally by a module's Setup (the simple_kv module registers
// itself as "simple_kv"). The most recent registration that is still
// present is the active filter, and the package-level functions ([Exists],
// [Add], [Remove], [CheckThenAdd], [Contains]) are routed to it.
// Registering a name that is still registered panics, as the framework's
// registries do; [Unregister] (called by a module's Stop) removes the name,
// so a Stop → Setup cycle in one process works. When the active filter is
// unregistered, the most recently registered filter that is still present
// becomes active, or none.
//
// With no active filter, [Exists] and [Contains] return false, [Add],
// [Remove] and [CheckThenAdd] return an error satisfying
// errors.Is(err, [ErrNoFilter]); none of them panics.
//
// # Simple usage
//
// [GetFilter] returns a [SimpleFilter] with Add(item) and Contains(item),
// an adapter that maps them to Add and Exists in the default bucket ""
// (the empty bucket name is a bucket like any other, distinct from every
// non-empty one). The package-level [Contains] uses the active filter's
// adapter. (A value cannot implement both [Filter] and [SimpleFilter],
// whose Add methods differ, so GetFilter always returns the adapter.)
//
// # Conventions
//
// Add marks membership; Exists reports it. CheckThenAdd adds the key and
// returns whether it was present before, atomically. The simple_kv filter is
// exact: no false positives and no false negatives (it is not a Bloom
// filter). Exists returns false on any error, such as a stopped filter.
//
// # Thread safety
//
// The registry is guarded by a mutex: every function of this package is
// safe for concurrent use, including concurrently with Register and
// Unregister. The registry lock is not held while a filter method runs, so
// a call that picked a filter just before it was unregistered runs against
// that filter; a stopped filter then returns its own error (the simple_kv
// filter returns an error after Stop, never panics).
package filter
