package checklist

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/gpuenv"
	"github.com/difftrain/gpusmoke/view"
)

// telemetry.svg: telemetry.csv drawn with gonum.org/v1/plot, one row of four plots per GPU
// (utilisation, memory, temperature, power over time), each section shaded as a band. The
// output is deterministic: gonum writes every number with %.5g, the fonts are referred to by
// name (Liberation Sans) and measured from the metrics compiled into gonum, not from the
// system, and nothing is drawn in map order.

// metric is one column of telemetry.csv drawn as a plot.
type metric struct {
	column, title string
	color         color.RGBA
}

var metrics = []metric{
	{"util_pct", "utilisation (%)", color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}},
	{"mem_used_mib", "memory used (MiB)", color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}},
	{"temp_c", "temperature (°C)", color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}},
	{"power_w", "power (W)", color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}},
}

// maxPoints is the most points a series is drawn with: a longer one (a long run sampled
// often) keeps each bucket's lowest and highest value, so peaks survive and the file stays small.
const maxPoints = 2000

// telemetry is telemetry.csv, read.
type telemetry struct {
	start time.Time // the first sample
	gpus  []*gpuSamples
	steps []stepSpan // in the order the steps ran
	rows  int
	// byIndex and stepAt find a GPU's samples and a step's span while the file is read.
	byIndex map[int]*gpuSamples
	stepAt  map[string]int
}

// gpuSamples are one GPU's samples: t in seconds since the first sample, and per metric the
// value (NaN when the cell was empty: NVML could not read it).
type gpuSamples struct {
	index int
	t     []float64
	v     [4][]float64
}

// stepSpan is a step's first and last sample, in seconds since the first sample.
type stepSpan struct {
	id          string
	first, last float64
}

// readTelemetry reads telemetry.csv (gpuenv.Sampler's format). Errors name the file and line.
func readTelemetry(p string) (*telemetry, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReader(f))
	r.ReuseRecord = true
	want := strings.Split(strings.TrimSpace(gpuenv.TelemetryHeader), ",")
	r.FieldsPerRecord = -1           // counted below, so that a wrong header is named as one
	col := make([]int, len(metrics)) // metric → its column
	for m, mt := range metrics {
		col[m] = slices.Index(want, mt.column)
	}
	tel := &telemetry{byIndex: map[int]*gpuSamples{}, stepAt: map[string]int{}}
	for line := 1; ; line++ { // line counts records
		rec, err := r.Read()
		if err == io.EOF {
			break // an empty file is a run that sampled nothing: a preflight that failed, say
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("read %s: line %d: %v", p, pe.Line, pe.Err)
			}
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		ln, _ := r.FieldPos(0) // the line the record starts on: a quoted field may hold line breaks
		if line == 1 {
			if want, err = telemetryColumns(rec, want); err != nil {
				return nil, fmt.Errorf("read %s: %w", p, err)
			}
			continue
		}
		if len(rec) != len(want) {
			return nil, fmt.Errorf("read %s: line %d: %d fields, want %d (%s)", p, ln, len(rec), len(want), strings.Join(want, ","))
		}
		if col, why := tel.add(rec, col); why != "" {
			return nil, fmt.Errorf("read %s: line %d: %s: %q %s", p, ln, want[col], rec[col], why)
		}
	}
	slices.SortFunc(tel.gpus, func(a, b *gpuSamples) int { return a.index - b.index })
	return tel, nil
}

