// Command bench is `make bench`: it measures the guard's cost per request and the manager's speed
// and scale, each figure beside a baseline measured in the same run, prints them as a table and
// writes bin/bench.json (docs/benchmarks.md explains every figure). With -short it is the smoke run
// of `make test`: every figure is produced, from runs too short to mean anything.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/breakwater-dev/breakwater/test/bench/admissionbench"
	"github.com/breakwater-dev/breakwater/test/bench/guardbench"
	"github.com/breakwater-dev/breakwater/test/bench/managerbench"
	"github.com/breakwater-dev/breakwater/test/bench/report"
	"github.com/breakwater-dev/breakwater/test/testenv"
)

// part is one half of the benchmark, with the names of the figures it must produce.
type part struct {
	name    string
	figures []string
	run     func(ctx context.Context, short bool, workDir string, log io.Writer) ([]report.Figure, error)
}

var parts = []part{
	{"guard", guardbench.FigureNames, func(ctx context.Context, short bool, dir string, log io.Writer) ([]report.Figure, error) {
		return guardbench.Run(ctx, guardbench.Options{Short: short, WorkDir: dir, Log: log})
	}},
	{"manager", managerbench.FigureNames, func(ctx context.Context, short bool, dir string, log io.Writer) ([]report.Figure, error) {
		return managerbench.Run(ctx, managerbench.Options{Short: short, WorkDir: dir, Log: log})
	}},
	{"admission", admissionbench.FigureNames, func(ctx context.Context, short bool, dir string, log io.Writer) ([]report.Figure, error) {
		return admissionbench.Run(ctx, admissionbench.Options{Short: short, WorkDir: dir, Log: log})
	}},
	{"detection", detectFigures, func(ctx context.Context, _ bool, dir string, log io.Writer) ([]report.Figure, error) {
		return detect(ctx, dir, log)
	}},
}

func main() {
	short := flag.Bool("short", os.Getenv("BENCH_SHORT") != "", "smoke run: every figure, from very short measurements (BENCH_SHORT=1 sets it)")
	out := flag.String("out", "", "where to write the figures as JSON (default bin/bench.json)")
	only := flag.String("only", "", "run only this part: guard, manager, admission or detection")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *short, *out, *only)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, short bool, out, only string) error {
	root, err := testenv.RepoRoot()
	if err != nil {
		return err
	}
	if out == "" {
		out = filepath.Join(root, "bin", "bench.json")
	}
	began := time.Now()
	var selected []part
	for _, p := range parts {
		if only == "" || only == p.name {
			selected = append(selected, p)
		}
	}
	results := make([][]report.Figure, len(selected))
	errs := make([]error, len(selected))
	if short {
		// The smoke run only checks that every figure is produced, so the parts may share the
		// machine; run alone, each would measure the others.
		var wg sync.WaitGroup
		for i, p := range selected {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = runPart(ctx, root, p, short, io.Discard)
			}()
		}
		wg.Wait()
	} else {
		for i, p := range selected {
			if results[i], errs[i] = runPart(ctx, root, p, short, prefixed{os.Stdout}); errs[i] != nil {
				break
			}
		}
	}
	var figs []report.Figure
	for i := range selected {
		if errs[i] != nil {
			return errs[i]
		}
		figs = append(figs, results[i]...)
	}
	fmt.Println()
	if err := report.Print(os.Stdout, figs); err != nil {
		return err
	}
	if err := report.Write(out, figs); err != nil {
		return err
	}
	fmt.Printf("\n%d figures written to %s in %.0fs\n", len(figs), out, time.Since(began).Seconds())
	return nil
}

// runPart runs one part with its progress going to bin/bench/<part>/progress.log and to console,
// and checks that it produced every figure it owes.
func runPart(ctx context.Context, root string, p part, short bool, console io.Writer) ([]report.Figure, error) {
	start := time.Now()
	fmt.Printf("== %s\n", p.name)
	dir := filepath.Join(root, "bin", "bench", p.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "progress.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	got, err := p.run(ctx, short, dir, io.MultiWriter(logFile, console))
	logFile.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w (progress in %s)", p.name, err, logPath)
	}
	for _, name := range p.figures {
		if !slices.ContainsFunc(got, func(f report.Figure) bool { return f.Name == name }) {
			return nil, fmt.Errorf("%s did not produce figure %s (progress in %s)", p.name, name, logPath)
		}
	}
	fmt.Printf("== %s done in %.0fs\n", p.name, time.Since(start).Seconds())
	return got, nil
}

// prefixed indents progress lines under their part's heading.
type prefixed struct{ w io.Writer }

func (p prefixed) Write(b []byte) (int, error) {
	if _, err := p.w.Write(append([]byte("   "), b...)); err != nil {
		return 0, err
	}
	return len(b), nil
}
