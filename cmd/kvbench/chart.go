package main

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Chart: a grouped bar chart, one group per throughput workload, one bar
// per engine: its ops/s relative to the best peer's in that workload (or
// to simplekv's when no peer ran), each bar labelled with its ratio. A
// dashed line marks 1, the best peer.

// engineColors are the bars' colors: simplekv stands out, the peers are
// cooler. Other engine names (tests) take the fallbacks in turn.
var engineColors = map[string]color.RGBA{
	"simplekv":  {R: 0xe4, G: 0x57, B: 0x2e, A: 0xff},
	"bbolt":     {R: 0x4c, G: 0x78, B: 0xa8, A: 0xff},
	"badger":    {R: 0x72, G: 0xb7, B: 0xb2, A: 0xff},
	"pebble":    {R: 0x54, G: 0xa2, B: 0x4b, A: 0xff},
	"goleveldb": {R: 0xb2, G: 0x79, B: 0xa2, A: 0xff},
}

var fallbackColors = []color.RGBA{
	{R: 0x9d, G: 0x75, B: 0x5d, A: 0xff},
	{R: 0xba, G: 0xb0, B: 0xac, A: 0xff},
	{R: 0xee, G: 0xca, B: 0x3b, A: 0xff},
}

// chartData is what the chart shows: groups (workloads) × engines.
type chartData struct {
	groups  []string
	engines []string
	// ratio[e][g] is engine e's ops/s over the reference of group g; 0
	// when the engine has no figure there.
	ratio [][]float64
	// relativeTo says what the bars are relative to.
	relativeTo string
}

// chartRatios collects the throughput workloads' ratios.
func chartRatios(rp *Report) chartData {
	d := chartData{engines: rp.Header.Config.Engines, relativeTo: "the best peer"}
	var wrs []*WorkloadResult
	peers := false
	for _, wr := range rp.Workloads {
		if wr.w.table != tableThroughput || wr.w.headline() != metricOps {
			continue
		}
		wrs = append(wrs, wr)
		if bestPeer(wr.Results, metricOps) != nil {
			peers = true
		}
	}
	if !peers {
		d.relativeTo = "simplekv"
	}
	d.ratio = make([][]float64, len(d.engines))
	for e := range d.engines {
		d.ratio[e] = make([]float64, len(wrs))
	}
	for g, wr := range wrs {
		d.groups = append(d.groups, wr.Name)
		var ref float64
		if peers {
			if p := bestPeer(wr.Results, metricOps); p != nil {
				ref = p.OpsPerSec
			}
		} else {
			for _, r := range wr.Results {
				if r.Engine == simplekvName {
					ref = r.OpsPerSec
				}
			}
		}
		for _, r := range wr.Results {
			for e, name := range d.engines {
				if r.Engine == name && ref > 0 && r.OpsPerSec > 0 {
					d.ratio[e][g] = r.OpsPerSec / ref
				}
			}
		}
	}
	return d
}

// hasChart reports whether a throughput workload ran, so there is a chart.
func hasChart(rp *Report) bool { return len(chartRatios(rp).groups) > 0 }

// barLabels writes each bar's value above it, rotated to fit narrow bars.
type barLabels struct {
	values []float64
	offset vg.Length
	style  text.Style
}

func (l barLabels) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for i, v := range l.values {
		if v <= 0 {
			continue
		}
		pt := vg.Point{X: trX(float64(i)) + l.offset, Y: trY(v) + vg.Points(3)}
		c.FillText(l.style, pt, fmt.Sprintf("%.2f", v))
	}
}

// newChart builds the chart, or returns an error if there is nothing to
// draw.
func newChart(rp *Report) (*plot.Plot, error) {
	d := chartRatios(rp)
	if len(d.groups) == 0 {
		return nil, fmt.Errorf("no throughput workload ran")
	}
	p := plot.New()
	c := rp.Header.Config
	p.Title.Text = fmt.Sprintf("kvbench %s: ops/s relative to %s (higher is better)\n%s keys, %d B keys, %d B %s values, %s",
		dateOnly(rp.Header.Date), d.relativeTo, fmtKeys(c.N), c.KeySize, c.ValueSize, c.Values, rp.Header.CPU)
	p.Title.TextStyle.Font.Size = vg.Points(12)
	p.Y.Label.Text = "ops/s ÷ " + d.relativeTo + "'s"
	p.Y.Min = 0
	p.NominalX(d.groups...)
	p.X.Tick.Label.Font.Size = vg.Points(10)
	p.Legend.Top = true
	p.Legend.Left = false
	p.Legend.XOffs = -vg.Points(4)

	barWidth := vg.Points(min(14, 70/float64(max(len(d.engines), 1))))
	maxV := 1.0
	labelStyle := text.Style{
		Color:    color.Gray{Y: 0x30},
		Font:     font.From(plot.DefaultFont, vg.Points(7)),
		Rotation: math.Pi / 2,
		XAlign:   draw.XLeft,
		YAlign:   draw.YCenter,
		Handler:  plot.DefaultTextHandler,
	}
	one, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: 1}, {X: float64(len(d.groups)) - 0.5, Y: 1}})
	if err != nil {
		return nil, err
	}
	one.LineStyle.Color = color.Gray{Y: 0x70}
	one.LineStyle.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(one) // first, so that the bars and labels cover it
	for e, name := range d.engines {
		bars, err := plotter.NewBarChart(plotter.Values(d.ratio[e]), barWidth)
		if err != nil {
			return nil, err
		}
		col, ok := engineColors[name]
		if !ok {
			col = fallbackColors[e%len(fallbackColors)]
		}
		bars.Color = col
		bars.LineStyle.Width = 0
		bars.Offset = vg.Length(float64(e)-float64(len(d.engines)-1)/2) * barWidth
		p.Add(bars)
		p.Legend.Add(name, bars)
		p.Add(barLabels{values: d.ratio[e], offset: bars.Offset, style: labelStyle})
		for _, v := range d.ratio[e] {
			maxV = max(maxV, v)
		}
	}
	// Room above the tallest bar for its label and the legend.
	p.Y.Max = maxV * 1.4
	p.Y.Tick.Marker = ratioTicks{}
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil // the group ticks would run through the bars
	p.Add(grid)
	return p, nil
}

// ratioTicks marks the ratio axis every 0.25, 0.5, 1, 2, ... so that
// there are 4 to 8 labelled ticks.
type ratioTicks struct{}

func (ratioTicks) Ticks(lo, hi float64) []plot.Tick {
	step := 0.25
	for (hi-lo)/step > 8 {
		step *= 2
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
	}
	return ticks
}

// Chart size: wide enough for ten groups of five bars.
const (
	chartWidth  = 11 * vg.Inch
	chartHeight = 5 * vg.Inch
)

// chartDPI is the PNG's resolution: sharp enough for the rotated labels.
const chartDPI = 150

// writeChart saves the chart as SVG and PNG.
func writeChart(rp *Report, svgPath, pngPath string) error {
	p, err := newChart(rp)
	if err != nil {
		return err
	}
	if err := p.Save(chartWidth, chartHeight, svgPath); err != nil {
		return err
	}
	c := vgimg.NewWith(vgimg.UseWH(chartWidth, chartHeight), vgimg.UseDPI(chartDPI))
	p.Draw(draw.New(c))
	f, err := os.Create(pngPath)
	if err != nil {
		return err
	}
	_, err = vgimg.PngCanvas{Canvas: c}.WriteTo(f)
	return errors.Join(err, f.Close())
}
