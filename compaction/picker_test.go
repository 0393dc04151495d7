package compaction

import (
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

const (
	mib = int64(1) << 20
	now = int64(1_700_000_000_000_000_000)
)

func TestWithDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   Options
		want Options
	}{
		{
			name: "zero takes every default",
			in:   Options{},
			want: Options{
				TriggerDeadFraction:   0.6,
				TriggerDeadBytes:      128 * mib,
				TriggerWALFiles:       2,
				ThresholdDeadFraction: 0.4,
				ThresholdDeadBytes:    32 * mib,
				ThresholdSmallFile:    16 * mib,
			},
		},
		{
			name: "negative stays disabled",
			in: Options{
				TriggerDeadFraction: -1, TriggerDeadBytes: -1, TriggerWALFiles: -1,
				ThresholdDeadFraction: -1, ThresholdDeadBytes: -1, ThresholdSmallFile: -1,
			},
			want: Options{
				TriggerDeadFraction: -1, TriggerDeadBytes: -1, TriggerWALFiles: -1,
				ThresholdDeadFraction: -1, ThresholdDeadBytes: -1, ThresholdSmallFile: -1,
			},
		},
		{
			name: "explicit values kept",
			in: Options{
				TriggerDeadFraction: 0.9, TriggerDeadBytes: 7, TriggerWALFiles: 5,
				ThresholdDeadFraction: 0.1, ThresholdDeadBytes: 3, ThresholdSmallFile: 11,
			},
			want: Options{
				TriggerDeadFraction: 0.9, TriggerDeadBytes: 7, TriggerWALFiles: 5,
				ThresholdDeadFraction: 0.1, ThresholdDeadBytes: 3, ThresholdSmallFile: 11,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.in.WithDefaults())
		})
	}
	// The named constants are the documented values.
	require.Equal(t, Options{}.WithDefaults(), Options{
		TriggerDeadFraction:   DefaultTriggerDeadFraction,
		TriggerDeadBytes:      DefaultTriggerDeadBytes,
		TriggerWALFiles:       DefaultTriggerWALFiles,
		ThresholdDeadFraction: DefaultThresholdDeadFraction,
		ThresholdDeadBytes:    DefaultThresholdDeadBytes,
		ThresholdSmallFile:    DefaultThresholdSmallFile,
	})
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want []string // substrings of the error; nil = valid
		not  []string // substrings the error must not contain
	}{
		{name: "zero", o: Options{}},
		{name: "defaults", o: Options{}.WithDefaults()},
		{name: "fractions of exactly 1", o: Options{TriggerDeadFraction: 1, ThresholdDeadFraction: 1}},
		{name: "threshold equal to trigger", o: Options{
			TriggerDeadFraction: 0.5, ThresholdDeadFraction: 0.5, TriggerDeadBytes: 10, ThresholdDeadBytes: 10}},
		{name: "everything disabled", o: Options{
			TriggerDeadFraction: -1, TriggerDeadBytes: -1, TriggerWALFiles: -1,
			ThresholdDeadFraction: -1, ThresholdDeadBytes: -1, ThresholdSmallFile: -1}},
		{name: "fraction threshold above disabled trigger", o: Options{
			TriggerDeadFraction: -1, ThresholdDeadFraction: 0.9}},
		{name: "bytes threshold above disabled trigger", o: Options{
			TriggerDeadBytes: -1, ThresholdDeadBytes: 1 << 40}},
		{name: "disabled thresholds under low triggers", o: Options{
			TriggerDeadFraction: 0.1, ThresholdDeadFraction: -0.5, TriggerDeadBytes: 1, ThresholdDeadBytes: -1}},
		{name: "negative infinity is rejected, not a disabled value", o: Options{TriggerDeadFraction: math.Inf(-1)},
			want: []string{"TriggerDeadFraction", "-Inf", "not finite"}},

		{name: "fraction threshold above explicit trigger",
			o:    Options{TriggerDeadFraction: 0.5, ThresholdDeadFraction: 0.55},
			want: []string{"ThresholdDeadFraction 0.55 above TriggerDeadFraction 0.5"}},
		{name: "fraction threshold above default trigger",
			o:    Options{ThresholdDeadFraction: 0.7},
			want: []string{"ThresholdDeadFraction 0.7 above TriggerDeadFraction 0.6 (default)"}},
		{name: "fraction trigger below default threshold",
			o:    Options{TriggerDeadFraction: 0.3},
			want: []string{"ThresholdDeadFraction 0.4 (default) above TriggerDeadFraction 0.3"}},
		{name: "bytes threshold above explicit trigger",
			o:    Options{TriggerDeadBytes: 100, ThresholdDeadBytes: 101},
			want: []string{"ThresholdDeadBytes 101 above TriggerDeadBytes 100"}},
		{name: "bytes threshold above default trigger",
			o:    Options{ThresholdDeadBytes: 129 * mib},
			want: []string{"ThresholdDeadBytes 135266304 above TriggerDeadBytes 134217728 (default)"}},
		{name: "bytes trigger below default threshold",
			o:    Options{TriggerDeadBytes: mib},
			want: []string{"ThresholdDeadBytes 33554432 (default) above TriggerDeadBytes 1048576"}},
		{name: "NaN trigger", o: Options{TriggerDeadFraction: math.NaN()},
			want: []string{"TriggerDeadFraction is NaN"}},
		{name: "NaN threshold", o: Options{ThresholdDeadFraction: math.NaN()},
			want: []string{"ThresholdDeadFraction is NaN"}},
		{name: "infinite threshold reported once", o: Options{ThresholdDeadFraction: math.Inf(1)},
			want: []string{"ThresholdDeadFraction +Inf is not finite"},
			not:  []string{"TriggerDeadFraction"}},
		{name: "trigger above 1", o: Options{TriggerDeadFraction: 1.5},
			want: []string{"TriggerDeadFraction 1.5 above 1"},
			not:  []string{"ThresholdDeadFraction"}},
		{name: "threshold above 1", o: Options{ThresholdDeadFraction: 1.01},
			want: []string{"ThresholdDeadFraction 1.01 above 1"}},
		{name: "several problems at once",
			o: Options{TriggerDeadFraction: math.NaN(), ThresholdDeadFraction: 2, TriggerDeadBytes: 5, ThresholdDeadBytes: 6},
			want: []string{
				"TriggerDeadFraction is NaN",
				"ThresholdDeadFraction 2 above 1",
				"ThresholdDeadBytes 6 above TriggerDeadBytes 5",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.Validate()
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.ErrorIs(t, err, ErrInvalidOptions)
			for _, s := range tt.want {
				require.Contains(t, err.Error(), s)
			}
			for _, s := range tt.not {
				require.NotContains(t, err.Error(), s)
			}
		})
	}
}