// add adds one sample row (rec, its metrics in the columns col) to tel; a bad cell is returned
// as its column and why it is bad.
func (tel *telemetry) add(rec []string, col []int) (int, string) {
	at, err := time.Parse(time.RFC3339Nano, rec[0])
	if err != nil {
		return 0, "is not an RFC 3339 time"
	}
	if tel.rows == 0 {
		tel.start = at
	}
	t := at.Sub(tel.start).Seconds()
	if t < 0 {
		return 0, "is earlier than the first sample"
	}
	if rec[1] == "" {
		return 1, "is empty"
	}
	idx, err := strconv.Atoi(rec[2])
	if err != nil || idx < 0 || idx > 1023 {
		return 2, "is not a GPU index"
	}
	g := tel.byIndex[idx]
	if g == nil {
		g = &gpuSamples{index: idx}
		tel.byIndex[idx] = g
		tel.gpus = append(tel.gpus, g)
	}
	var v [len(gpuSamples{}.v)]float64 // one per metric
	for m := range metrics {
		v[m] = math.NaN()
		if cell := rec[col[m]]; cell != "" {
			if v[m], err = strconv.ParseFloat(cell, 64); err != nil || math.IsNaN(v[m]) || math.IsInf(v[m], 0) || v[m] < 0 {
				return col[m], "is not a number ≥ 0"
			}
		}
	}
	g.t = append(g.t, t)
	for m := range metrics {
		g.v[m] = append(g.v[m], v[m])
	}
	i, ok := tel.stepAt[rec[1]]
	if !ok {
		i = len(tel.steps)
		tel.stepAt[rec[1]] = i
		tel.steps = append(tel.steps, stepSpan{id: rec[1], first: t})
	}
	tel.steps[i].first = min(tel.steps[i].first, t)
	tel.steps[i].last = max(tel.steps[i].last, t)
	tel.rows++
	return 0, ""
}

// telemetryColumns checks telemetry.csv's header against the sampler's columns (want) and
// returns the file's: want, or those up to power_w, as the first version wrote. The sampler adds
// new columns at the end.
func telemetryColumns(header, want []string) ([]string, error) {
	first := want[:slices.Index(want, "power_w")+1]
	if !slices.Equal(header, want) && !slices.Equal(header, first) {
		return nil, fmt.Errorf("line 1: header %q, want %q (or its columns up to power_w, as the first version wrote)",
			strings.Join(header, ","), strings.Join(want, ","))
	}
	return want[:len(header)], nil
}

// band is a section's shaded span on the time axis.
type band struct {
	id       string
	from, to float64
}

