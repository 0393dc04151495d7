package kv

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// KVStore is the framework's key-value store interface. Keys live in
// buckets; GetValue of a missing key returns (nil, nil).
type KVStore interface {
	Open() error
	Close() error
	GetValue(bucket string, key []byte) ([]byte, error)
	GetCompressedValue(bucket string, key []byte) ([]byte, error)
	AddValueCompress(bucket string, key []byte, value []byte) error
	AddValue(bucket string, key []byte, value []byte) error
	ExistsKey(bucket string, key []byte) (bool, error)
	DeleteKey(bucket string, key []byte) error
}

// TTLStore is an optional extension of [KVStore]: values that expire.
type TTLStore interface {
	AddValueWithTTL(bucket string, key, value []byte, ttl time.Duration) error
}

// BucketDeleter is an optional extension of [KVStore]: deleting a whole
// bucket.
type BucketDeleter interface {
	DeleteBucket(bucket string) error
}

// Iterator is an optional extension of [KVStore]: visiting the live keys of
// a bucket. fn returns false to stop.
type Iterator interface {
	Iterate(bucket string, fn func(key, value []byte) bool) error
}

// BatchOp is one write of a [Batcher]'s WriteBatch: a put of Value under
// Key (expiring TTL after the write when TTL > 0), or, with Delete, a
// delete of Key.
type BatchOp struct {
	Key, Value []byte
	TTL        time.Duration
	Delete     bool
}

// Batcher is an optional extension of [KVStore]: several writes to one
// bucket applied as one, all or none and visible at once.
type Batcher interface {
	WriteBatch(bucket string, ops []BatchOp) error
}

// Store is the simple view of a store used in the documentation: string
// keys in one bucket. Get of a missing key returns (nil, nil).
type Store interface {
	Set(key string, value []byte) error
	Get(key string) ([]byte, error)
	Delete(key string) error
}

var (
	// ErrNoStore is returned by the package-level functions when no store
	// is registered.
	ErrNoStore = errors.New("kv: no active store")
	// ErrNotSupported is returned (wrapped, naming the store and the
	// method) when the active store lacks an optional extension.
	ErrNotSupported = errors.New("kv: operation not supported by the active store")
)

// DefaultBucket is the bucket used by the [Store] adapter that [GetStore]
// returns for a [KVStore] that does not implement [Store] itself.
const DefaultBucket = ""

type entry struct {
	name  string
	store KVStore
	view  Store
}

var (
	mu      sync.RWMutex
	entries []entry // in registration order; the last one is active
)

// Register makes s available under name and makes it the active store. It
// panics if s is nil or if name is still registered.
func Register(name string, s KVStore) {
	if s == nil {
		panic("kv: Register store is nil")
	}
	view, ok := s.(Store)
	if !ok {
		view = &adapter{s: s}
	}
	mu.Lock()
	defer mu.Unlock()
	if indexOf(name) >= 0 {
		panic("kv: Register called twice for store " + name)
	}
	entries = append(entries, entry{name: name, store: s, view: view})
}

// Unregister removes the store registered under name; an unknown name is a
// no-op. If it was the active store, the most recently registered store
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

// GetStore returns the [Store] view of the store registered under name, or
// nil if there is none: the store itself if it implements [Store], else an
// adapter on the bucket [DefaultBucket].
func GetStore(name string) Store {
	mu.RLock()
	defer mu.RUnlock()
	if i := indexOf(name); i >= 0 {
		return entries[i].view
	}
	return nil
}

