package compaction

import (
	"encoding/binary"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/internal/vfs"
)

func TestJournalRoundTrip(t *testing.T) {
	for _, j := range []Journal{
		{},
		{Inputs: []FileRef{{WAL: true, ID: 3}, {ID: 7}}, Outputs: []uint32{9}},
		{Inputs: []FileRef{{ID: 1 << 31}}, Outputs: []uint32{1, 2, 3, ^uint32(0)}},
	} {
		got, err := DecodeJournal("j", j.Encode())
		require.NoError(t, err)
		require.Equal(t, len(j.Inputs), len(got.Inputs))
		require.Equal(t, len(j.Outputs), len(got.Outputs))
		for i := range j.Inputs {
			require.Equal(t, j.Inputs[i], got.Inputs[i])
		}
		for i := range j.Outputs {
			require.Equal(t, j.Outputs[i], got.Outputs[i])
		}
	}
}

func TestJournalDamageDetected(t *testing.T) {
	b := Journal{Inputs: []FileRef{{WAL: true, ID: 3}, {ID: 7}}, Outputs: []uint32{9, 10}}.Encode()
	for i := range len(b) * 8 {
		c := append([]byte(nil), b...)
		c[i/8] ^= 1 << (i % 8)
		_, err := DecodeJournal("j", c)
		require.Error(t, err, "bit %d", i)
	}
	for n := range len(b) {
		_, err := DecodeJournal("j", b[:n])
		require.ErrorIs(t, err, datafile.ErrCorrupt, "truncated to %d", n)
	}
	// A future version with a valid checksum is a version error.
	c := append([]byte(nil), b...)
	binary.LittleEndian.PutUint16(c[4:], 2)
	binary.LittleEndian.PutUint32(c[len(c)-4:], uint32(xxhash.Sum64(c[:len(c)-4])))
	_, err := DecodeJournal("j", c)
	require.ErrorIs(t, err, datafile.ErrVersion)
	// Counts that disagree with the length, checksum fixed up.
	c = append([]byte(nil), b...)
	binary.LittleEndian.PutUint32(c[8:], 1000)
	binary.LittleEndian.PutUint32(c[len(c)-4:], uint32(xxhash.Sum64(c[:len(c)-4])))
	_, err = DecodeJournal("j", c)
	require.ErrorIs(t, err, datafile.ErrCorrupt)
}

func TestWriteReadRemoveJournal(t *testing.T) {
	fs := vfs.NewMem()
	require.NoError(t, fs.MkdirAll("/d", 0o755))
	require.NoError(t, fs.SyncDir("/"))
	_, found, err := ReadJournal(fs, "/d")
	require.NoError(t, err)
	require.False(t, found)
	j := Journal{Inputs: []FileRef{{WAL: true, ID: 4}}, Outputs: []uint32{5}}
	renamed, err := WriteJournal(fs, "/d", j)
	require.NoError(t, err)
	require.True(t, renamed)
	// Durable: it survives a power cut, and no temporary is left.
	img := fs.CrashClone(nil)
	got, found, err := ReadJournal(img, "/d")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, j.Inputs, got.Inputs)
	names, err := img.List("/d")
	require.NoError(t, err)
	require.Equal(t, []string{JournalName}, names)
	require.NoError(t, RemoveJournal(fs, "/d"))
	_, found, err = ReadJournal(fs.CrashClone(nil), "/d")
	require.NoError(t, err)
	require.False(t, found, "journal removal must be durable")
}
