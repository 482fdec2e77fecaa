package checklist

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/internal/recorded"
	"github.com/difftrain/gpusmoke/view"
	"gotest.tools/v3/golden"
)

// svgTexts checks that b is well-formed XML and returns the text of its <text> elements.
func svgTexts(t *testing.T, b []byte) []string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	var texts []string
	inText := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("telemetry.svg is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			inText = tok.Name.Local == "text"
		case xml.EndElement:
			inText = false
		case xml.CharData:
			if inText {
				texts = append(texts, string(tok))
			}
		}
	}
	return texts
}

// The fake RTX 4090's recorded telemetry drawn: telemetry.svg beside checklist.md, linked from
// its telemetry section, against its golden (go test ./checklist -update rewrites it). gonum
// writes every number with %.5g and names its fonts (metrics compiled in, none read from the
// system), so the bytes are the same on every run: the golden is compared as is.
func TestTelemetrySVGRecorded(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fakegpu")
	renderInto(t, "fakegpu", dir)
	b := recorded.ReadFile(t, filepath.Join(dir, evidence.TelemetrySVGFile))
	golden.Assert(t, string(b), "fakegpu.telemetry.svg.golden")

	texts := svgTexts(t, b)
	for _, want := range []string{
		"GPU 0: NVIDIA GeForce RTX 4090 (GPU-00000000-0000-4000-8000-000000004090)",
		"utilisation (%)", "memory used (MiB)", "temperature (°C)", "power (W)",
		"Sections, as shaded bands labelled by number: 01-install, 02-dataset, 03-validate, 04-train, 06-resume, 07-amp-fp16, 08-amp-bf16",
	} {
		if !slices.Contains(texts, want) {
			t.Errorf("telemetry.svg has no text %q", want)
		}
	}
	// Each of the four plots labels the seven bands.
	for _, num := range []string{"01", "04", "08"} {
		if n := strings.Count(strings.Join(texts, "\n")+"\n", "\n"+num+"\n"); n != 4 {
			t.Errorf("band %s labelled %d times, want 4", num, n)
		}
	}
	// The memory axis reaches the GPU's 24564 MiB (gpu_env.json), the power axis its 450 W limit.
	for _, tick := range []string{"20000", "400"} {
		if !slices.Contains(texts, tick) {
			t.Errorf("no %s tick", tick)
		}
	}

	cl := string(recorded.ReadFile(t, filepath.Join(dir, evidence.ChecklistFile)))
	if !strings.Contains(cl, "\nSamples: `/runs/fakegpu/telemetry.csv`, drawn over time in [telemetry.svg](telemetry.svg) (one panel per GPU, the sections as bands)\n") {
		t.Error("checklist.md does not link telemetry.svg in its telemetry section")
	}

	// Drawn again: the same bytes.
	e, err := loadRunJSON(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := TelemetrySVG(e)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, b) {
		t.Error("telemetry.svg differs when drawn again")
	}
}

