package managerbench

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// apiserverMetrics is an excerpt of kube-apiserver's /metrics in the shape 1.37 serves it, with a
// family whose name starts like apiserver_request_total and must not be read as it.
const apiserverMetrics = `# HELP apiserver_request_total [STABLE] Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="configmaps",scope="resource",subresource="",verb="APPLY",version="v1"} 40
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="configmaps",scope="resource",subresource="",verb="APPLY",version="v1"} 10
apiserver_request_total{code="200",component="apiserver",dry_run="All",group="",resource="configmaps",scope="resource",subresource="",verb="APPLY",version="v1"} 7
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="configmaps",scope="namespace",subresource="",verb="LIST",version="v1"} 99
apiserver_request_total{code="0",component="apiserver",dry_run="",group="breakwater.dev",resource="genaiworkloads",scope="cluster",subresource="",verb="WATCH",version="v1alpha1"} 3
apiserver_request_total{code="201",component="apiserver",dry_run="",group="breakwater.dev",resource="genaiworkloads",scope="resource",subresource="",verb="POST",version="v1alpha1"} 50
apiserver_request_total{code="200",component="apiserver",dry_run="",group="breakwater.dev",resource="genaiworkloads",scope="resource",subresource="status",verb="PATCH",version="v1alpha1"} 51
apiserver_request_total{code="409",component="apiserver",dry_run="",group="breakwater.dev",resource="genaiworkloads",scope="resource",subresource="status",verb="PATCH",version="v1alpha1"} 1
apiserver_request_total{code="200",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="PUT",version="v1"} 12
apiserver_request_total{code="201",component="apiserver",dry_run="",group="events.k8s.io",resource="events",scope="resource",subresource="",verb="POST",version="v1"} 100
# HELP apiserver_request_total_extra Not the family the bench reads.
# TYPE apiserver_request_total_extra counter
apiserver_request_total_extra{verb="POST"} 1000
# HELP apiserver_request_duration_seconds [STABLE] Response latency distribution.
# TYPE apiserver_request_duration_seconds histogram
apiserver_request_duration_seconds_bucket{verb="POST",le="0.005"} 5
`

func TestAPIServerWrites(t *testing.T) {
	got, err := apiserverWrites(strings.NewReader(apiserverMetrics))
	if err != nil {
		t.Fatal(err)
	}
	want := writeCounts{
		{Verb: "APPLY", Resource: "configmaps"}:                                                     50, // codes summed, the dry run left out
		{Verb: "POST", Group: "breakwater.dev", Resource: "genaiworkloads"}:                         50,
		{Verb: "PATCH", Group: "breakwater.dev", Resource: "genaiworkloads", Subresource: "status"}: 52, // a conflict is a write request too
		{Verb: "PUT", Group: "coordination.k8s.io", Resource: "leases"}:                             12,
		{Verb: "POST", Group: "events.k8s.io", Resource: "events"}:                                  100,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("writes (-want +got):\n%s", diff)
	}
}

func TestAPIServerWritesWithoutTheFamily(t *testing.T) {
	if _, err := apiserverWrites(strings.NewReader("# TYPE up gauge\nup 1\n")); err == nil {
		t.Error("no error for metrics without apiserver_request_total")
	}
}

func TestDiffWrites(t *testing.T) {
	configmaps := writeKey{Verb: "APPLY", Resource: "configmaps"}
	status := writeKey{Verb: "PATCH", Group: "breakwater.dev", Resource: "modelendpoints", Subresource: "status"}
	create := writeKey{Verb: "POST", Group: "breakwater.dev", Resource: "genaiworkloads"}
	leases := writeKey{Verb: "PUT", Group: "coordination.k8s.io", Resource: "leases"}
	before := writeCounts{configmaps: 10, status: 5, leases: 100}
	after := writeCounts{configmaps: 10, status: 29, create: 1000, leases: 106}
	got := diffWrites(before, after, notManagers)
	want := writeDelta{
		Counted: map[writeKey]float64{status: 24},
		Skipped: map[writeKey]float64{create: 1000, leases: 6},
		Total:   24,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delta (-want +got):\n%s", diff)
	}
	breakdown := got.breakdown("  ")
	for _, line := range []string{"      24  PATCH modelendpoints.breakwater.dev/status\n", "POST genaiworkloads.breakwater.dev  (not counted: the bench creates"} {
		if !strings.Contains(breakdown, line) {
			t.Errorf("breakdown lacks %q:\n%s", line, breakdown)
		}
	}
	if got := diffWrites(after, after, notManagers).breakdown(""); got != "(no writes)\n" {
		t.Errorf("breakdown of nothing = %q", got)
	}
}

