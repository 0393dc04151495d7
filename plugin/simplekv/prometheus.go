package simplekv

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports a module's engine Stats as Prometheus metrics
// (simple_kv_*). Register it with prometheus.MustRegister(NewCollector(m));
// while the module is stopped it reports nothing.
type Collector struct {
	m     *Module
	descs map[string]*prometheus.Desc
}

type metricDef struct {
	name, help string
	kind       prometheus.ValueType
	value      func(s statsView) float64
}

// statsView is what the collector reads from engine.Stats.
type statsView struct {
	keys, dataFiles, diskBytes, reclaimable, keydirBytes, cacheBytes        float64
	puts, deletes, syncs, compactions, reclaimed, cacheHits, cacheMisses    float64
	bytesWritten, recoverySeconds, lastCompactionSeconds, compactionRunning float64
}

var metricDefs = []metricDef{
	{"keys", "Keys in the index (expired ones until a merge drops them).", prometheus.GaugeValue, func(s statsView) float64 { return s.keys }},
	{"data_files", "Data files, the active one included.", prometheus.GaugeValue, func(s statsView) float64 { return s.dataFiles }},
	{"disk_bytes", "Bytes in data and hint files.", prometheus.GaugeValue, func(s statsView) float64 { return s.diskBytes }},
	{"reclaimable_bytes", "Bytes a full merge would free.", prometheus.GaugeValue, func(s statsView) float64 { return s.reclaimable }},
	{"keydir_bytes", "Approximate heap bytes of the index.", prometheus.GaugeValue, func(s statsView) float64 { return s.keydirBytes }},
	{"cache_bytes", "Bytes in the read cache.", prometheus.GaugeValue, func(s statsView) float64 { return s.cacheBytes }},
	{"puts_total", "Puts since the store opened.", prometheus.CounterValue, func(s statsView) float64 { return s.puts }},
	{"deletes_total", "Deletes since the store opened.", prometheus.CounterValue, func(s statsView) float64 { return s.deletes }},
	{"syncs_total", "Group-commit fsyncs since the store opened.", prometheus.CounterValue, func(s statsView) float64 { return s.syncs }},
	{"bytes_written_total", "Record bytes appended since the store opened.", prometheus.CounterValue, func(s statsView) float64 { return s.bytesWritten }},
	{"compactions_total", "Merges completed since the store opened.", prometheus.CounterValue, func(s statsView) float64 { return s.compactions }},
	{"compaction_reclaimed_bytes_total", "Disk bytes merges freed.", prometheus.CounterValue, func(s statsView) float64 { return s.reclaimed }},
	{"cache_hits_total", "Read cache hits.", prometheus.CounterValue, func(s statsView) float64 { return s.cacheHits }},
	{"cache_misses_total", "Read cache misses.", prometheus.CounterValue, func(s statsView) float64 { return s.cacheMisses }},
	{"recovery_seconds", "How long the last Open took to rebuild the index.", prometheus.GaugeValue, func(s statsView) float64 { return s.recoverySeconds }},
	{"last_compaction_seconds", "Duration of the latest merge.", prometheus.GaugeValue, func(s statsView) float64 { return s.lastCompactionSeconds }},
	{"compaction_running", "1 while a merge runs.", prometheus.GaugeValue, func(s statsView) float64 { return s.compactionRunning }},
}

// NewCollector returns a collector of m's stats.
func NewCollector(m *Module) *Collector {
	c := &Collector{m: m, descs: map[string]*prometheus.Desc{}}
	for _, d := range metricDefs {
		c.descs[d.name] = prometheus.NewDesc("simple_kv_"+d.name, d.help, nil, nil)
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range metricDefs {
		ch <- c.descs[d.name]
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	db := c.m.DB()
	if db == nil {
		return
	}
	st := db.Stats()
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	v := statsView{
		keys: float64(st.Keys), dataFiles: float64(st.DataFiles), diskBytes: float64(st.DiskBytes),
		reclaimable: float64(st.ReclaimableBytes), keydirBytes: float64(st.KeydirBytes), cacheBytes: float64(st.CacheBytes),
		puts: float64(st.Puts), deletes: float64(st.Deletes), syncs: float64(st.Syncs), compactions: float64(st.Compactions),
		reclaimed: float64(st.CompactionReclaimed), cacheHits: float64(st.CacheHits), cacheMisses: float64(st.CacheMisses),
		bytesWritten: float64(st.BytesWritten), recoverySeconds: st.RecoveryDuration.Seconds(),
		lastCompactionSeconds: st.LastCompaction.Seconds(), compactionRunning: b(st.CompactionRunning),
	}
	for _, d := range metricDefs {
		ch <- prometheus.MustNewConstMetric(c.descs[d.name], d.kind, d.value(v))
	}
}