// A run without telemetry.csv gets no telemetry.svg and no link; one left from an earlier
// rendering is removed.
func TestTelemetrySVGOnlyWithTelemetry(t *testing.T) {
	dir := recorded.Copy(t, "pass")
	stale := filepath.Join(dir, evidence.TelemetrySVGFile)
	if err := os.WriteFile(stale, []byte("<svg/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	renderAt(t, dir)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("a stale telemetry.svg is left: %v", err)
	}
	if strings.Contains(string(recorded.ReadFile(t, filepath.Join(dir, evidence.ChecklistFile))), "telemetry.svg") {
		t.Error("checklist.md links telemetry.svg, which a run without telemetry.csv has not")
	}
}

// withTelemetry replaces the fakegpu copy's telemetry.csv.
func withTelemetry(t *testing.T, csv string) (*view.Evidence, string) {
	t.Helper()
	dir := recorded.Copy(t, "fakegpu")
	if err := os.WriteFile(filepath.Join(dir, evidence.TelemetryFile), []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := loadRunJSON(dir)
	if err != nil {
		t.Fatal(err)
	}
	return e, dir
}

// Two GPUs, a value NVML could not read (an empty cell), and a long run: one panel of four
// plots per GPU, the line broken where the value is missing, and no series drawn with more
// than maxPoints points.
func TestTelemetrySVGTwoGPUsLongRun(t *testing.T) {
	var b strings.Builder
	b.WriteString("utc,step,gpu,mem_used_mib,util_pct,temp_c,power_w\n")
	steps := []string{"01-install", "04-train", "\"06,resume\""}
	n := 3 * maxPoints
	for i := range n {
		for g := range 2 {
			util := fmt.Sprint(i % 101)
			if g == 1 && i == 100 {
				util = ""
			}
			fmt.Fprintf(&b, "2026-12-01T01:%02d:%02d.%03dZ,%s,%d,%d,%s,%d,%d.5\n", i/6000, i/100%60, i%100*10,
				steps[i*len(steps)/n], g, 1000+i, util, 40+i%30, 100+i%300)
		}
	}
	e, _ := withTelemetry(t, b.String())
	svg, err := TelemetrySVG(e)
	if err != nil {
		t.Fatal(err)
	}
	texts := svgTexts(t, svg)
	for _, want := range []string{"GPU 0: NVIDIA GeForce RTX 4090 (GPU-00000000-0000-4000-8000-000000004090)", "GPU 1",
		fmt.Sprintf("GPU telemetry: telemetry.csv, %d samples from 2026-12-01 01:00:00.000 UTC (x: seconds since then)", 2*n),
		"Sections, as shaded bands labelled by number: 01-install, 04-train, 06,resume"} {
		if !slices.Contains(texts, want) {
			t.Errorf("no text %q", want)
		}
	}
	if n := strings.Count(strings.Join(texts, "\n")+"\n", "\nutilisation (%)\n"); n != 2 {
		t.Errorf("%d utilisation plots, want 2", n)
	}
	// Every drawn line: at most maxPoints points. GPU 1's utilisation is two lines.
	longest, lines := 0, 0
	for _, m := range regexp.MustCompile(`<path d="(M[^"]*)" style="[^"]*stroke-width:1\.2`).FindAllStringSubmatch(string(svg), -1) {
		lines++
		longest = max(longest, strings.Count(m[1], "L")+1)
	}
	if lines != 9 || longest > maxPoints {
		t.Errorf("%d lines, the longest of %d points; want 9 lines (8 plots, one broken in two) of at most %d", lines, longest, maxPoints)
	}
}

// telemetry.csv as the first version wrote it (up to power_w) and as the sampler writes it now
// (the clocks and the PCIe link after it) draw the same picture: runs recorded before stay
// readable.
func TestTelemetrySVGReadsBothVersions(t *testing.T) {
	const old = "utc,step,gpu,mem_used_mib,util_pct,temp_c,power_w\n" +
		"2026-12-01T00:53:35.392Z,01-install,0,2,0,34,21.5\n" +
		"2026-12-01T00:53:36.392Z,04-train,0,900,97,62,380\n"
	const now = "utc,step,gpu,mem_used_mib,util_pct,temp_c,power_w,sm_clock_mhz,clock_events,pcie_gen,pcie_width\n" +
		"2026-12-01T00:53:35.392Z,01-install,0,2,0,34,21.5,210,0x1,4,16\n" +
		"2026-12-01T00:53:36.392Z,04-train,0,900,97,62,380,,,4,16\n"
	var svgs [][]byte
	for _, csv := range []string{old, now} {
		e, _ := withTelemetry(t, csv)
		svg, err := TelemetrySVG(e)
		if err != nil {
			t.Fatal(err)
		}
		svgs = append(svgs, svg)
	}
	if !bytes.Equal(svgs[0], svgs[1]) {
		t.Error("the two versions of telemetry.csv draw different pictures")
	}
}

// A telemetry.csv that cannot be read stops the rendering before any document is written, with
// one line naming the file and the line.
func TestTelemetrySVGBadCSV(t *testing.T) {
	const head = "utc,step,gpu,mem_used_mib,util_pct,temp_c,power_w\n"
	for _, c := range []struct{ name, csv, want string }{
		{"other header", "time,step\n", `telemetry.csv: line 1: header "time,step", want "utc,step,gpu,mem_used_mib,util_pct,temp_c,power_w,sm_clock_mhz,clock_events,pcie_gen,pcie_width" (or its columns up to power_w, as the first version wrote)`},
		{"short row now", "utc,step,gpu,mem_used_mib,util_pct,temp_c,power_w,sm_clock_mhz,clock_events,pcie_gen,pcie_width\n2026-12-01T00:53:35.392Z,01-install,0,2,0,34,21.5\n",
			"telemetry.csv: line 2: 7 fields, want 11 (utc,step,gpu,mem_used_mib,util_pct,temp_c,power_w,sm_clock_mhz,clock_events,pcie_gen,pcie_width)"},
		{"short row", head + "2026-12-01T00:53:35.392Z,01-install,0,2\n", "telemetry.csv: line 2: 4 fields, want 7 (utc,step,gpu,mem_used_mib,util_pct,temp_c,power_w)"},
		{"bad time", head + "yesterday,01-install,0,2,0,34,21.5\n", `telemetry.csv: line 2: utc: "yesterday" is not an RFC 3339 time`},
		{"bad gpu", head + "2026-12-01T00:53:35.392Z,01-install,x,2,0,34,21.5\n", `telemetry.csv: line 2: gpu: "x" is not a GPU index`},
		{"negative", head + "2026-12-01T00:53:35.392Z,01-install,0,2,0,-4,21.5\n", `telemetry.csv: line 2: temp_c: "-4" is not a number ≥ 0`},
		{"NaN", head + "2026-12-01T00:53:35.392Z,01-install,0,2,0,34,NaN\n", `telemetry.csv: line 2: power_w: "NaN" is not a number ≥ 0`},
		{"no step", head + "2026-12-01T00:53:35.392Z,,0,2,0,34,21.5\n", `telemetry.csv: line 2: step: "" is empty`},
		{"time goes back", head + "2026-12-01T00:53:35.392Z,01-install,0,2,0,34,21.5\n2026-12-01T00:53:30Z,01-install,0,2,0,34,21.5\n",
			`telemetry.csv: line 3: utc: "2026-12-01T00:53:30Z" is earlier than the first sample`},
		{"unclosed quote", head + "2026-12-01T00:53:35.392Z,\"01-install,0,2,0,34,21.5\n", "telemetry.csv: line 2: extraneous or missing \" in quoted-field"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, dir := withTelemetry(t, c.csv)
			_, err := Render(e, view.Options{Now: recorded.RenderedAt})
			if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), filepath.Join(dir, c.want)) {
				t.Errorf("err = %v, want one line with %q", err, filepath.Join(dir, c.want))
			}
			for _, doc := range evidence.Documents {
				if _, err := os.Stat(filepath.Join(dir, doc)); err == nil {
					t.Errorf("%s written", doc)
				}
			}
		})
	}
	// Only the header, or nothing at all (a preflight that failed before any step was sampled):
	// drawn, saying so.
	for _, csv := range []string{head, ""} {
		e, _ := withTelemetry(t, csv)
		svg, err := TelemetrySVG(e)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(svgTexts(t, svg), "GPU telemetry: telemetry.csv holds no samples") {
			t.Errorf("telemetry.csv %q is not said to hold no samples", csv)
		}
	}
}