func TestFileInfo(t *testing.T) {
	tests := []struct {
		name      string
		f         FileInfo
		live      int64
		fraction  float64
		expired   bool
		deadFrac  float64 // as the picker sees it at now
		deadBytes int64
	}{
		{name: "header only", f: FileInfo{Size: 16}},
		{name: "truncated below header", f: FileInfo{Size: 3}},
		{name: "clean", f: FileInfo{Size: 116}, live: 100},
		{name: "some dead", f: FileInfo{Size: 116, Dead: 25, Tombstones: 10},
			live: 65, fraction: 0.25, deadFrac: 0.25, deadBytes: 25},
		{name: "all dead", f: FileInfo{Size: 116, Dead: 100},
			fraction: 1, deadFrac: 1, deadBytes: 100},
		{name: "overcounted dead clamps", f: FileInfo{Size: 116, Dead: 150, Tombstones: 10},
			fraction: 1, deadFrac: 1, deadBytes: 100},
		{name: "expired", f: FileInfo{Size: 116, Dead: 10, ExpiresAt: now},
			live: 90, fraction: 0.1, expired: true, deadFrac: 1, deadBytes: 100},
		{name: "expires later", f: FileInfo{Size: 116, Dead: 10, ExpiresAt: now + 1},
			live: 90, fraction: 0.1, deadFrac: 0.1, deadBytes: 10},
		{name: "expired header only", f: FileInfo{Size: 16, ExpiresAt: 1}, expired: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.live, tt.f.Live())
			require.InDelta(t, tt.fraction, tt.f.DeadFraction(), 1e-12)
			require.Equal(t, tt.expired, tt.f.Expired(now))
			frac, dead := tt.f.deadAt(now)
			require.InDelta(t, tt.deadFrac, frac, 1e-12)
			require.Equal(t, tt.deadBytes, dead)
		})
	}
}

