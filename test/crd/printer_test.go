package crd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// readyCondition builds a Ready condition as the manager writes it.
func readyCondition(status, reason string) map[string]any {
	return map[string]any{
		"type": "Ready", "status": status, "reason": reason, "message": "set by the test",
		"lastTransitionTime": time.Now().UTC().Format(time.RFC3339),
	}
}

// TestPrinterColumns reads each kind through the API server's Table API, which is what `kubectl get`
// prints, after writing a status as the manager would.
func TestPrinterColumns(t *testing.T) {
	ctx := context.Background()
	_, objs := samples(t)
	ensureNamespace(t, "printer")
	tests := []struct {
		sample   string
		resource string
		status   map[string]any
		columns  []string // name, then priority>0 columns marked with "(wide)"
		cells    []any    // every cell but the last (Age)
	}{{
		sample:   "modelendpoint",
		resource: "modelendpoints",
		status: map[string]any{
			"conditions":   []any{readyCondition("True", "Reconciled")},
			"activeTarget": "us-east-1",
			"observed":     map[string]any{"errorPercent": "0.42", "p99Latency": "850ms", "tokensPerMinute": int64(12000)},
		},
		columns: []string{"Name", "Ready", "Provider", "Active Target", "Error%", "P99", "Tokens/Min", "Age"},
		cells:   []any{"claude-haiku", "True", "bedrock", "us-east-1", "0.42", "850ms", float64(12000)},
	}, {
		sample:   "retrievalbackend",
		resource: "retrievalbackends",
		status: map[string]any{
			"conditions":   []any{readyCondition("True", "Reconciled")},
			"errorPercent": "1.5", "degradedPercent": "0.7", "p99Latency": "180ms",
		},
		columns: []string{"Name", "Ready", "Type", "Max Docs", "On Failure", "Error%", "Degraded%", "P99", "Age"},
		cells:   []any{"docs-search", "True", "opensearch", float64(20), "degrade", "1.5", "0.7", "180ms"},
	}, {
		sample:   "tokenquota",
		resource: "tokenquotas",
		status: map[string]any{
			"conditions": []any{readyCondition("True", "Reconciled")},
			"state":      "Warning", "usedPercent": "83.1", "limit": "400000 tokens/min",
			"admission": map[string]any{"enforcement": "shared", "guards": 6, "learnedPercent": "100.0"},
		},
		columns: []string{"Name", "State", "Used%", "Limit", "Learned% (wide)", "Mode (wide)", "Age"},
		cells:   []any{"claude-budget", "Warning", "83.1", "400000 tokens/min", "100.0", "enforce"},
	}, {
		sample:   "failoverpolicy",
		resource: "failoverpolicies",
		status: map[string]any{
			"conditions":   []any{readyCondition("True", "Reconciled")},
			"activeTarget": "us-west-2",
			"lastShift": map[string]any{"time": time.Now().UTC().Format(time.RFC3339), "reason": "ThrottleRateHigh",
				"from": "us-east-1", "to": "us-west-2"},
		},
		columns: []string{"Name", "Endpoint", "Ready", "Active Target", "Last Shift", "Mode (wide)", "Age"},
		cells:   []any{"claude-regions", "claude-haiku", "True", "us-west-2", "ThrottleRateHigh", "enforce"},
	}, {
		sample:   "genaiworkload",
		resource: "genaiworkloads",
		status: map[string]any{
			"conditions": []any{readyCondition("False", "EndpointNotFound")},
			"state":      "Shed", "injectedPods": int64(3),
		},
		columns: []string{"Name", "Criticality", "Ready", "State", "Pods", "Age"},
		cells:   []any{"support-assistant", "sheddable", "False", "Shed", float64(3)},
	}}
	httpClient, err := rest.HTTPClientFor(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.resource, func(t *testing.T) {
			obj := objs["breakwater_v1alpha1_"+tc.sample].DeepCopy()
			obj.SetNamespace("printer")
			if err := env.Client.Create(ctx, obj); err != nil {
				t.Fatal(err)
			}
			obj.Object["status"] = tc.status
			if err := env.Client.Status().Update(ctx, obj); err != nil {
				t.Fatalf("writing status: %v", err)
			}

			url := fmt.Sprintf("%s/apis/breakwater.dev/v1alpha1/namespaces/printer/%s", strings.TrimSuffix(env.Config.Host, "/"), tc.resource)
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
			resp, err := httpClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %s: %s", url, resp.Status, body)
			}
			var table metav1.Table
			if err := json.Unmarshal(body, &table); err != nil {
				t.Fatal(err)
			}
			var columns []string
			for _, c := range table.ColumnDefinitions {
				name := c.Name
				if c.Priority > 0 {
					name += " (wide)"
				}
				columns = append(columns, name)
			}
			if diff := cmp.Diff(tc.columns, columns); diff != "" {
				t.Errorf("columns (-want +got):\n%s", diff)
			}
			if len(table.Rows) != 1 {
				t.Fatalf("want 1 row, got %d", len(table.Rows))
			}
			cells := table.Rows[0].Cells
			if diff := cmp.Diff(tc.cells, cells[:len(cells)-1]); diff != "" {
				t.Errorf("cells (-want +got):\n%s", diff)
			}
			if age, _ := cells[len(cells)-1].(string); age == "" {
				t.Errorf("Age cell is empty: %v", cells)
			}
		})
	}
}

// TestDiscovery checks what kubectl learns from discovery: every kind is namespaced, in the
// breakwater category (so `kubectl get breakwater` lists them all), with its short name and a status
// subresource.
func TestDiscovery(t *testing.T) {
	dc, err := discovery.NewDiscoveryClientForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	list, err := dc.ServerResourcesForGroupVersion("breakwater.dev/v1alpha1")
	if err != nil {
		t.Fatal(err)
	}
	type resource struct {
		Kind       string
		Namespaced bool
		ShortNames []string
		Categories []string
	}
	got := map[string]resource{}
	for _, r := range list.APIResources {
		got[r.Name] = resource{r.Kind, r.Namespaced, r.ShortNames, r.Categories}
	}
	want := map[string]resource{
		"modelendpoints":           {"ModelEndpoint", true, []string{"me"}, []string{"breakwater"}},
		"modelendpoints/status":    {"ModelEndpoint", true, nil, nil},
		"retrievalbackends":        {"RetrievalBackend", true, []string{"rb"}, []string{"breakwater"}},
		"retrievalbackends/status": {"RetrievalBackend", true, nil, nil},
		"tokenquotas":              {"TokenQuota", true, []string{"tq"}, []string{"breakwater"}},
		"tokenquotas/status":       {"TokenQuota", true, nil, nil},
		"failoverpolicies":         {"FailoverPolicy", true, []string{"fp"}, []string{"breakwater"}},
		"failoverpolicies/status":  {"FailoverPolicy", true, nil, nil},
		"genaiworkloads":           {"GenAIWorkload", true, []string{"gw"}, []string{"breakwater"}},
		"genaiworkloads/status":    {"GenAIWorkload", true, nil, nil},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("discovery (-want +got):\n%s", diff)
	}
}
