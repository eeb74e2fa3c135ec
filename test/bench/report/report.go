// Package report holds the figures `make bench` produces: each one a value measured in this run
// beside a baseline measured in the same run, so that the ratio between them means something on a
// shared, noisy machine where the absolute numbers do not. It writes them as bin/bench.json and as
// a table.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"text/tabwriter"
)

// Figure is one line of bin/bench.json. Ratio is Value / BaselineValue; it is 0 when the baseline is
// 0 (JSON has no infinity), which docs/benchmarks.md explains for the figures where that happens.
type Figure struct {
	Name          string  `json:"name"`
	Value         float64 `json:"value"`
	Unit          string  `json:"unit"`
	Baseline      string  `json:"baseline"`
	BaselineValue float64 `json:"baseline_value"`
	Ratio         float64 `json:"ratio"`
}

// New returns a figure with its ratio computed.
func New(name string, value float64, unit, baseline string, baselineValue float64) Figure {
	f := Figure{Name: name, Value: round(value), Unit: unit, Baseline: baseline, BaselineValue: round(baselineValue)}
	if baselineValue != 0 && !math.IsNaN(value) && !math.IsInf(value, 0) {
		f.Ratio = round(value / baselineValue)
	}
	return f
}

// round keeps four significant decimals: more is noise on these machines, and NaN or infinity,
// which JSON cannot carry, become 0.
func round(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return math.Round(v*10000) / 10000
}

// Write writes the figures as a JSON array to path, creating its directory.
func Write(path string, figs []Figure) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(figs, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Print writes the figures as an aligned table.
func Print(w io.Writer, figs []Figure) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FIGURE\tVALUE\tUNIT\tBASELINE\tBASELINE VALUE\tRATIO")
	for _, f := range figs {
		fmt.Fprintf(tw, "%s\t%g\t%s\t%s\t%g\t%g\n", f.Name, f.Value, f.Unit, f.Baseline, f.BaselineValue, f.Ratio)
	}
	return tw.Flush()
}
