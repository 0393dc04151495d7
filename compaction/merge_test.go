package compaction

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/hintfile"
	"github.com/simplekv/simplekv/internal/vfs"
	"github.com/simplekv/simplekv/keydir"
)

// mergeFixture writes one input data file (id 1) with the given records
// and points the keydir at the ones marked live.
type fixtureRec struct {
	key     string
	seq     uint64
	expiry  int64
	tomb    bool
	live    bool // the keydir points at it
	wantOut string
}

func runFixture(t *testing.T, recs []fixtureRec, minSurviving uint64, now int64) (*Result, *keydir.Keydir, vfs.FS) {
	t.Helper()
	fs := vfs.NewMem()
	require.NoError(t, fs.MkdirAll("/ls", 0o755))
	w, err := datafile.Create(fs, "/in.data", 1)
	require.NoError(t, err)
	kd := keydir.New()
	for _, r := range recs {
		flags, val := byte(0), []byte("value-"+r.key)
		if r.tomb {
			flags, val = datafile.FlagTombstone, nil
		}
		b, err := datafile.AppendEncoded(nil, r.seq, r.expiry, flags, []byte(r.key), val)
		require.NoError(t, err)
		off, err := w.Append(b)
		require.NoError(t, err)
		if r.live {
			kd.Put([]byte(r.key), keydir.Entry{FileID: 1, Offset: uint32(off), Size: uint32(len(b)), Seq: r.seq, Expiry: r.expiry})
		}
	}
	require.NoError(t, w.Sync())
	require.NoError(t, w.Close())
	next := uint32(10)
	m := &Merger{FS: fs, Keydir: kd, Dir: "/ls", MaxFileSize: 1 << 20, Now: now, MinSurvivingSeq: minSurviving,
		NewID: func() (uint32, error) { next++; return next, nil }}
	res, err := m.Run([]Input{{FileRef: FileRef{WAL: true, ID: 1}, Path: "/in.data"}})
	require.NoError(t, err)
	return res, kd, fs
}

// TestMergerKeepsWhatMustSurvive checks each rule of Run on one file.
func TestMergerKeepsWhatMustSurvive(t *testing.T) {
	recs := []fixtureRec{
		{key: "live", seq: 1, live: true, wantOut: "put"},
		{key: "overwritten", seq: 2},                                 // keydir points elsewhere (absent here)
		{key: "old-tomb", seq: 3, tomb: true},                        // nothing older can survive
		{key: "new-tomb", seq: 20, tomb: true, wantOut: "tombstone"}, // an older version may survive
		{key: "expired", seq: 21, expiry: 50, live: true, wantOut: "tombstone"},
		{key: "expired-old", seq: 4, expiry: 50, live: true}, // expired, nothing older survives
		{key: "ttl-live", seq: 5, expiry: 500, live: true, wantOut: "put"},
	}
	// Files outside the merge hold sequence numbers from 10 on.
	res, kd, fs := runFixture(t, recs, 10, 100)
	require.Len(t, res.Outputs, 1)
	out := res.Outputs[0]
	hf, err := hintfile.Open(fs, out.TmpHint)
	require.NoError(t, err)
	defer hf.Close()
	got := map[string]string{}
	for b := 0; b < hf.PutBlocks(); b++ {
		hf.EachPut(b, func(e hintfile.Entry) { got[string(e.Key)] = "put" })
	}
	hf.EachTombstone(func(e hintfile.Entry) { got[string(e.Key)] = "tombstone" })
	want := map[string]string{}
	for _, r := range recs {
		if r.wantOut != "" {
			want[r.key] = r.wantOut
		}
	}
	require.Equal(t, want, got)
	require.EqualValues(t, 2, res.Copied)
	require.EqualValues(t, 2, res.KeptTombstones)
	require.EqualValues(t, 1, res.ExpiredTombstones)
	require.Len(t, res.Expired, 2, "both expired records the keydir points at are reported")
	require.Equal(t, int64(2), out.Puts)

	// Publish and install: the two live keys move to the output.
	require.NoError(t, Publish(fs, "/ls", res.OutputIDs()))
	hf2, err := hintfile.Open(fs, out.Hint)
	require.NoError(t, err)
	defer hf2.Close()
	// A write that raced the merge wins: "ttl-live" changes first.
	kd.Put([]byte("ttl-live"), keydir.Entry{FileID: 99, Size: 1, Seq: 30})
	moved, lost, err := Install(kd, out, hf2, nil)
	require.NoError(t, err)
	require.EqualValues(t, 1, moved)
	require.Positive(t, lost)
	e, _ := kd.Get([]byte("live"))
	require.Equal(t, out.ID, e.FileID)
	e, _ = kd.Get([]byte("ttl-live"))
	require.EqualValues(t, 99, e.FileID)

	// A hint that does not list what the merge wrote is refused.
	out.to, out.from = out.to[:1], out.from[:1]
	_, _, err = Install(kd, out, hf2, nil)
	require.Error(t, err)
}

func TestMergerDropsAllMarkersWhenNothingOlderSurvives(t *testing.T) {
	var recs []fixtureRec
	for i := 0; i < 50; i++ {
		recs = append(recs, fixtureRec{key: fmt.Sprintf("t%d", i), seq: uint64(100 + i), tomb: true})
	}
	res, _, _ := runFixture(t, recs, math.MaxUint64, 0)
	require.Empty(t, res.Outputs, "no record survives, so no output file")
	require.EqualValues(t, 50, res.Dropped)
}

func TestMergerStops(t *testing.T) {
	fs := vfs.NewMem()
	require.NoError(t, fs.MkdirAll("/ls", 0o755))
	w, err := datafile.Create(fs, "/in.data", 1)
	require.NoError(t, err)
	kd := keydir.New()
	val := make([]byte, 64<<10)
	for i := 0; i < 40; i++ {
		b, err := datafile.AppendEncoded(nil, uint64(i+1), 0, 0, []byte(fmt.Sprint(i)), val)
		require.NoError(t, err)
		off, err := w.Append(b)
		require.NoError(t, err)
		kd.Put([]byte(fmt.Sprint(i)), keydir.Entry{FileID: 1, Offset: uint32(off), Size: uint32(len(b)), Seq: uint64(i + 1)})
	}
	require.NoError(t, w.Sync())
	require.NoError(t, w.Close())
	stop := make(chan struct{})
	close(stop)
	id := uint32(1)
	m := &Merger{FS: fs, Keydir: kd, Dir: "/ls", MaxFileSize: 1 << 30, Stop: stop, MinSurvivingSeq: math.MaxUint64,
		NewID: func() (uint32, error) { id++; return id, nil }}
	_, err = m.Run([]Input{{FileRef: FileRef{WAL: true, ID: 1}, Path: "/in.data"}})
	require.ErrorIs(t, err, ErrStopped)
	names, err := fs.List("/ls")
	require.NoError(t, err)
	require.Empty(t, names, "a stopped merge leaves nothing behind")
}
