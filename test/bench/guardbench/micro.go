package guardbench

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"

	"github.com/breakwater-dev/breakwater/test/bench/report"
)

// benchResult is one line of `go test -bench -benchmem` output.
type benchResult struct {
	N           int64
	NsPerOp     float64
	BytesPerOp  float64
	AllocsPerOp float64
	MBPerS      float64
}

// parseBench reads `go test -bench -benchmem` output into results by benchmark name, without the
// "Benchmark" prefix and the "-GOMAXPROCS" suffix ("BenchmarkInspect-2" is "Inspect"). A name
// seen twice (-count) keeps the last line.
func parseBench(out string) (map[string]benchResult, error) {
	res := map[string]benchResult{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue // a benchmark's own log line that happens to start with its name
		}
		r := benchResult{N: n}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchmark %s: value %q: %w", name, f[i], err)
			}
			switch f[i+1] {
			case "ns/op":
				r.NsPerOp = v
			case "B/op":
				r.BytesPerOp = v
			case "allocs/op":
				r.AllocsPerOp = v
			case "MB/s":
				r.MBPerS = v
			}
		}
		res[name] = r
	}
	return res, sc.Err()
}

// microPair is one hot-path micro-benchmark and its baseline benchmark.
type microPair struct {
	figure, baseline string // figure stems
	bench, baseBench string // benchmark names in package micro
	perKB            bool   // ns figures per KB of request body (inspection)
}

var microPairs = []microPair{
	{"guard_inspect", "json_valid", "Inspect", "JSONValid", true},
	{"guard_breaker_admit", "mutex_lock_unlock", "BreakerAdmit", "Mutex", false},
	{"guard_breaker_reject", "mutex_lock_unlock", "BreakerReject", "Mutex", false},
	{"guard_quota_admit", "mutex_lock_unlock", "QuotaAdmit", "Mutex", false},
	{"guard_metrics_record", "prom_preresolved_record", "MetricsRecord", "MetricsPreresolved", false},
}

// microFigureNames are the figures microFigures returns, in order.
func microFigureNames() []string {
	var names []string
	for _, p := range microPairs {
		ns := p.figure + "_ns"
		if p.perKB {
			ns = p.figure + "_ns_per_kb"
		}
		names = append(names, ns, p.figure+"_bytes_per_op", p.figure+"_allocs_per_op")
	}
	return names
}

// microFigures turns parsed benchmark results into figures; bodyKB is the inspected body's size.
func microFigures(res map[string]benchResult, bodyKB float64) ([]report.Figure, error) {
	var figs []report.Figure
	for _, p := range microPairs {
		g, ok1 := res[p.bench]
		b, ok2 := res[p.baseBench]
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("micro-benchmark %s or %s missing from the output", p.bench, p.baseBench)
		}
		nsName, nsBase, gns, bns := p.figure+"_ns", p.baseline+"_ns", g.NsPerOp, b.NsPerOp
		if p.perKB {
			nsName, nsBase, gns, bns = p.figure+"_ns_per_kb", p.baseline+"_ns_per_kb", gns/bodyKB, bns/bodyKB
		}
		figs = append(figs,
			report.New(nsName, gns, "ns", nsBase, bns),
			report.New(p.figure+"_bytes_per_op", g.BytesPerOp, "B", p.baseline+"_bytes_per_op", b.BytesPerOp),
			report.New(p.figure+"_allocs_per_op", g.AllocsPerOp, "allocs", p.baseline+"_allocs_per_op", b.AllocsPerOp),
		)
	}
	return figs, nil
}
