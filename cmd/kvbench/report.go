package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Report is the whole result: a header describing the machine and the
// configuration, one entry per workload with a row per engine, and the
// summary against the goals. It is what results.json holds.
type Report struct {
	Header    Header            `json:"header"`
	Workloads []*WorkloadResult `json:"workloads"`
	Summary   []SummaryRow      `json:"summary"`
	Error     string            `json:"error,omitempty"`
}

// Header describes where and how the benchmark ran.
type Header struct {
	Date       string   `json:"date"`
	Command    string   `json:"command"`
	GoVersion  string   `json:"go_version"`
	OS         string   `json:"os"`
	Arch       string   `json:"arch"`
	GOMAXPROCS int      `json:"gomaxprocs"`
	NumCPU     int      `json:"num_cpu"`
	CPU        string   `json:"cpu,omitempty"`
	MemTotal   int64    `json:"mem_total_bytes,omitempty"`
	Kernel     string   `json:"kernel,omitempty"`
	Dir        string   `json:"dir"`
	DirKept    bool     `json:"dir_kept"`
	Disk       DiskInfo `json:"disk"`
	Config     Config   `json:"config"`
}

// Config is the benchmark configuration (the flags after defaults).
type Config struct {
	Engines      []string `json:"engines"`
	Workloads    []string `json:"workloads"`
	N            int      `json:"n"`
	KeySize      int      `json:"key_size"`
	ValueSize    int      `json:"value_size"`
	Values       string   `json:"values"`
	Readers      int      `json:"readers"`
	Writers      int      `json:"writers"`
	Duration     string   `json:"duration"`
	MaxPhase     string   `json:"max_phase"`
	Seed         uint64   `json:"seed"`
	VerifySample int      `json:"verify_sample"`
	// merge-latency's settings, when it runs.
	Merge *MergeConfig `json:"merge_latency,omitempty"`
}

// MergeConfig is the configuration of merge-latency.
type MergeConfig struct {
	Keys     int    `json:"keys"` // keys it uses: min(n, -merge-keys)
	Writers  int    `json:"writers"`
	Duration string `json:"duration"`
	FileSize int64  `json:"file_size"`
	Interval string `json:"interval"`
}

// WorkloadResult is one workload's rows, one per engine in run order.
type WorkloadResult struct {
	Name    string    `json:"workload"`
	About   string    `json:"about"`
	Results []*Result `json:"results"`

	w *workload
}

// Result is one engine's figures for one workload (or, in Parts, one
// group of its operations).
type Result struct {
	Engine string `json:"engine,omitempty"`
	Part   string `json:"part,omitempty"`
	// NA says why the engine cannot run the workload (bbolt has no
	// compaction); the row has no figures then.
	NA string `json:"na,omitempty"`
	// Ops is the number of timed operations; TotalOps, where larger, also
	// counts those written untimed after the -max-phase cap.
	Ops       int64    `json:"ops,omitempty"`
	TotalOps  int64    `json:"total_ops,omitempty"`
	Seconds   float64  `json:"seconds,omitempty"`
	OpsPerSec float64  `json:"ops_per_sec,omitempty"`
	Latency   *Latency `json:"latency,omitempty"`
	// MBPerSec is 10^6 bytes of keys and values per second.
	MBPerSec *float64 `json:"mb_per_sec,omitempty"`
	// DiskBytes is the space the engine's directory takes (allocated
	// blocks, as du counts them).
	DiskBytes  *int64   `json:"disk_bytes,omitempty"`
	HeapBytes  *int64   `json:"heap_bytes,omitempty"`
	HeapPerKey *float64 `json:"heap_bytes_per_key,omitempty"`
	// VsBestPeer holds, per compared figure, how many times better this
	// engine is than the best peer (>1: better than every peer).
	VsBestPeer map[string]float64 `json:"vs_best_peer,omitempty"`
	Notes      string             `json:"notes,omitempty"`
	Extra      map[string]float64 `json:"extra,omitempty"`
	// Parts splits the operations into groups with latencies of their
	// own (merge-latency: Puts started outside and during merges).
	Parts []*Result `json:"parts,omitempty"`
}

