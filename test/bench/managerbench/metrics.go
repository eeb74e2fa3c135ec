package managerbench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// writeVerbs are the verbs of apiserver_request_total that change stored state. WATCH, GET and
// LIST read; CONNECT is not used by the manager.
var writeVerbs = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "DELETE": true, "DELETECOLLECTION": true, "APPLY": true}

// writeKey is one line of the write breakdown: who was written, and how.
type writeKey struct {
	Verb        string
	Group       string
	Resource    string
	Subresource string
}

func (k writeKey) String() string {
	r := k.Resource
	if k.Group != "" {
		r += "." + k.Group
	}
	if k.Subresource != "" {
		r += "/" + k.Subresource
	}
	return k.Verb + " " + r
}

// writeCounts are cumulative API writes by verb and resource, as kube-apiserver counts them.
type writeCounts map[writeKey]float64

// parseFamilies parses the Prometheus text exposition format, keeping only the families named
// (all of them when names is empty). Filtering the lines first keeps the parse of kube-apiserver's
// several-megabyte /metrics cheap.
func parseFamilies(r io.Reader, names ...string) (map[string]*dto.MetricFamily, error) {
	var kept bytes.Buffer
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if len(names) > 0 && !lineOf(line, names) {
			continue
		}
		kept.WriteString(line)
		kept.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading metrics: %w", err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(&kept)
	if err != nil {
		return nil, fmt.Errorf("parsing metrics: %w", err)
	}
	return fams, nil
}

// lineOf reports whether a line of the text format (sample, HELP or TYPE) belongs to one of the
// families named.
func lineOf(line string, names []string) bool {
	rest := line
	if strings.HasPrefix(line, "#") {
		f := strings.Fields(line)
		if len(f) < 3 || (f[1] != "HELP" && f[1] != "TYPE") {
			return false
		}
		rest = f[2]
	}
	for _, n := range names {
		if !strings.HasPrefix(rest, n) {
			continue
		}
		tail := rest[len(n):]
		if !strings.HasPrefix(line, "#") {
			// A histogram's or summary's samples carry a suffix.
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				tail = strings.TrimPrefix(tail, suffix)
			}
		}
		if tail == "" || tail[0] == '{' || tail[0] == ' ' || tail[0] == '\t' {
			return true
		}
	}
	return false
}

// labelValue returns the value of a metric's label, "" when it has none.
func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// counterValue is a counter's or gauge's value, or an untyped sample's.
func counterValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}

// apiserverWrites reads the write requests out of kube-apiserver's /metrics: apiserver_request_total
// summed over codes, scopes and versions, for the write verbs, dry runs excluded (they store
// nothing).
func apiserverWrites(r io.Reader) (writeCounts, error) {
	fams, err := parseFamilies(r, "apiserver_request_total")
	if err != nil {
		return nil, err
	}
	out := writeCounts{}
	fam := fams["apiserver_request_total"]
	if fam == nil {
		return nil, fmt.Errorf("kube-apiserver's /metrics has no apiserver_request_total")
	}
	for _, m := range fam.GetMetric() {
		verb := labelValue(m, "verb")
		if !writeVerbs[verb] || labelValue(m, "dry_run") != "" {
			continue
		}
		k := writeKey{Verb: verb, Group: labelValue(m, "group"), Resource: labelValue(m, "resource"), Subresource: labelValue(m, "subresource")}
		out[k] += counterValue(m)
	}
	return out, nil
}

// excluded tells which writes a figure leaves out, and why (for the log).
type excluded func(writeKey) (string, bool)

// notManagers leaves out the writes that are not the manager's: leases (kube-apiserver renews its
// own identity lease every few seconds; leader election, if it were on, would renew the manager's)
// and the bench's own creates of GenAIWorkloads (the manager never creates one).
func notManagers(k writeKey) (string, bool) {
	switch {
	case k.Resource == "leases" && k.Group == "coordination.k8s.io":
		return "leases: kube-apiserver's identity lease, not the manager's", true
	case k.Resource == "genaiworkloads" && k.Subresource == "" && k.Verb == "POST":
		return "the bench creates the GenAIWorkloads", true
	}
	return "", false
}

// writeDelta is what happened between two snapshots: per key, and the total of the keys kept.
type writeDelta struct {
	Counted map[writeKey]float64
	Skipped map[writeKey]float64
	Total   float64
}

// diffWrites subtracts snapshot before from after. A counter that went down (it cannot, short of an
// API server restart) counts from zero.
func diffWrites(before, after writeCounts, skip excluded) writeDelta {
	d := writeDelta{Counted: map[writeKey]float64{}, Skipped: map[writeKey]float64{}}
	for k, v := range after {
		n := v - before[k]
		if n < 0 {
			n = v
		}
		if n == 0 {
			continue
		}
		if _, skipped := skip(k); skipped {
			d.Skipped[k] += n
			continue
		}
		d.Counted[k] += n
		d.Total += n
	}
	return d
}

