package vfs

import "errors"

// ErrLocked is returned (wrapped with the path) by FS.Lock when the lock is
// already held.
var ErrLocked = errors.New("vfs: lock held by another user")