// file builds a FileInfo of size bytes after the header with dead bytes.
func file(id uint32, wal bool, size, dead int64) FileInfo {
	return FileInfo{ID: id, WAL: wal, Size: headerSize + size, Dead: dead}
}

func TestPick(t *testing.T) {
	big := 200 * mib // not small under the defaults
	tests := []struct {
		name   string
		files  []FileInfo
		o      Options
		want   []uint32
		reason []string // substrings of Reason
	}{
		{name: "no files", files: nil},
		{name: "clean files", files: []FileInfo{file(1, false, big, 0), file(2, true, big, 0)}},
		{
			name:   "dead fraction trigger alone",
			files:  []FileInfo{file(3, false, big, big*7/10), file(4, false, big, 0)},
			o:      Options{TriggerDeadBytes: -1},
			want:   []uint32{3},
			reason: []string{"file 3 dead fraction 0.70 >= 0.60"},
		},
		{
			name:  "dead fraction just below trigger",
			files: []FileInfo{file(3, false, 1000*mib, 599*mib)},
			o:     Options{TriggerDeadBytes: -1},
		},
		{
			name:   "dead fraction exactly at trigger",
			files:  []FileInfo{file(3, false, 1000*mib, 600*mib)},
			o:      Options{TriggerDeadBytes: -1},
			want:   []uint32{3},
			reason: []string{"file 3 dead fraction 0.60 >= 0.60"},
		},
		{
			name:   "dead bytes trigger alone",
			files:  []FileInfo{file(5, false, 1024*mib, 128*mib), file(6, false, big, 0)},
			want:   []uint32{5},
			reason: []string{"file 5 dead bytes 128.0 MiB >= 128.0 MiB"},
		},
		{
			name:  "dead bytes just below trigger",
			files: []FileInfo{file(5, false, 1024*mib, 128*mib-1)},
		},
		{
			name:   "wal trigger alone brings every wal file",
			files:  []FileInfo{file(7, true, big, 0), file(8, false, big, 0), file(9, true, big, 0), file(10, true, big, 0)},
			want:   []uint32{7, 9, 10},
			reason: []string{"3 sealed wal files >= 2"},
		},
		{
			name:  "one wal file is below the wal trigger",
			files: []FileInfo{file(7, true, big, 0), file(8, false, big, 0)},
		},
		{
			name:  "wal trigger set higher",
			files: []FileInfo{file(7, true, big, 0), file(9, true, big, 0)},
			o:     Options{TriggerWALFiles: 3},
		},
		{
			name: "threshold files join only when a trigger fires",
			files: []FileInfo{
				file(1, false, big, big/2),      // fraction 0.5: threshold only
				file(2, false, 500*mib, 40*mib), // 40 MiB dead: threshold only
			},
		},
		{
			name: "threshold files join a running merge",
			files: []FileInfo{
				file(1, false, big, big/2),         // fraction 0.5
				file(2, false, 500*mib, 40*mib),    // 40 MiB dead
				file(3, false, big, big*9/10),      // fires
				file(4, false, big, big/10),        // neither
				file(5, false, 50*mib, 20*mib),     // fraction exactly 0.4
				file(6, false, 50*mib, 20*mib-1),   // fraction just below 0.4
				file(7, false, 1000*mib, 32*mib),   // exactly 32 MiB dead
				file(8, false, 1000*mib, 32*mib-1), // just below 32 MiB dead
			},
			want:   []uint32{1, 2, 3, 5, 7},
			reason: []string{"file 3 dead fraction 0.90 >= 0.60"},
		},
		{
			name: "small files join a running merge",
			files: []FileInfo{
				file(1, false, mib, 0),        // small
				file(2, false, 16*mib-17, 0),  // Size 16 MiB - 1: small
				file(3, false, 16*mib-16, 0),  // Size 16 MiB: not small
				file(4, false, big, big*8/10), // fires
			},
			want: []uint32{1, 2, 4},
		},
		{
			name: "all-dead file joins even with every threshold disabled",
			files: []FileInfo{
				file(1, false, mib, mib),                                  // all dead, below the bytes trigger
				file(2, false, big, 150*mib),                              // fires the bytes trigger
				file(3, true, mib, 0),                                     // small, but small threshold disabled
				{ID: 4, Size: headerSize + 100, Dead: 50, Tombstones: 50}, // no live, but tombstones
			},
			o: Options{
				TriggerDeadFraction: -1, TriggerWALFiles: -1,
				ThresholdDeadFraction: -1, ThresholdDeadBytes: -1, ThresholdSmallFile: -1,
			},
			want:   []uint32{1, 2},
			reason: []string{"file 2 dead bytes 150.0 MiB >= 128.0 MiB"},
		},
		{
			name: "expired file triggers and joins",
			files: []FileInfo{
				{ID: 11, Size: big + headerSize, ExpiresAt: now - 1},
				{ID: 12, Size: big + headerSize, ExpiresAt: now + 1},
			},
			want:   []uint32{11},
			reason: []string{"file 11 fully expired, dead fraction 1.00 >= 0.60", "file 11 fully expired, dead bytes 200.0 MiB >= 128.0 MiB"},
		},
		{
			name: "expired file joins with the fraction thresholds disabled",
			files: []FileInfo{
				{ID: 11, Size: 10*mib + headerSize, ExpiresAt: now},
				file(12, false, big, 150*mib),
			},
			o:    Options{TriggerDeadFraction: -1, ThresholdDeadFraction: -1, ThresholdSmallFile: -1},
			want: []uint32{11, 12},
		},
		{
			name: "every trigger disabled",
			files: []FileInfo{
				file(1, true, big, big), file(2, true, big, big), {ID: 3, Size: big, ExpiresAt: 1},
			},
			o: Options{TriggerDeadFraction: -1, TriggerDeadBytes: -1, TriggerWALFiles: -1},
		},
		{
			name:   "several triggers in the reason",
			files:  []FileInfo{file(1, true, big, big*7/10), file(2, true, big, big*9/10), file(3, false, 1024*mib, 300*mib)},
			want:   []uint32{1, 2, 3},
			reason: []string{"file 2 dead fraction 0.90 >= 0.60 (and 1 more)", "file 3 dead bytes 300.0 MiB >= 128.0 MiB (and 2 more)", "2 sealed wal files >= 2"},
		},
		{
			name:  "single clean small last_state file with nothing triggered",
			files: []FileInfo{file(1, false, mib, 0)},
		},
		{
			name:   "single small wal file under a wal trigger of 1",
			files:  []FileInfo{file(1, true, mib, 0)},
			o:      Options{TriggerWALFiles: 1},
			want:   []uint32{1},
			reason: []string{"1 sealed wal files >= 1"},
		},
		{
			name:  "input order and repeated ids",
			files: []FileInfo{file(9, true, big, 0), file(2, true, big, 0), file(5, true, big, 0), file(2, true, big, 0)},
			want:  []uint32{2, 5, 9},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := slices.Clone(tt.files)
			p := Pick(files, now, tt.o)
			require.Equal(t, tt.files, files, "Pick must not modify its argument")
			if len(tt.want) == 0 {
				require.Empty(t, p.Inputs)
				require.Empty(t, p.Reason)
				return
			}
			require.Equal(t, tt.want, p.Inputs)
			for _, s := range tt.reason {
				require.Contains(t, p.Reason, s)
			}
		})
	}
}