// Active returns the active store, or nil if none is registered.
func Active() KVStore {
	if e, ok := active(); ok {
		return e.store
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

func activeStore() (KVStore, error) {
	if e, ok := active(); ok {
		return e.store, nil
	}
	return nil, ErrNoStore
}

// GetValue calls GetValue on the active store.
func GetValue(bucket string, key []byte) ([]byte, error) {
	s, err := activeStore()
	if err != nil {
		return nil, err
	}
	return s.GetValue(bucket, key)
}

// GetCompressedValue calls GetCompressedValue on the active store.
func GetCompressedValue(bucket string, key []byte) ([]byte, error) {
	s, err := activeStore()
	if err != nil {
		return nil, err
	}
	return s.GetCompressedValue(bucket, key)
}

// AddValue calls AddValue on the active store.
func AddValue(bucket string, key []byte, value []byte) error {
	s, err := activeStore()
	if err != nil {
		return err
	}
	return s.AddValue(bucket, key, value)
}

// AddValueCompress calls AddValueCompress on the active store.
func AddValueCompress(bucket string, key []byte, value []byte) error {
	s, err := activeStore()
	if err != nil {
		return err
	}
	return s.AddValueCompress(bucket, key, value)
}

// ExistsKey calls ExistsKey on the active store.
func ExistsKey(bucket string, key []byte) (bool, error) {
	s, err := activeStore()
	if err != nil {
		return false, err
	}
	return s.ExistsKey(bucket, key)
}

// DeleteKey calls DeleteKey on the active store.
func DeleteKey(bucket string, key []byte) error {
	s, err := activeStore()
	if err != nil {
		return err
	}
	return s.DeleteKey(bucket, key)
}

func notSupported(name, method string) error {
	return fmt.Errorf("%w: store %q has no %s", ErrNotSupported, name, method)
}

// AddValueWithTTL calls AddValueWithTTL on the active store if it
// implements [TTLStore], else returns an error wrapping [ErrNotSupported].
func AddValueWithTTL(bucket string, key, value []byte, ttl time.Duration) error {
	e, ok := active()
	if !ok {
		return ErrNoStore
	}
	t, ok := e.store.(TTLStore)
	if !ok {
		return notSupported(e.name, "AddValueWithTTL")
	}
	return t.AddValueWithTTL(bucket, key, value, ttl)
}

// DeleteBucket calls DeleteBucket on the active store if it implements
// [BucketDeleter], else returns an error wrapping [ErrNotSupported].
func DeleteBucket(bucket string) error {
	e, ok := active()
	if !ok {
		return ErrNoStore
	}
	d, ok := e.store.(BucketDeleter)
	if !ok {
		return notSupported(e.name, "DeleteBucket")
	}
	return d.DeleteBucket(bucket)
}

// Iterate calls Iterate on the active store if it implements [Iterator],
// else returns an error wrapping [ErrNotSupported].
func Iterate(bucket string, fn func(key, value []byte) bool) error {
	e, ok := active()
	if !ok {
		return ErrNoStore
	}
	it, ok := e.store.(Iterator)
	if !ok {
		return notSupported(e.name, "Iterate")
	}
	return it.Iterate(bucket, fn)
}

// WriteBatch calls WriteBatch on the active store if it implements
// [Batcher], else returns an error wrapping [ErrNotSupported].
func WriteBatch(bucket string, ops []BatchOp) error {
	e, ok := active()
	if !ok {
		return ErrNoStore
	}
	b, ok := e.store.(Batcher)
	if !ok {
		return notSupported(e.name, "WriteBatch")
	}
	return b.WriteBatch(bucket, ops)
}

func activeView() (Store, error) {
	if e, ok := active(); ok {
		return e.view, nil
	}
	return nil, ErrNoStore
}

// Set calls Set on the active store's [Store] view (see [GetStore]).
func Set(key string, value []byte) error {
	s, err := activeView()
	if err != nil {
		return err
	}
	return s.Set(key, value)
}

// Get calls Get on the active store's [Store] view (see [GetStore]). A
// missing key returns (nil, nil).
func Get(key string) ([]byte, error) {
	s, err := activeView()
	if err != nil {
		return nil, err
	}
	return s.Get(key)
}

// Delete calls Delete on the active store's [Store] view (see [GetStore]).
func Delete(key string) error {
	s, err := activeView()
	if err != nil {
		return err
	}
	return s.Delete(key)
}

// adapter is the [Store] view of a [KVStore] on [DefaultBucket].
type adapter struct{ s KVStore }

func (a *adapter) Set(key string, value []byte) error {
	return a.s.AddValue(DefaultBucket, []byte(key), value)
}

func (a *adapter) Get(key string) ([]byte, error) {
	return a.s.GetValue(DefaultBucket, []byte(key))
}

func (a *adapter) Delete(key string) error {
	return a.s.DeleteKey(DefaultBucket, []byte(key))
}
