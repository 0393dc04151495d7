package raftlog

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/simplekv/simplekv/engine"
)

// Stable values and the store's own marks share one engine.DB: user keys
// (raft's) get the prefix 's', the store's own the prefix 'm', so that no
// raft key can overwrite a mark.
var markKey = []byte("mfirst") // the first index after a head delete

func stableKey(k []byte) []byte { return append([]byte{'s'}, k...) }

// Set stores val under key, durably (raft.StableStore).
func (s *Store) Set(key, val []byte) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	return s.stable.Put(stableKey(key), val)
}

// Get returns key's value, or nil and no error if it was never set, as
// raft.StableStore documents.
func (s *Store) Get(key []byte) ([]byte, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	v, err := s.stable.Get(stableKey(key))
	if errors.Is(err, engine.ErrNotFound) {
		return nil, nil
	}
	return v, err
}

// SetUint64 stores val under key as 8 big-endian bytes, durably.
func (s *Store) SetUint64(key []byte, val uint64) error {
	return s.Set(key, binary.BigEndian.AppendUint64(nil, val))
}

// GetUint64 returns key's value, or 0 and no error if it was never set.
func (s *Store) GetUint64(key []byte) (uint64, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	return s.getUint64(stableKey(key))
}

// getUint64 reads an 8-byte value from the stable DB (0 if absent).
func (s *Store) getUint64(key []byte) (uint64, error) {
	v, err := s.stable.Get(key)
	if errors.Is(err, engine.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("raftlog: %w: value of %q is %d bytes, not 8", engine.ErrCorrupt, key[1:], len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

func (s *Store) checkOpen() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return nil
}