func TestPickDefaultsEqualZero(t *testing.T) {
	files := []FileInfo{
		file(1, false, 200*mib, 130*mib), file(2, false, mib, 0), file(3, true, 200*mib, 10*mib),
	}
	require.Equal(t, Pick(files, now, Options{}.WithDefaults()), Pick(files, now, Options{}))
	require.Equal(t, []uint32{1, 2}, Pick(files, now, Options{}).Inputs)
}

// TestReclaimsNothing checks the guard that keeps a lone clean last_state
// file from being merged into itself. Under Pick's rules a lone input is
// the file that fired a trigger (which has dead bytes or has expired) or a
// wal file, so the guard is tested directly as well as through Pick.
func TestReclaimsNothing(t *testing.T) {
	tests := []struct {
		name string
		f    FileInfo
		want bool
	}{
		{name: "clean small last_state file", f: file(1, false, mib, 0), want: true},
		{name: "clean large last_state file", f: file(1, false, 200*mib, 0), want: true},
		{name: "header-only last_state file", f: file(1, false, 0, 0), want: true},
		{name: "tombstones only", f: FileInfo{ID: 1, Size: headerSize + 100, Tombstones: 100}, want: true},
		{name: "not yet expired", f: FileInfo{ID: 1, Size: headerSize + 100, ExpiresAt: now + 1}, want: true},
		{name: "wal file gains a hint file", f: file(1, true, mib, 0)},
		{name: "one dead byte", f: file(1, false, mib, 1)},
		{name: "expired", f: FileInfo{ID: 1, Size: headerSize + 100, ExpiresAt: now}},
		{name: "expired header only", f: FileInfo{ID: 1, Size: headerSize, ExpiresAt: now}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, reclaimsNothing(tt.f, now))
		})
	}
}

