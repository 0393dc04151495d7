package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/simplekv/simplekv/engine"
)

// Report is the whole result: a header describing the machine and the
// configuration, and one row per phase. Rows are printed as they are added,
// so a long run shows its progress and a failed one keeps what it measured.
type Report struct {
	Header Header         `json:"header"`
	Phases []*PhaseResult `json:"phases"`
	Error  string         `json:"error,omitempty"`

	w       io.Writer
	started bool
}

// Header describes where and how the benchmark ran.
type Header struct {
	Date       string `json:"date"`
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	NumCPU     int    `json:"num_cpu"`
	CPU        string `json:"cpu,omitempty"`
	MemTotal   int64  `json:"mem_total_bytes,omitempty"`
	Kernel     string `json:"kernel,omitempty"`
	Dir        string `json:"dir"`
	DirKept    bool   `json:"dir_kept"`
	FSType     string `json:"fs_type,omitempty"`
	Config     Config `json:"config"`
}

// Config is the benchmark configuration (the flags after defaults).
type Config struct {
	N                  int      `json:"n"`
	KeySize            int      `json:"key_size"`
	ValueSize          int      `json:"value_size"`
	Readers            int      `json:"readers"`
	Writers            int      `json:"writers"`
	SyncDuration       string   `json:"sync_duration"`
	ReadDuration       string   `json:"read_duration,omitempty"`
	Compressible       bool     `json:"compressible"`
	DisableCompression bool     `json:"disable_compression"`
	CacheSize          int64    `json:"cache_size"`
	Seed               uint64   `json:"seed"`
	Phases             []string `json:"phases"`
	Engine             string   `json:"engine_options"`
	// The compact phase's settings.
	CompactKeys     int    `json:"compact_keys"` // keys it uses: min(n, -compact-keys)
	CompactWriters  int    `json:"compact_writers"`
	CompactDuration string `json:"compact_duration"`
	CompactFileSize int64  `json:"compact_file_size"`
	CompactInterval string `json:"compact_interval"`
}

// PhaseResult is one row of the table.
type PhaseResult struct {
	Name      string   `json:"phase"`
	Ops       int64    `json:"ops"`
	Seconds   float64  `json:"seconds,omitempty"`
	OpsPerSec float64  `json:"ops_per_sec,omitempty"`
	Latency   *Latency `json:"latency,omitempty"`
	MBPerSec  *float64 `json:"mb_per_sec,omitempty"` // 10^6 bytes of keys+values per second
	// Prerequisite marks a phase that ran only because a selected phase
	// needed it (the fill before -phases read-random, say).
	Prerequisite bool               `json:"prerequisite,omitempty"`
	Notes        string             `json:"notes,omitempty"`
	Extra        map[string]float64 `json:"extra,omitempty"`
	// Parts splits a phase's operations into groups with latencies of
	// their own, printed as indented rows under the phase's row: the
	// compact phase's puts started outside and during merges.
	Parts []*PhaseResult `json:"parts,omitempty"`
}

// Latency holds per-operation latency percentiles in nanoseconds.
type Latency struct {
	P50  int64   `json:"p50_ns"`
	P99  int64   `json:"p99_ns"`
	P999 int64   `json:"p999_ns"`
	Max  int64   `json:"max_ns"`
	Mean float64 `json:"mean_ns"`
}

// newResult fills the common fields of a timed phase.
func newResult(name string, ops int64, elapsed time.Duration, h *hdrhistogram.Histogram) *PhaseResult {
	res := &PhaseResult{Name: name, Ops: ops, Seconds: elapsed.Seconds()}
	if elapsed > 0 {
		res.OpsPerSec = float64(ops) / elapsed.Seconds()
	}
	if h != nil && h.TotalCount() > 0 {
		res.Latency = &Latency{
			P50:  h.ValueAtQuantile(50),
			P99:  h.ValueAtQuantile(99),
			P999: h.ValueAtQuantile(99.9),
			Max:  h.Max(),
			Mean: h.Mean(),
		}
	}
	return res
}

// setMBps sets MB/s from the bytes moved during res.Seconds.
func (res *PhaseResult) setMBps(bytes int64) {
	if res.Seconds <= 0 {
		return
	}
	v := float64(bytes) / 1e6 / res.Seconds
	res.MBPerSec = &v
}

