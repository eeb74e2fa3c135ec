package main

import (
	"context"
	"fmt"
	"io"

	"github.com/breakwater-dev/breakwater/test/bench/report"
	"github.com/breakwater-dev/breakwater/test/e2e/harness"
)

// detectFigures are the manager's reaction times, measured on the end-to-end harness: real
// guards, real Prometheus, the manager binary, the envtest control plane.
var detectFigures = []string{"manager_detect_to_shift_s", "manager_detect_to_shed_s"}

// detect runs the harness's MeasureDetection. Both figures are compared with what the issue asks
// for: acting within two evaluation intervals after the metric is scraped, so the baseline is one
// scrape interval plus two evaluation intervals of this run's manager.
func detect(ctx context.Context, workDir string, log io.Writer) ([]report.Figure, error) {
	sys, err := harness.Start(ctx, harness.Options{WorkDir: workDir, Out: log})
	if err != nil {
		return nil, err
	}
	defer sys.Stop()
	d, err := sys.MeasureDetection(ctx, log)
	sys.StopLoad()
	if err != nil {
		return nil, err
	}
	t := harness.DemoTiming
	budget := (t.Scrape + 2*t.Evaluation).Seconds()
	fmt.Fprintf(log, "detection: evaluation interval %s, scrape interval %s, FailoverPolicy window %s, quota usage window %s\n",
		t.Evaluation, t.Scrape, t.FailoverWindow, t.QuotaWindow)
	const baseline = "scrape_plus_2_evaluations_s"
	return []report.Figure{
		report.New("manager_detect_to_shift_s", d.Shift.Took().Seconds(), "s", baseline, budget),
		report.New("manager_detect_to_shed_s", d.Shed.Took().Seconds(), "s", baseline, budget),
	}, nil
}