// bands cut the time axis into one span per step: each boundary lies halfway between one
// step's last sample and the next step's first, and the first and last spans reach as far
// beyond their samples as half their neighbour's gap (half a second when there is only one
// step), so that a step sampled once still shows.
func (tel *telemetry) bands() []band {
	steps := slices.Clone(tel.steps)
	slices.SortStableFunc(steps, func(a, b stepSpan) int { return cmpFloat(a.first, b.first) })
	out := make([]band, len(steps))
	for i, s := range steps {
		out[i] = band{id: s.id, from: s.first, to: s.last}
		if i > 0 {
			mid := (steps[i-1].last + s.first) / 2
			out[i].from, out[i-1].to = mid, mid
		}
	}
	if n := len(out); n > 0 {
		edge := 0.5
		if n > 1 {
			edge = (out[0].to - steps[0].last + steps[n-1].first - out[n-1].from) / 2
		}
		edge = max(edge, 1e-3)
		out[0].from = steps[0].first - edge
		out[n-1].to = steps[n-1].last + edge
	}
	return out
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// sans is the font of every text in the picture.
var sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

func textStyle(size vg.Length, c color.Color) text.Style {
	return text.Style{Color: c, Font: font.From(sans, size), XAlign: draw.XLeft, YAlign: draw.YTop, Handler: plot.DefaultTextHandler}
}

// telemetrySVG is telemetry.svg (TelemetrySVG), or nothing when the run recorded no telemetry.csv.
func telemetrySVG(e *view.Evidence, _ view.Options) ([]byte, string, error) {
	if !e.Telemetry {
		return nil, "", nil
	}
	b, err := TelemetrySVG(e)
	return b, "", err
}

// TelemetrySVG draws the run's telemetry.csv: per GPU, utilisation, memory, temperature and
// power over time, with the sections as bands. The memory and power axes reach the GPU's total
// memory and power limit when gpu_env.json records them.
func TelemetrySVG(e *view.Evidence) ([]byte, error) {
	p := filepath.Join(e.Dir, evidence.TelemetryFile)
	tel, err := readTelemetry(p)
	if err != nil {
		return nil, err
	}
	facts := map[int]gpuenv.GPU{}
	if e.Env != nil {
		for _, g := range e.Env.NVML.GPUs {
			facts[g.Index] = g
		}
	}
	const (
		width  = 12 * vg.Inch
		head   = 0.75 * vg.Inch // the title and the sections' legend
		rowH   = 2.4 * vg.Inch  // one GPU's plots
		rowGap = 0.35 * vg.Inch // above each row: the GPU's name
	)
	rows := max(len(tel.gpus), 1)
	height := head + vg.Length(rows)*(rowH+rowGap)
	c := vgsvg.New(width, height)
	dc := draw.New(c)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())

	title := fmt.Sprintf("GPU telemetry: %s, %s from %s (x: seconds since then)", evidence.TelemetryFile,
		view.Plural(tel.rows, "sample"), tel.start.UTC().Format("2006-01-02 15:04:05.000 UTC"))
	if tel.rows == 0 {
		title = "GPU telemetry: " + evidence.TelemetryFile + " holds no samples"
	}
	dc.FillText(textStyle(14, color.Black), vg.Point{X: 0.3 * vg.Inch, Y: height - 0.12*vg.Inch}, title)
	bands := tel.bands()
	var legend []string
	for _, b := range bands {
		legend = append(legend, b.id)
	}
	if len(legend) > 0 {
		dc.FillText(textStyle(10, color.Gray{Y: 0x44}), vg.Point{X: 0.3 * vg.Inch, Y: height - 0.42*vg.Inch},
			"Sections, as shaded bands labelled by number: "+strings.Join(legend, ", "))
	}
	if len(tel.gpus) == 0 {
		return svgBytes(c)
	}

	plots := make([][]*plot.Plot, len(tel.gpus))
	for r, g := range tel.gpus {
		plots[r] = make([]*plot.Plot, len(metrics))
		for m, mt := range metrics {
			pl, err := metricPlot(g, m, mt, facts[g.index], bands)
			if err != nil {
				return nil, fmt.Errorf("draw %s: GPU %d %s: %w", evidence.TelemetrySVGFile, g.index, mt.column, err)
			}
			plots[r][m] = pl
		}
	}
	tiles := draw.Tiles{Rows: len(tel.gpus), Cols: len(metrics), PadTop: head + rowGap, PadY: rowGap,
		PadLeft: 0.1 * vg.Inch, PadRight: 0.2 * vg.Inch, PadBottom: 0.05 * vg.Inch, PadX: 0.25 * vg.Inch}
	canvases := plot.Align(plots, tiles, dc)
	for r, g := range tel.gpus {
		name := fmt.Sprintf("GPU %d", g.index)
		if f, ok := facts[g.index]; ok && f.Name != "" {
			name += ": " + f.Name
			if f.UUID != "" {
				name += " (" + f.UUID + ")"
			}
		}
		top := tiles.At(dc, 0, r).Max.Y
		dc.FillText(textStyle(11, color.Black), vg.Point{X: 0.3 * vg.Inch, Y: top + rowGap - 0.08*vg.Inch}, name)
		for m := range metrics {
			plots[r][m].Draw(canvases[r][m])
		}
	}
	return svgBytes(c)
}

func svgBytes(c *vgsvg.Canvas) ([]byte, error) {
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return nil, fmt.Errorf("draw %s: %w", evidence.TelemetrySVGFile, err)
	}
	return b.Bytes(), nil
}

// metricPlot is one metric of one GPU over time.
func metricPlot(g *gpuSamples, m int, mt metric, f gpuenv.GPU, bands []band) (*plot.Plot, error) {
	pl := plot.New()
	pl.Title.Text = mt.title
	pl.Title.TextStyle.Font = font.From(sans, 10)
	for _, a := range []*plot.Axis{&pl.X, &pl.Y} {
		a.Label.TextStyle.Font = font.From(sans, 9)
		a.Tick.Label.Font = font.From(sans, 8)
	}
	pl.X.Label.Text = "s"
	pl.X.Min, pl.X.Max = bands[0].from, bands[len(bands)-1].to
	pl.Add(&bandPlotter{bands: bands})

	top := 0.0
	for _, v := range g.v[m] {
		if !math.IsNaN(v) {
			top = max(top, v)
		}
	}
	switch mt.column {
	case "util_pct", "temp_c":
		top = max(top, 100)
	case "mem_used_mib":
		top = max(top, float64(f.MemoryTotalBytes>>20))
	case "power_w":
		top = max(top, f.PowerLimitWatts)
	}
	top = max(top, 1) * 1.15 // room above the data for the bands' labels
	pl.Y.Min, pl.Y.Max = 0, top
	pl.X.Tick.Marker, pl.Y.Tick.Marker = niceTicks{}, niceTicks{}

	for _, seg := range segments(g.t, g.v[m]) {
		if len(seg) == 1 {
			s, err := plotter.NewScatter(seg)
			if err != nil {
				return nil, err
			}
			s.GlyphStyle.Color, s.GlyphStyle.Radius = mt.color, vg.Points(1.5)
			pl.Add(s)
			continue
		}
		l, err := plotter.NewLine(seg)
		if err != nil {
			return nil, err
		}
		l.LineStyle.Color, l.LineStyle.Width = mt.color, vg.Points(1.2)
		pl.Add(l)
		if len(seg) <= 60 { // few samples: show where each one is
			s, err := plotter.NewScatter(seg)
			if err != nil {
				return nil, err
			}
			s.GlyphStyle.Color, s.GlyphStyle.Radius = mt.color, vg.Points(1.5)
			pl.Add(s)
		}
	}
	// The data may not widen the axes: the bands fix X, the GPU's limits Y.
	pl.X.Min, pl.X.Max = bands[0].from, bands[len(bands)-1].to
	pl.Y.Min, pl.Y.Max = 0, top
	return pl, nil
}