// breakdown writes the counted writes, most first, then the ones left out, one per line.
func (d writeDelta) breakdown(indent string) string {
	var b strings.Builder
	lines := func(m map[writeKey]float64, note func(writeKey) string) {
		keys := slices.Collect(maps.Keys(m))
		slices.SortFunc(keys, func(a, c writeKey) int {
			if m[a] != m[c] {
				if m[a] > m[c] {
					return -1
				}
				return 1
			}
			return strings.Compare(a.String(), c.String())
		})
		for _, k := range keys {
			fmt.Fprintf(&b, "%s%8.0f  %s%s\n", indent, m[k], k, note(k))
		}
	}
	if len(d.Counted) == 0 {
		fmt.Fprintf(&b, "%s(no writes)\n", indent)
	}
	lines(d.Counted, func(writeKey) string { return "" })
	lines(d.Skipped, func(k writeKey) string {
		why, _ := notManagers(k)
		return "  (not counted: " + why + ")"
	})
	return b.String()
}

// managerFigures are read from the manager's own /metrics (controller-runtime's registry).
type managerFigures struct {
	// requests by HTTP method, from client-go's rest_client_requests_total: the manager's own
	// calls to the API server, a cross-check of kube-apiserver's count.
	requests map[string]float64
	// queueDepth is the sum of the controllers' workqueue depths.
	queueDepth float64
	// reconciles by controller, all results.
	reconciles map[string]float64
	// reconcileErrors by controller.
	reconcileErrors map[string]float64
	// reconcileSeconds by controller: the sum of controller_runtime_reconcile_time_seconds.
	reconcileSeconds map[string]float64
	// heapInuse is go_memstats_heap_inuse_bytes.
	heapInuse float64
}

// parseManagerMetrics reads the figures the bench logs from the manager's /metrics.
func parseManagerMetrics(r io.Reader) (managerFigures, error) {
	fams, err := parseFamilies(r, "rest_client_requests_total", "workqueue_depth", "controller_runtime_reconcile_total",
		"controller_runtime_reconcile_errors_total", "controller_runtime_reconcile_time_seconds", "go_memstats_heap_inuse_bytes")
	if err != nil {
		return managerFigures{}, err
	}
	f := managerFigures{requests: map[string]float64{}, reconciles: map[string]float64{}, reconcileErrors: map[string]float64{},
		reconcileSeconds: map[string]float64{}}
	for _, m := range fams["rest_client_requests_total"].GetMetric() {
		f.requests[labelValue(m, "method")] += counterValue(m)
	}
	for _, m := range fams["workqueue_depth"].GetMetric() {
		f.queueDepth += counterValue(m)
	}
	for _, m := range fams["controller_runtime_reconcile_total"].GetMetric() {
		f.reconciles[labelValue(m, "controller")] += counterValue(m)
	}
	for _, m := range fams["controller_runtime_reconcile_errors_total"].GetMetric() {
		f.reconcileErrors[labelValue(m, "controller")] += counterValue(m)
	}
	for _, m := range fams["controller_runtime_reconcile_time_seconds"].GetMetric() {
		f.reconcileSeconds[labelValue(m, "controller")] += m.GetHistogram().GetSampleSum()
	}
	for _, m := range fams["go_memstats_heap_inuse_bytes"].GetMetric() {
		f.heapInuse = counterValue(m)
	}
	return f, nil
}

// subMaps returns after - before per key, dropping zeros.
func subMaps(before, after map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if n := v - before[k]; n != 0 {
			out[k] = n
		}
	}
	return out
}

// meanMillis divides, per key, the seconds spent by the count, in milliseconds.
func meanMillis(seconds, count map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, n := range count {
		if n > 0 {
			out[k] = math.Round(seconds[k] / n * 1000)
		}
	}
	return out
}

// formatMap writes a map as "k=v k=v", keys sorted.
func formatMap(m map[string]float64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.FormatFloat(m[k], 'f', -1, 64)
	}
	return strings.Join(parts, " ")
}

// memory is a process's resident set from /proc/<pid>/status, in KiB.
type memory struct {
	rssKiB  int64 // VmRSS: resident now
	peakKiB int64 // VmHWM: the most it was ever resident
	anonKiB int64 // RssAnon: of VmRSS, the heap, stacks and runtime (what a memory limit cannot reclaim)
	fileKiB int64 // RssFile: of VmRSS, pages of the binary and other mapped files
}

// parseProcStatus reads VmRSS and VmHWM from the text of /proc/<pid>/status.
func parseProcStatus(r io.Reader) (memory, error) {
	var m memory
	var seenRSS, seenHWM bool
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM" && name != "RssAnon" && name != "RssFile") {
			continue
		}
		f := strings.Fields(value)
		if len(f) != 2 || f[1] != "kB" {
			return m, fmt.Errorf("unexpected %s line %q", name, sc.Text())
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("%s: %w", name, err)
		}
		switch name {
		case "VmRSS":
			m.rssKiB, seenRSS = n, true
		case "VmHWM":
			m.peakKiB, seenHWM = n, true
		case "RssAnon":
			m.anonKiB = n
		case "RssFile":
			m.fileKiB = n
		}
	}
	if err := sc.Err(); err != nil {
		return m, err
	}
	if !seenRSS || !seenHWM {
		return m, fmt.Errorf("no VmRSS or VmHWM line (a kernel thread, or not Linux)")
	}
	return m, nil
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

func (m memory) String() string {
	return fmt.Sprintf("RSS %.1f MiB (anonymous %.1f, files %.1f), peak RSS %.1f MiB", mib(m.rssKiB), mib(m.anonKiB), mib(m.fileKiB), mib(m.peakKiB))
}