func TestPickSingleCleanSmallFile(t *testing.T) {
	clean := file(1, false, mib, 0)
	// Alone it never merges, under any trigger setting.
	for _, o := range []Options{{}, {TriggerWALFiles: 1}, {TriggerDeadFraction: -1, TriggerDeadBytes: -1}} {
		p := Pick([]FileInfo{clean}, now, o)
		require.Empty(t, p.Inputs, "options %+v", o)
		require.Empty(t, p.Reason, "options %+v", o)
	}
	// With a companion that fires a trigger, it joins for being small.
	p := Pick([]FileInfo{clean, file(2, false, 200*mib, 190*mib)}, now, Options{})
	require.Equal(t, []uint32{1, 2}, p.Inputs)
	// In wal/ it merges alone under a WAL trigger of 1: it gains a hint file.
	wal := clean
	wal.WAL = true
	require.Equal(t, []uint32{1}, Pick([]FileInfo{wal}, now, Options{TriggerWALFiles: 1}).Inputs)
	// Expired, it merges alone.
	exp := clean
	exp.ExpiresAt = now
	require.Equal(t, []uint32{1}, Pick([]FileInfo{exp}, now, Options{}).Inputs)
}

func TestAll(t *testing.T) {
	tests := []struct {
		name  string
		files []FileInfo
		want  []uint32
	}{
		{name: "none", files: nil, want: []uint32{}},
		{name: "one", files: []FileInfo{{ID: 4}}, want: []uint32{4}},
		{name: "unsorted, repeated, clean and wal", files: []FileInfo{
			{ID: 9, WAL: true}, {ID: 3, Size: 1 << 30}, {ID: 7}, {ID: 3}, {ID: 1, WAL: true},
		}, want: []uint32{1, 3, 7, 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := All(tt.files)
			require.Equal(t, tt.want, p.Inputs)
			require.Equal(t, "manual", p.Reason)
		})
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB",
		128 << 20: "128.0 MiB", 3 << 30: "3.0 GiB", math.MaxInt64: "8.0 EiB",
	} {
		require.Equal(t, want, humanBytes(n), "humanBytes(%d)", n)
	}
}

// drawLimit draws an option value: 0 (default), negative (disabled) or one
// of the explicit values.
func drawLimit[T int | int64 | float64](t *rapid.T, name string, explicit ...T) T {
	return rapid.SampledFrom(append([]T{0, -1}, explicit...)).Draw(t, name)
}

// model restates the picker's rules per file, independently of judge.
type model struct {
	trigger, threshold bool // the file meets a trigger / a threshold
	cleanSmall         bool // it can join only for being small
}

