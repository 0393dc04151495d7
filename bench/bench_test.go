package bench

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEngines(t *testing.T) {
	var names []string
	for _, e := range Engines() {
		names = append(names, e.Name)
		require.NotNil(t, e.Open, e.Name)
		got, ok := Lookup(e.Name)
		require.True(t, ok, e.Name)
		require.Equal(t, e.Name, got.Name)
	}
	require.Equal(t, []string{"simplekv", "bbolt", "badger", "pebble", "goleveldb"}, names)
	_, ok := Lookup("nosuch")
	require.False(t, ok)
}

func TestAdapters(t *testing.T) {
	for _, e := range Engines() {
		for _, sync := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/sync=%t", e.Name, sync), func(t *testing.T) {
				t.Parallel()
				testAdapter(t, e, Config{Sync: sync})
			})
		}
	}
}

func benchKey(i int) []byte { return fmt.Appendf(nil, "key-%06d", i) }
func benchValue(i int) []byte {
	return fmt.Appendf(nil, "value-%06d-%s", i, "padding-to-make-it-longer")
}

func testAdapter(t *testing.T, e Engine, cfg Config) {
	dir := t.TempDir()
	db, err := e.Open(dir, cfg)
	require.NoError(t, err)
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = db.Close()
		}
	})

	// Missing key.
	_, err = db.Get([]byte("missing"))
	require.ErrorIs(t, err, ErrNotFound)

	// Put, Get.
	k := []byte("k")
	require.NoError(t, db.Put(k, []byte("v1")))
	v, err := db.Get(k)
	require.NoError(t, err)
	require.Equal(t, []byte("v1"), v)

	// The result belongs to the caller: scribbling on it changes nothing.
	v[0] = 'X'
	v, err = db.Get(k)
	require.NoError(t, err)
	require.Equal(t, []byte("v1"), v)

	// Nor does scribbling on the arguments after Put returns.
	key, val := []byte("k2"), []byte("original")
	require.NoError(t, db.Put(key, val))
	copy(key, "zz")
	copy(val, "XXXXXXXX")
	v, err = db.Get([]byte("k2"))
	require.NoError(t, err)
	require.Equal(t, []byte("original"), v)

	// Overwrite.
	require.NoError(t, db.Put(k, []byte("value two")))
	v, err = db.Get(k)
	require.NoError(t, err)
	require.Equal(t, []byte("value two"), v)

	// Delete, then Get is ErrNotFound; deleting again is no error.
	require.NoError(t, db.Delete(k))
	_, err = db.Get(k)
	require.ErrorIs(t, err, ErrNotFound)
	require.NoError(t, db.Delete(k))
	require.NoError(t, db.Delete([]byte("never-written")))

	// An empty value is a value, not a missing key.
	empty := []byte("empty")
	require.NoError(t, db.Put(empty, nil))
	v, err = db.Get(empty)
	require.NoError(t, err)
	require.NotNil(t, v)
	require.Empty(t, v)
	require.NoError(t, db.Put([]byte("empty2"), []byte{}))

	// 100 keys, some overwritten, some deleted.
	const n = 100
	for i := range n {
		require.NoError(t, db.Put(benchKey(i), []byte("stale")))
	}
	for i := range n {
		require.NoError(t, db.Put(benchKey(i), benchValue(i)))
	}
	for i := 0; i < n; i += 10 {
		require.NoError(t, db.Delete(benchKey(i)))
	}
	// Bulk load: keys n..2n-1, one call.
	var lk, lv [][]byte
	for i := n; i < 2*n; i++ {
		lk, lv = append(lk, benchKey(i)), append(lv, benchValue(i))
	}
	require.NoError(t, db.(Loader).Load(lk, lv))
	if c, ok := db.(Compacter); ok {
		require.NoError(t, c.Compact())
	} else {
		require.Equal(t, "bbolt", e.Name, "only bbolt has no Compact")
	}
	require.NoError(t, db.Sync())
	require.NoError(t, db.Sync()) // nothing new written: still fine
	require.NoError(t, db.Close())
	closed = true

	// Reopen: everything written before Close is there.
	db, err = e.Open(dir, cfg)
	require.NoError(t, err)
	closed = false
	check := func() {
		t.Helper()
		for i := range n {
			v, err := db.Get(benchKey(i))
			if i%10 == 0 {
				require.ErrorIs(t, err, ErrNotFound, "key %d", i)
				continue
			}
			require.NoError(t, err, "key %d", i)
			require.Equal(t, benchValue(i), v, "key %d", i)
		}
		for i := n; i < 2*n; i++ {
			v, err := db.Get(benchKey(i))
			require.NoError(t, err, "loaded key %d", i)
			require.Equal(t, benchValue(i), v, "loaded key %d", i)
		}
		_, err := db.Get(k)
		require.ErrorIs(t, err, ErrNotFound)
		v, err := db.Get([]byte("k2"))
		require.NoError(t, err)
		require.Equal(t, []byte("original"), v)
		for _, ek := range []string{"empty", "empty2"} {
			v, err = db.Get([]byte(ek))
			require.NoError(t, err, ek)
			require.NotNil(t, v, ek)
			require.Empty(t, v, ek)
		}
	}
	check()

	// Writes after reopen persist too, across a Close without a Sync.
	require.NoError(t, db.Put(benchKey(0), benchValue(0)))
	require.NoError(t, db.Close())
	db, err = e.Open(dir, cfg)
	require.NoError(t, err)
	v, err = db.Get(benchKey(0))
	require.NoError(t, err)
	require.Equal(t, benchValue(0), v)
	require.NoError(t, db.Delete(benchKey(0)))
	check()
	require.NoError(t, db.Close())
	closed = true
}

func TestGoleveldbReservedKey(t *testing.T) {
	db, err := OpenGoleveldb(t.TempDir(), Config{})
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	require.ErrorIs(t, db.Put(goleveldbSyncKey, []byte("x")), ErrReservedKey)
}