func TestParseManagerMetrics(t *testing.T) {
	const text = `# TYPE rest_client_requests_total counter
rest_client_requests_total{code="200",host="127.0.0.1:1",method="GET"} 7
rest_client_requests_total{code="404",host="127.0.0.1:1",method="GET"} 1
rest_client_requests_total{code="200",host="127.0.0.1:1",method="PATCH"} 3
# TYPE workqueue_depth gauge
workqueue_depth{controller="genaiworkload",name="genaiworkload"} 4
workqueue_depth{controller="modelendpoint",name="modelendpoint"} 1
# TYPE controller_runtime_reconcile_total counter
controller_runtime_reconcile_total{controller="genaiworkload",result="success"} 10
controller_runtime_reconcile_total{controller="genaiworkload",result="error"} 2
# TYPE controller_runtime_reconcile_errors_total counter
controller_runtime_reconcile_errors_total{controller="genaiworkload"} 2
# TYPE controller_runtime_reconcile_time_seconds histogram
controller_runtime_reconcile_time_seconds_bucket{controller="genaiworkload",le="+Inf"} 12
controller_runtime_reconcile_time_seconds_sum{controller="genaiworkload"} 0.6
controller_runtime_reconcile_time_seconds_count{controller="genaiworkload"} 12
# TYPE go_memstats_heap_inuse_bytes gauge
go_memstats_heap_inuse_bytes 1.048576e+07
`
	got, err := parseManagerMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := managerFigures{
		requests:         map[string]float64{"GET": 8, "PATCH": 3},
		queueDepth:       5,
		reconciles:       map[string]float64{"genaiworkload": 12},
		reconcileErrors:  map[string]float64{"genaiworkload": 2},
		reconcileSeconds: map[string]float64{"genaiworkload": 0.6},
		heapInuse:        10485760,
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(managerFigures{})); diff != "" {
		t.Errorf("figures (-want +got):\n%s", diff)
	}
	if got := formatMap(subMaps(map[string]float64{"GET": 2, "PATCH": 3}, got.requests)); got != "GET=6" {
		t.Errorf("formatMap(subMaps(...)) = %q, want GET=6", got)
	}
	if got := formatMap(meanMillis(got.reconcileSeconds, got.reconciles)); got != "genaiworkload=50" {
		t.Errorf("mean reconcile = %q, want genaiworkload=50", got)
	}
}

func TestParseProcStatus(t *testing.T) {
	const status = "Name:\tmanager\nVmPeak:\t 2000000 kB\nVmHWM:\t  127488 kB\nVmRSS:\t  115507 kB\n" +
		"RssAnon:\t   80000 kB\nRssFile:\t   35507 kB\nRssShmem:\t       0 kB\nThreads:\t12\n"
	got, err := parseProcStatus(strings.NewReader(status))
	if err != nil {
		t.Fatal(err)
	}
	if want := (memory{rssKiB: 115507, peakKiB: 127488, anonKiB: 80000, fileKiB: 35507}); got != want {
		t.Errorf("parseProcStatus = %+v, want %+v", got, want)
	}
	if _, err := parseProcStatus(strings.NewReader("Name:\tkthreadd\n")); err == nil {
		t.Error("no error without VmRSS and VmHWM")
	}
}

func TestFleet(t *testing.T) {
	for _, tc := range []struct {
		workloads, namespaces, endpointsInFirst int
	}{
		{1000, 10, 10},
		{50, 2, 3},
		{101, 2, 6},
	} {
		f := newFleet(tc.workloads)
		if f.namespaces != tc.namespaces || f.endpointsIn(0) != tc.endpointsInFirst {
			t.Errorf("newFleet(%d): %d namespaces, %d endpoints in the first; want %d, %d",
				tc.workloads, f.namespaces, f.endpointsIn(0), tc.namespaces, tc.endpointsInFirst)
		}
		total := 0
		for i := range f.namespaces {
			total += f.perNamespace(i)
		}
		if total != tc.workloads {
			t.Errorf("newFleet(%d) places %d workloads", tc.workloads, total)
		}
	}
}