// Latency holds per-operation latency percentiles in nanoseconds.
type Latency struct {
	P50  int64   `json:"p50_ns"`
	P99  int64   `json:"p99_ns"`
	P999 int64   `json:"p999_ns"`
	Max  int64   `json:"max_ns"`
	Mean float64 `json:"mean_ns"`
}

// newResult fills the common fields of a timed run.
func newResult(engine string, ops int64, elapsed time.Duration, h *hdrhistogram.Histogram) *Result {
	res := &Result{Engine: engine, Ops: ops, Seconds: elapsed.Seconds()}
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
func (res *Result) setMBps(bytes int64) {
	if res.Seconds <= 0 {
		return
	}
	v := float64(bytes) / 1e6 / res.Seconds
	res.MBPerSec = &v
}

func (res *Result) setDisk(bytes int64) { res.DiskBytes = &bytes }

// newReport collects the header.
func newReport(o *Options, args []string, engines []string, sel []*workload, dir string, kept bool) *Report {
	h := Header{
		Date:       time.Now().Format(time.RFC3339),
		Command:    commandLine(args),
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
		Disk:       diskInfo(dir),
	}
	c := Config{
		Engines:      engines,
		N:            o.N,
		KeySize:      o.KeySize,
		ValueSize:    o.ValueSize,
		Values:       o.Values,
		Readers:      o.Readers,
		Writers:      o.Writers,
		Duration:     o.Duration.String(),
		MaxPhase:     o.MaxPhase.String(),
		Seed:         o.Seed,
		VerifySample: o.VerifySample,
	}
	for _, w := range sel {
		c.Workloads = append(c.Workloads, w.displayName(o.Writers))
	}
	if selected(sel, wMergeLatency) {
		c.Merge = &MergeConfig{
			Keys:     o.mergeKeys(),
			Writers:  o.MergeWriters,
			Duration: o.MergeDuration.String(),
			FileSize: o.MergeFileSize,
			Interval: o.MergeInterval.String(),
		}
	}
	h.Config = c
	return &Report{Header: h, Workloads: []*WorkloadResult{}, Summary: []SummaryRow{}}
}

// commandLine is the command that reproduces the run.
func commandLine(args []string) string {
	parts := []string{"go run ./cmd/kvbench"}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'$`\\|&;<>*?") {
			a = strconv.Quote(a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// add records res as engine's row of workload w (display name name).
func (rp *Report) add(w *workload, name string, res *Result) {
	var wr *WorkloadResult
	for _, x := range rp.Workloads {
		if x.w == w {
			wr = x
		}
	}
	if wr == nil {
		wr = &WorkloadResult{Name: name, About: w.about, w: w}
		rp.Workloads = append(rp.Workloads, wr)
	}
	wr.Results = append(wr.Results, res)
}

// sortWorkloads puts the workloads in canonical order (engines run one
// after the other, so a workload first seen on a later engine, such as
// the simplekv-only ones, would otherwise sit out of place).
func (rp *Report) sortWorkloads() {
	var out []*WorkloadResult
	for _, w := range workloads {
		for _, wr := range rp.Workloads {
			if wr.w == w {
				out = append(out, wr)
			}
		}
	}
	rp.Workloads = out
}

// workload returns the results of the workload shown as name, or nil.
func (rp *Report) workload(name string) *WorkloadResult {
	for _, wr := range rp.Workloads {
		if wr.Name == name {
			return wr
		}
	}
	return nil
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

// fmtCount prints a count or rate with three significant digits and a k or
// M suffix: 950, 12.3k, 1.02M.
func fmtCount(x float64) string {
	switch {
	case x < 1000:
		return strconv.FormatFloat(x, 'f', 0, 64)
	case x < 999_500:
		return sig3(x/1e3) + "k"
	default:
		return sig3(x/1e6) + "M"
	}
}

// fmtKeys prints a key count: 1M, 250k, 1500.
func fmtKeys(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	default:
		return strconv.Itoa(n)
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

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