// newReport collects the header.
func newReport(w io.Writer, o *Options, dir string, kept bool, sel map[string]bool) *Report {
	h := Header{
		Date:       time.Now().Format(time.RFC3339),
		GoVersion:  runtime.Version(),
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		NumCPU:     runtime.NumCPU(),
		CPU:        cpuModel(),
		MemTotal:   memTotal(),
		Kernel:     kernelRelease(),
		Dir:        dir,
		DirKept:    kept,
		FSType:     fsType(dir),
	}
	c := Config{
		N:                  o.N,
		KeySize:            o.KeySize,
		ValueSize:          o.ValueSize,
		Readers:            o.Readers,
		Writers:            o.Writers,
		SyncDuration:       o.SyncDuration.String(),
		Compressible:       o.Compressible,
		DisableCompression: o.NoCompress,
		CacheSize:          o.Cache,
		Seed:               o.Seed,
		Engine:             engineDesc(o),
		CompactKeys:        o.compactKeys(),
		CompactWriters:     o.CompactWriters,
		CompactDuration:    o.CompactDuration.String(),
		CompactFileSize:    o.CompactFileSize,
		CompactInterval:    o.CompactInterval.String(),
	}
	if o.ReadDuration > 0 {
		c.ReadDuration = o.ReadDuration.String()
	}
	for _, p := range allPhases {
		if sel[p] {
			if p == phaseSyncN {
				p = o.syncNName()
			}
			c.Phases = append(c.Phases, p)
		}
	}
	h.Config = c
	return &Report{Header: h, w: w, Phases: []*PhaseResult{}}
}

func engineDesc(o *Options) string {
	var parts []string
	parts = append(parts, "SyncWrites=false (true in sync-* phases)")
	switch {
	case o.Cache == 0:
		parts = append(parts, fmt.Sprintf("CacheSize=default (%s)", fmtBytes(engine.DefaultCacheSize)))
	case o.Cache < 0:
		parts = append(parts, "CacheSize=off")
	default:
		parts = append(parts, "CacheSize="+fmtBytes(o.Cache))
	}
	if o.NoCompress {
		parts = append(parts, "DisableCompression=true")
	} else {
		parts = append(parts, "compression=snappy (default)")
	}
	parts = append(parts, "DisableAutoCompaction=true (except in compact)", "other fields default")
	return strings.Join(parts, ", ")
}

// Table layout: name, right-aligned numbers, then free-form notes.
var columns = []struct {
	title string
	width int
}{
	{"phase", 12}, {"ops", 10}, {"ops/s", 11}, {"p50", 9}, {"p99", 9}, {"p99.9", 9}, {"MB/s", 8}, {"notes", 0},
}

func (rp *Report) printHeader() {
	h := rp.Header
	c := h.Config
	var b strings.Builder
	fmt.Fprintf(&b, "kvbench   %s\n", h.Date)
	fmt.Fprintf(&b, "go        %s %s/%s, GOMAXPROCS=%d, NumCPU=%d\n", h.GoVersion, h.OS, h.Arch, h.GOMAXPROCS, h.NumCPU)
	if h.CPU != "" {
		fmt.Fprintf(&b, "cpu       %s\n", h.CPU)
	}
	if h.MemTotal > 0 {
		fmt.Fprintf(&b, "memory    %s\n", fmtBytes(h.MemTotal))
	}
	if h.Kernel != "" {
		fmt.Fprintf(&b, "kernel    %s\n", h.Kernel)
	}
	where := "temp, removed afterwards"
	if h.DirKept {
		where = "kept"
	}
	if h.FSType != "" {
		where += ", " + h.FSType
	}
	fmt.Fprintf(&b, "dir       %s (%s)\n", h.Dir, where)
	vals := "incompressible"
	if c.Compressible {
		vals = "~2x compressible"
	}
	reads := fmt.Sprintf("reads=%d", c.N)
	if c.ReadDuration != "" {
		reads = "read-duration=" + c.ReadDuration
	}
	fmt.Fprintf(&b, "workload  n=%d key=%dB value=%dB (%s) readers=%d %s writers=%d sync-duration=%s seed=%d\n",
		c.N, c.KeySize, c.ValueSize, vals, c.Readers, reads, c.Writers, c.SyncDuration, c.Seed)
	fmt.Fprintf(&b, "engine    %s\n", c.Engine)
	if slices.Contains(c.Phases, phaseCompact) {
		fmt.Fprintf(&b, "compact   keys=%d writers=%d duration=%s; own DB: MaxFileSize=%s CompactionInterval=%s, default triggers and thresholds\n",
			c.CompactKeys, c.CompactWriters, c.CompactDuration, fmtBytes(c.CompactFileSize), c.CompactInterval)
	}
	fmt.Fprintf(&b, "phases    %s\n", strings.Join(c.Phases, ","))
	b.WriteString("\n")
	cells := make([]string, len(columns))
	for i, col := range columns {
		cells[i] = col.title
	}
	b.WriteString(formatRow(cells))
	io.WriteString(rp.w, b.String())
}