// segments splits a series at its unknown (NaN) values into runs of known ones, each thinned
// to at most maxPoints points.
func segments(t, v []float64) []plotter.XYs {
	var out []plotter.XYs
	var cur plotter.XYs
	for i := range t {
		if math.IsNaN(v[i]) {
			if len(cur) > 0 {
				out = append(out, thin(cur))
				cur = nil
			}
			continue
		}
		cur = append(cur, plotter.XY{X: t[i], Y: v[i]})
	}
	if len(cur) > 0 {
		out = append(out, thin(cur))
	}
	return out
}

// thin keeps, of a series longer than maxPoints, the lowest and the highest point of each of
// maxPoints/2 buckets, in time order.
func thin(xys plotter.XYs) plotter.XYs {
	if len(xys) <= maxPoints {
		return xys
	}
	buckets := maxPoints / 2
	out := make(plotter.XYs, 0, maxPoints)
	for b := range buckets {
		lo, hi := b*len(xys)/buckets, (b+1)*len(xys)/buckets
		mn, mx := lo, lo
		for i := lo; i < hi; i++ {
			if xys[i].Y < xys[mn].Y {
				mn = i
			}
			if xys[i].Y > xys[mx].Y {
				mx = i
			}
		}
		out = append(out, xys[min(mn, mx)])
		if mn != mx {
			out = append(out, xys[max(mn, mx)])
		}
	}
	return out
}

// bandPlotter shades each section's span over the plot's whole height, two tints in turn, and
// labels it with the section's number where the label fits.
type bandPlotter struct{ bands []band }

var bandTints = []color.Color{color.Gray{Y: 0xec}, color.Gray{Y: 0xf7}}

func (bp *bandPlotter) Plot(c draw.Canvas, pl *plot.Plot) {
	trX, _ := pl.Transforms(&c)
	label := textStyle(7, color.Gray{Y: 0x55})
	label.XAlign = draw.XCenter
	for i, b := range bp.bands {
		x0, x1 := trX(b.from), trX(b.to)
		c.SetColor(bandTints[i%len(bandTints)])
		c.Fill(vg.Rectangle{Min: vg.Point{X: x0, Y: c.Min.Y}, Max: vg.Point{X: x1, Y: c.Max.Y}}.Path())
		num, _, _ := strings.Cut(b.id, "-")
		if label.Width(num)+vg.Points(2) <= x1-x0 {
			c.FillText(label, vg.Point{X: (x0 + x1) / 2, Y: c.Max.Y - vg.Points(1)}, num)
		}
	}
}

// niceTicks marks an axis at 1, 2 or 5 times a power of ten, four to ten marks over the
// range, labelled with as few digits as the step needs.
type niceTicks struct{}

func (niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		return nil
	}
	raw := (hi - lo) / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if step = m * mag; step >= raw {
			break
		}
	}
	digits := max(0, -int(math.Floor(math.Log10(step))))
	var ticks []plot.Tick
	for i := math.Ceil(lo / step); i*step <= hi+step*1e-9; i++ {
		v := i * step
		if v == 0 {
			v = 0 // not -0
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', digits, 64)})
	}
	return ticks
}
