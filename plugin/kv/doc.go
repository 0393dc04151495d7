// Package kv is a registry of key-value stores shaped like the kv registry
// of the application framework that simplekv plugs into, so that code
// written against the framework's kv package drops in unchanged.
//
// # Registration
//
// A store implements [KVStore] and is registered under a name with
// [Register], normally by a module's Setup (the simple_kv module registers
// itself as "simple_kv"). The most recent registration that is still
// present is the active store, and the package-level functions
// ([GetValue], [AddValue], [ExistsKey], ...) are routed to it. Registering a
// name that is still registered panics, as the framework's registries do;
// [Unregister] (called by a module's Stop) removes the name, so a
// Stop → Setup cycle in one process works. When the active store is
// unregistered, the most recently registered store that is still present
// becomes active, or none.
//
// With no active store every package-level function returns an error
// satisfying errors.Is(err, [ErrNoStore]); none of them panics.
//
// # Optional extensions
//
// A store may also implement [TTLStore], [BucketDeleter], [Iterator] and
// [Batcher] (atomic multi-key writes to one bucket); they are found by type
// assertion. The package-level [AddValueWithTTL], [DeleteBucket], [Iterate]
// and [WriteBatch] return an error satisfying
// errors.Is(err, [ErrNotSupported]) when the active store lacks the
// extension.
//
// # Simple usage
//
// [GetStore] returns a [Store] with Set, Get and Delete on string keys, and
// the package-level [Set], [Get] and [Delete] use the active store's [Store]
// view. If the registered value implements [Store] itself, it is returned
// as is; otherwise an adapter maps Set/Get/Delete to AddValue, GetValue and
// DeleteKey in the default bucket "" (the empty bucket name is a bucket
// like any other, distinct from every non-empty one).
//
// # Conventions
//
// GetValue of a missing key returns (nil, nil), not an error, as in the
// framework; Store.Get follows the same convention, so a stored empty value
// and a missing key are told apart with ExistsKey, not with Get. Values
// written with AddValueCompress are read back with GetCompressedValue.
//
// # Thread safety
//
// The registry is guarded by a mutex: every function of this package is
// safe for concurrent use, including concurrently with Register and
// Unregister. The registry lock is not held while a store method runs, so a
// call that picked a store just before it was unregistered runs against
// that store; a stopped store then returns its own error (the simple_kv
// store returns an error after Stop, never panics).
package kv
