// Package cache is a byte-budgeted, sharded LRU cache of values for the
// engine's read path. Entries are tagged with the record's sequence number:
// a lookup names the sequence number the keydir currently holds and misses
// on any other, so a value cached just before an overwrite is never served.
package cache