func modelOf(f FileInfo, o Options) model {
	payload := max(f.Size-headerSize, 0)
	dead := min(max(f.Dead, 0), payload)
	frac := 0.0
	if payload > 0 {
		frac = float64(dead) / float64(payload)
	}
	exp := f.ExpiresAt != 0 && f.ExpiresAt <= now
	if exp && payload > 0 {
		frac, dead = 1, payload
	}
	var m model
	m.trigger = (o.TriggerDeadFraction > 0 && frac >= o.TriggerDeadFraction) ||
		(o.TriggerDeadBytes > 0 && dead >= o.TriggerDeadBytes)
	allDead := payload > 0 && payload-f.Dead-f.Tombstones <= 0 && f.Tombstones == 0
	m.threshold = (o.ThresholdDeadFraction > 0 && frac >= o.ThresholdDeadFraction) ||
		(o.ThresholdDeadBytes > 0 && dead >= o.ThresholdDeadBytes) ||
		(o.ThresholdSmallFile > 0 && f.Size < o.ThresholdSmallFile) ||
		exp || allDead
	m.cleanSmall = !f.WAL && !exp && dead == 0 && !m.trigger
	return m
}

func TestPickProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		o := Options{
			TriggerDeadFraction:   drawLimit(t, "trigFrac", 0.45, 0.6, 1),
			TriggerDeadBytes:      drawLimit(t, "trigBytes", 64*mib, 128*mib),
			TriggerWALFiles:       drawLimit(t, "trigWAL", 1, 2, 4),
			ThresholdDeadFraction: drawLimit(t, "thrFrac", 0.1, 0.3),
			ThresholdDeadBytes:    drawLimit(t, "thrBytes", mib, 32*mib),
			ThresholdSmallFile:    drawLimit(t, "thrSmall", mib, 16*mib),
		}
		require.NoError(t, o.Validate())
		ids := rapid.SliceOfNDistinct(rapid.Uint32Range(0, 200), 0, 12, rapid.ID[uint32]).Draw(t, "ids")
		files := make([]FileInfo, len(ids))
		for i, id := range ids {
			payload := rapid.SampledFrom([]int64{0, 1000, mib / 2, 4 * mib, 20 * mib, 100 * mib, 256 * mib}).Draw(t, "payload")
			dead := int64(0)
			if rapid.Bool().Draw(t, "hasDead") {
				dead = rapid.Int64Range(0, payload).Draw(t, "dead")
			}
			tomb := rapid.Int64Range(0, payload-dead).Draw(t, "tombstones")
			expires := rapid.SampledFrom([]int64{0, 0, now - 1, now, now + 1}).Draw(t, "expiresAt")
			files[i] = FileInfo{
				ID: id, WAL: rapid.Bool().Draw(t, "wal"), Size: headerSize + payload,
				Dead: dead, Tombstones: tomb, ExpiresAt: expires,
			}
		}

		p := Pick(files, now, o)
		d := o.WithDefaults()

		require.True(t, slices.IsSorted(p.Inputs), "inputs %v not sorted", p.Inputs)
		require.Len(t, slices.Compact(slices.Clone(p.Inputs)), len(p.Inputs), "inputs %v repeat an id", p.Inputs)

		byID := map[uint32]FileInfo{}
		wal := 0
		fired := false
		for _, f := range files {
			byID[f.ID] = f
			if f.WAL {
				wal++
			}
			fired = fired || modelOf(f, d).trigger
		}
		walFired := d.TriggerWALFiles > 0 && wal >= d.TriggerWALFiles
		fired = fired || walFired

		// The plan is empty iff no trigger fires, or the plan would be a
		// single clean small last_state file.
		var want []uint32
		for _, f := range files {
			m := modelOf(f, d)
			if m.trigger || m.threshold || (walFired && f.WAL) {
				want = append(want, f.ID)
			}
		}
		slices.Sort(want)
		special := len(want) == 1 && modelOf(byID[want[0]], d).cleanSmall
		if !fired || special {
			require.Empty(t, p.Inputs)
			require.Empty(t, p.Reason)
			return
		}
		require.NotEmpty(t, p.Inputs)
		require.NotEmpty(t, p.Reason)

		// Every input meets a threshold or trigger, or is a wal file under
		// the WAL trigger; and every such file is an input.
		for _, id := range p.Inputs {
			f, ok := byID[id]
			require.True(t, ok, "input %d is not a given file", id)
			m := modelOf(f, d)
			require.True(t, m.trigger || m.threshold || (walFired && f.WAL),
				"file %+v joined without meeting a trigger or threshold", f)
		}
		require.Equal(t, want, p.Inputs)
	})
}