func formatRow(cells []string) string {
	var b strings.Builder
	for i, col := range columns {
		switch {
		case i == 0:
			fmt.Fprintf(&b, "%-*s", col.width, cells[i])
		case col.width == 0:
			b.WriteString("  " + cells[i])
		default:
			fmt.Fprintf(&b, " %*s", col.width, cells[i])
		}
	}
	return strings.TrimRight(b.String(), " ") + "\n"
}

// add records res and prints its row (and, first, the header).
func (rp *Report) add(res *PhaseResult) error {
	if !rp.started {
		rp.printHeader()
		rp.started = true
	}
	rp.Phases = append(rp.Phases, res)
	name := res.Name
	if res.Prerequisite {
		name += "*"
	}
	row := resultRow(name, res)
	for _, p := range res.Parts {
		row += resultRow("  "+p.Name, p)
	}
	_, err := io.WriteString(rp.w, row)
	return err
}

// resultRow formats one row of the table.
func resultRow(name string, res *PhaseResult) string {
	cells := []string{name, strconv.FormatInt(res.Ops, 10), "-", "-", "-", "-", "-", res.Notes}
	if res.OpsPerSec > 0 {
		cells[2] = strconv.FormatFloat(res.OpsPerSec, 'f', 0, 64)
	}
	if l := res.Latency; l != nil {
		cells[3] = fmtDur(time.Duration(l.P50))
		cells[4] = fmtDur(time.Duration(l.P99))
		cells[5] = fmtDur(time.Duration(l.P999))
	}
	if res.MBPerSec != nil {
		cells[6] = strconv.FormatFloat(*res.MBPerSec, 'f', 1, 64)
	}
	return formatRow(cells)
}

// finish prints the header if no row was printed and a footnote.
func (rp *Report) finish() {
	if !rp.started {
		rp.printHeader()
		rp.started = true
	}
	for _, p := range rp.Phases {
		if p.Prerequisite {
			io.WriteString(rp.w, "* ran as a prerequisite of a selected phase\n")
			break
		}
	}
}

// writeJSON writes the report to path.
func (rp *Report) writeJSON(path string) error {
	b, err := json.MarshalIndent(rp, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// fmtDur prints a duration with three significant digits.
func fmtDur(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return strconv.FormatInt(int64(d), 10) + "ns"
	case d < time.Millisecond:
		return sig3(float64(d)/1e3) + "µs"
	case d < time.Second:
		return sig3(float64(d)/1e6) + "ms"
	default:
		return sig3(d.Seconds()) + "s"
	}
}

func sig3(x float64) string {
	switch {
	case x < 10:
		return strconv.FormatFloat(x, 'f', 2, 64)
	case x < 100:
		return strconv.FormatFloat(x, 'f', 1, 64)
	default:
		return strconv.FormatFloat(x, 'f', 0, 64)
	}
}

// fmtBytes prints a byte count in IEC units with three significant digits.
func fmtBytes(n int64) string {
	neg := ""
	if n < 0 {
		neg, n = "-", -n
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%s%d B", neg, n)
	}
	f := float64(n)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		f /= unit
		if f < unit || u == "TiB" {
			return neg + sig3(f) + " " + u
		}
	}
	return "" // unreachable
}

// cpuModel is the first "model name" of /proc/cpuinfo, if there is one.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// memTotal is MemTotal of /proc/meminfo in bytes, or 0.
func memTotal() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte("MemTotal:"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) == 0 {
			return 0
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}

func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
