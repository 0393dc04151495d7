package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// table is a rendered table: a header row and rows of cells. right marks
// the columns aligned right (numbers).
type table struct {
	head  []string
	right []bool
	rows  [][]string
}

func (t *table) addColumn(title string, right bool) {
	t.head = append(t.head, title)
	t.right = append(t.right, right)
}

// text renders t with aligned columns; the last column (notes) is left
// ragged.
func (t *table) text() string {
	widths := make([]int, len(t.head))
	for _, row := range append([][]string{t.head}, t.rows...) {
		for i, c := range row {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	for _, row := range append([][]string{t.head}, t.rows...) {
		var line strings.Builder
		for i, c := range row {
			if i > 0 {
				line.WriteString("  ")
			}
			pad := strings.Repeat(" ", widths[i]-len([]rune(c)))
			switch {
			case i == len(row)-1 && !t.right[i]:
				line.WriteString(c)
			case t.right[i]:
				line.WriteString(pad + c)
			default:
				line.WriteString(c + pad)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
	return b.String()
}

// markdown renders t as a GitHub table.
func (t *table) markdown() string {
	var b strings.Builder
	b.WriteString("| " + strings.Join(escapeCells(t.head), " | ") + " |\n|")
	for _, r := range t.right {
		if r {
			b.WriteString("---:|")
		} else {
			b.WriteString("---|")
		}
	}
	b.WriteString("\n")
	for _, row := range t.rows {
		b.WriteString("| " + strings.Join(escapeCells(row), " | ") + " |\n")
	}
	return b.String()
}

func escapeCells(cells []string) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = strings.ReplaceAll(c, "|", `\|`)
	}
	return out
}

// ratioNote explains the ratio columns.
const ratioNote = "x = how many times better than the best peer (the best engine other than simplekv in this run): " +
	"for ops/s higher is better (x = ops/s ÷ the best peer's); for latency, time, disk and heap lower is better " +
	"(x = the best peer's ÷ the figure). Above 1.00x an engine beats every peer. sync-* compares p99 with the p99 " +
	"of the peer with the most ops/s."

// workloadTable renders the rows of one workload.
func workloadTable(wr *WorkloadResult) *table {
	t := &table{}
	switch wr.w.table {
	case tableHeap:
		t.addColumn("engine", false)
		t.addColumn("heap/key", true)
		t.addColumn("heap", true)
	case tableCompact, tableReopen:
		t.addColumn("engine", false)
		t.addColumn("time", true)
		if wr.w.table == tableCompact {
			t.addColumn("disk", true)
		}
	default: // throughput and simplekv-only rows
		t.addColumn("engine", false)
		for _, c := range []string{"ops", "ops/s", "p50", "p99", "p99.9", "MB/s"} {
			t.addColumn(c, true)
		}
		if hasDisk(wr) {
			t.addColumn("disk", true)
		}
	}
	for _, spec := range wr.w.ratios {
		t.addColumn("x "+spec.m.key, true)
	}
	t.addColumn("notes", false)

	for _, r := range wr.Results {
		t.rows = append(t.rows, resultCells(wr, t, r, r.Engine))
		for _, p := range r.Parts {
			t.rows = append(t.rows, resultCells(wr, t, p, "  "+p.Part))
		}
	}
	return t
}

func hasDisk(wr *WorkloadResult) bool {
	for _, r := range wr.Results {
		if r.DiskBytes != nil {
			return true
		}
	}
	return false
}

// resultCells renders one row under the columns of t.
func resultCells(wr *WorkloadResult, t *table, r *Result, name string) []string {
	cells := make([]string, 0, len(t.head))
	ratio := 0
	for _, col := range t.head {
		c := "-"
		switch col {
		case "engine":
			c = name
		case "ops":
			if r.NA == "" {
				c = strconv.FormatInt(r.Ops, 10)
			}
		case "ops/s":
			if r.OpsPerSec > 0 {
				c = fmtCount(r.OpsPerSec)
			}
		case "p50", "p99", "p99.9":
			if l := r.Latency; l != nil {
				c = fmtDur(time.Duration(map[string]int64{"p50": l.P50, "p99": l.P99, "p99.9": l.P999}[col]))
			}
		case "MB/s":
			if r.MBPerSec != nil {
				c = strconv.FormatFloat(*r.MBPerSec, 'f', 1, 64)
			}
		case "disk":
			if r.DiskBytes != nil {
				c = fmtBytes(*r.DiskBytes)
			}
		case "heap/key":
			if r.HeapPerKey != nil {
				c = strconv.FormatFloat(*r.HeapPerKey, 'f', 1, 64) + " B"
			}
		case "heap":
			if r.HeapBytes != nil {
				c = fmtMB(*r.HeapBytes)
			}
		case "time":
			if r.Seconds > 0 {
				c = fmtDur(secs(r.Seconds))
			}
		case "notes":
			c = r.Notes
			if r.NA != "" && c == "" {
				c = r.NA
			}
		default: // a ratio column
			c = ratioCell(r, wr.w.ratios[ratio].m.key)
			ratio++
		}
		cells = append(cells, c)
	}
	return cells
}

// summaryTable renders the summary.
func summaryTable(rows []SummaryRow) *table {
	t := &table{}
	for _, c := range []struct {
		title string
		right bool
	}{{"workload", false}, {"figure", false}, {"simplekv", true}, {"best peer", false}, {"ratio", true}, {"goal", false}, {"met?", false}} {
		t.addColumn(c.title, c.right)
	}
	for _, s := range rows {
		ratio := naText
		if s.Ratio != nil {
			ratio = fmtRatio(*s.Ratio)
		}
		goal, met := s.Goal, s.Met
		if goal == "" {
			goal, met = "-", "-"
		}
		t.rows = append(t.rows, []string{s.Workload, s.Figure, s.SimplekvText, s.BestPeerText, ratio, goal, met})
	}
	return t
}

// printHeader prints the machine and the configuration.
func printHeader(w io.Writer, rp *Report) {
	h := rp.Header
	c := h.Config
	var b strings.Builder
	fmt.Fprintf(&b, "kvbench   %s\n", h.Date)
	fmt.Fprintf(&b, "command   %s\n", h.Command)
	fmt.Fprintf(&b, "go        %s %s/%s, GOMAXPROCS=%d, NumCPU=%d\n", h.GoVersion, h.OS, h.Arch, h.GOMAXPROCS, h.NumCPU)
	if h.CPU != "" {
		fmt.Fprintf(&b, "cpu       %s\n", h.CPU)
	}
	if h.MemTotal > 0 {
		fmt.Fprintf(&b, "memory    %s\n", fmtBytes(h.MemTotal))
	}
	fmt.Fprintf(&b, "disk      %s\n", h.Disk)
	if h.Kernel != "" {
		fmt.Fprintf(&b, "kernel    %s\n", h.Kernel)
	}
	where := "temp, removed afterwards"
	if h.DirKept {
		where = "kept"
	}
	fmt.Fprintf(&b, "dir       %s (%s)\n", h.Dir, where)
	fmt.Fprintf(&b, "data      n=%d keys, key=%dB, value=%dB (%s), seed=%d\n", c.N, c.KeySize, c.ValueSize, c.Values, c.Seed)
	fmt.Fprintf(&b, "run       readers=%d writers=%d duration=%s max-phase=%s verify-sample=%d\n",
		c.Readers, c.Writers, c.Duration, c.MaxPhase, c.VerifySample)
	fmt.Fprintf(&b, "engines   %s: main DB Config{Sync: false}, sync-* Config{Sync: true}; same durability and a %d MiB read cache each (bench/doc.go)\n",
		strings.Join(c.Engines, ","), cacheMiB)
	fmt.Fprintf(&b, "workloads %s\n", strings.Join(c.Workloads, ","))
	if m := c.Merge; m != nil {
		fmt.Fprintf(&b, "merge     keys=%d writers=%d duration=%s; own DB: MaxFileSize=%s CompactionInterval=%s, default triggers and thresholds\n",
			m.Keys, m.Writers, m.Duration, fmtBytes(m.FileSize), m.Interval)
	}
	io.WriteString(w, b.String())
}

// printTables prints every workload's table and the summary.
func printTables(w io.Writer, rp *Report) {
	var b strings.Builder
	b.WriteString("\n" + wrap(ratioNote, 100) + "\n")
	for _, wr := range rp.Workloads {
		fmt.Fprintf(&b, "\n== %s: %s\n", wr.Name, wr.About)
		b.WriteString(workloadTable(wr).text())
	}
	if len(rp.Summary) > 0 {
		b.WriteString("\n== summary: simplekv against the best peer, and the goals of issues 6, 11 and 13\n")
		b.WriteString(summaryTable(rp.Summary).text())
	}
	io.WriteString(w, b.String())
}

// wrap breaks s into lines of at most width runes at spaces.
func wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for i, word := range strings.Fields(s) {
		if i > 0 {
			if n+1+len([]rune(word)) > width {
				b.WriteString("\n")
				n = 0
			} else {
				b.WriteString(" ")
				n++
			}
		}
		b.WriteString(word)
		n += len([]rune(word))
	}
	return b.String()
}

// markdown renders the report as the section results.md holds and the
// README embeds; chart is the image's path relative to the document, or
// "" for none.
func markdown(rp *Report, chart string) string {
	h := rp.Header
	c := h.Config
	var b strings.Builder
	fmt.Fprintf(&b, "<!-- Generated by kvbench (cmd/kvbench) on %s. Do not edit: re-run `make bench-readme`. -->\n\n", h.Date)
	fmt.Fprintf(&b, "Measured on %s with `%s`.\n\n", dateOnly(h.Date), h.Command)
	b.WriteString("- **Machine:** ")
	var machine []string
	machine = append(machine, fmt.Sprintf("%d cores (GOMAXPROCS %d)", h.NumCPU, h.GOMAXPROCS))
	if h.CPU != "" {
		machine = append(machine, h.CPU)
	}
	if h.MemTotal > 0 {
		machine = append(machine, fmtBytes(h.MemTotal)+" memory")
	}
	machine = append(machine, "disk: "+h.Disk.String())
	if h.Kernel != "" {
		machine = append(machine, "Linux "+h.Kernel)
	}
	machine = append(machine, h.GoVersion)
	b.WriteString(strings.Join(machine, "; ") + ".\n")
	fmt.Fprintf(&b, "- **Data:** %s keys of %d bytes, %d-byte %s values; %d readers, %d writers in sync-%d, %s per timed workload, fills and overwrites capped at %s of timed Puts.\n",
		fmtKeys(c.N), c.KeySize, c.ValueSize, c.Values, c.Readers, c.Writers, c.Writers, c.Duration, c.MaxPhase)
	fmt.Fprintf(&b, "- **Engines:** %s, each with the same durability (Config{Sync: false} for the main database, true for sync-*) and a %d MiB read cache; see `bench/doc.go` for how each is configured.\n\n",
		strings.Join(c.Engines, ", "), cacheMiB)
	if rp.Error != "" {
		fmt.Fprintf(&b, "**The run failed:** %s\n\n", rp.Error)
	}
	if chart != "" {
		fmt.Fprintf(&b, "![kvbench: each engine's ops/s relative to the best peer](%s)\n\n", chart)
	}
	if len(rp.Summary) > 0 {
		b.WriteString("**Summary.** The ratio is how many times better simplekv is than the best peer (the best engine other than simplekv): " +
			"ops/s over the peer's, or, for latency, time, disk and heap, the peer's figure over simplekv's. " +
			"sync-16's p99 is compared with the p99 of the peer with the most ops/s.\n\n")
		b.WriteString(summaryTable(rp.Summary).markdown())
		b.WriteString("\n")
	}
	b.WriteString("<details><summary>Every workload, every engine</summary>\n\n")
	for _, wr := range rp.Workloads {
		fmt.Fprintf(&b, "**%s**: %s\n\n", wr.Name, wr.About)
		b.WriteString(workloadTable(wr).markdown())
		b.WriteString("\n")
	}
	b.WriteString("</details>\n")
	return b.String()
}

// dateOnly is the day of an RFC 3339 time.
func dateOnly(s string) string {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.Format("2006-01-02")
	}
	return s
}

// fmtMB prints bytes as 10^6-byte megabytes, with more decimals when small.
func fmtMB(b int64) string {
	mb := float64(b) / 1e6
	if mb < 10 && mb > -10 {
		return strconv.FormatFloat(mb, 'f', 2, 64) + " MB"
	}
	return strconv.FormatFloat(mb, 'f', 1, 64) + " MB"
}
