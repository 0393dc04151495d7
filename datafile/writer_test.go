package datafile

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/internal/vfs"
)

// fileBytes returns the contents of path in fsys.
func fileBytes(t *testing.T, fsys vfs.FS, path string) []byte {
	t.Helper()
	f, err := fsys.Open(path)
	require.NoError(t, err)
	defer f.Close()
	st, err := f.Stat()
	require.NoError(t, err)
	b := make([]byte, st.Size())
	_, err = f.ReadAt(b, 0)
	require.NoError(t, err)
	return b
}

// appendRecords appends n records to w and returns their keys.
func appendRecords(t *testing.T, w *Writer, from, n int) []string {
	t.Helper()
	var keys []string
	for i := from; i < from+n; i++ {
		key := fmt.Sprintf("key-%04d", i)
		rec, err := AppendEncoded(nil, uint64(i+1), 0, 0, []byte(key), bytes.Repeat([]byte{'v'}, 100))
		require.NoError(t, err)
		_, err = w.Append(rec)
		require.NoError(t, err)
		keys = append(keys, key)
	}
	return keys
}

// TestWriterPreallocateAndSeal: Preallocate writes zeros past the records
// (never beyond the limit), records written later land over them, a scan
// stops at the padding without calling it damage, and Seal cuts it off.
func TestWriterPreallocateAndSeal(t *testing.T) {
	fsys := vfs.NewMem()
	w, err := Create(fsys, "/1.data", 1)
	require.NoError(t, err)
	keys := appendRecords(t, w, 0, 10)
	const limit = 1 << 30
	require.NoError(t, w.Preallocate(limit))
	require.True(t, w.Padded())
	require.NoError(t, w.Sync())
	b := fileBytes(t, fsys, "/1.data")
	require.Equal(t, (w.Size()+PadStep)/PadAlign*PadAlign, int64(len(b)), "one step of padding past the records, to an aligned end")
	require.True(t, allZero(b[w.Size():]))

	// Enough padding left: nothing more is written.
	require.NoError(t, w.Preallocate(limit))
	require.Len(t, fileBytes(t, fsys, "/1.data"), len(b))

	// Records written over the padding; the file keeps its size.
	keys = append(keys, appendRecords(t, w, 10, 50)...)
	require.NoError(t, w.Sync())
	b = fileBytes(t, fsys, "/1.data")
	require.Len(t, b, int((w.Size()-int64(50*len(mustRecord(t)))+PadStep)/PadAlign*PadAlign))
	r := scanAll(b)
	require.NoError(t, r.err)
	require.Equal(t, keys, r.keys)
	require.True(t, r.torn)
	require.True(t, r.padding)
	require.Equal(t, w.Size(), r.end)

	require.NoError(t, w.Seal())
	require.False(t, w.Padded())
	b = fileBytes(t, fsys, "/1.data")
	require.Equal(t, w.Size(), int64(len(b)))
	r = scanAll(b)
	require.NoError(t, r.err)
	require.False(t, r.torn)
	require.Equal(t, keys, r.keys)
	require.NoError(t, w.Close())
}

func mustRecord(t *testing.T) []byte {
	rec, err := AppendEncoded(nil, 1, 0, 0, []byte("key-0000"), bytes.Repeat([]byte{'v'}, 100))
	require.NoError(t, err)
	return rec
}

// TestWriterPreallocateLimit: a small limit gets small steps (a quarter
// of it), and padding never goes past the limit.
func TestWriterPreallocateLimit(t *testing.T) {
	fsys := vfs.NewMem()
	w, err := Create(fsys, "/2.data", 2)
	require.NoError(t, err)
	require.NoError(t, w.Preallocate(4096))
	require.NoError(t, w.Flush())
	require.Len(t, fileBytes(t, fsys, "/2.data"), 1024, "a quarter of a 4 KiB limit, to an aligned end")

	// Under a 4 KiB limit, no padding.
	small, err := Create(fsys, "/small.data", 9)
	require.NoError(t, err)
	require.NoError(t, small.Preallocate(4095))
	require.False(t, small.Padded())

	appendRecords(t, w, 0, 27) // to 3256 bytes: one more step would pass 4096
	require.NoError(t, w.Preallocate(4096))
	require.NoError(t, w.Flush())
	require.Len(t, fileBytes(t, fsys, "/2.data"), 4096)

	// At the limit nothing more is written.
	appendRecords(t, w, 27, 8) // past 4096
	require.NoError(t, w.Preallocate(4096))
	require.NoError(t, w.Flush())
	require.Len(t, fileBytes(t, fsys, "/2.data"), int(w.Size()))
}

// TestWriterPreallocateFailure: a failed padding write is reported but
// leaves the writer working, and Seal still cuts whatever it left.
func TestWriterPreallocateFailure(t *testing.T) {
	mem := vfs.NewMem()
	ffs := vfs.NewFaultFS(mem, nil)
	w, err := Create(ffs, "/4.data", 4)
	require.NoError(t, err)
	keys := appendRecords(t, w, 0, 5)
	require.NoError(t, w.Flush())
	ffs.SetInjector(vfs.InjectorFunc(func(ev vfs.FaultEvent) vfs.Fault {
		if ev.Op == vfs.FaultOpWrite {
			return vfs.FaultShortWrite
		}
		return vfs.FaultNone
	}))
	require.Error(t, w.Preallocate(1<<30))
	ffs.SetInjector(nil)
	require.Greater(t, len(fileBytes(t, mem, "/4.data")), int(w.Size()), "half the padding was written")
	keys = append(keys, appendRecords(t, w, 5, 5)...)
	require.NoError(t, w.Seal())
	b := fileBytes(t, mem, "/4.data")
	require.Equal(t, w.Size(), int64(len(b)))
	r := scanAll(b)
	require.NoError(t, r.err)
	require.False(t, r.torn)
	require.Equal(t, keys, r.keys)
}
