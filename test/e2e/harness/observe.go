package harness

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/guardconfig"
	"github.com/breakwater-dev/breakwater/internal/sidecar"
)

// Kubectl runs kubectl (from the envtest assets) as the administrator and returns its output.
func (s *System) Kubectl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, s.kubectl, append([]string{"--kubeconfig=" + s.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// ShowState prints what a person would look at: the Breakwater objects, the Deployments' replicas
// and the Events recorded since `since`.
func (s *System) ShowState(ctx context.Context, w io.Writer, since time.Time) {
	if out, err := s.Kubectl(ctx, "get", "breakwater", "-n", Namespace); err == nil {
		fmt.Fprintf(w, "  $ kubectl get breakwater -n %s\n%s", Namespace, indent(out, "    "))
	} else {
		fmt.Fprintf(w, "  kubectl get breakwater failed: %v\n%s", err, indent(out, "    "))
	}
	if out, err := s.Kubectl(ctx, "get", "deployments", "-n", Namespace); err == nil {
		fmt.Fprintf(w, "  $ kubectl get deployments -n %s\n%s", Namespace, indent(out, "    "))
	}
	events := s.EventsSince(ctx, since)
	if len(events) > 0 {
		fmt.Fprintf(w, "  Events since the step began:\n")
		for _, e := range events {
			fmt.Fprintf(w, "    %s\n", e)
		}
	}
}

// EventsSince lists the namespace's Events (events.k8s.io) first seen at or after since, oldest
// first, one line each.
func (s *System) EventsSince(ctx context.Context, since time.Time) []string {
	list, err := s.Kube.EventsV1().Events(Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return []string{"listing events failed: " + err.Error()}
	}
	type line struct {
		at   time.Time
		text string
	}
	var lines []line
	for _, e := range list.Items {
		at := e.EventTime.Time
		if at.IsZero() {
			at = e.DeprecatedFirstTimestamp.Time
		}
		if at.Before(since.Truncate(time.Second)) {
			continue
		}
		text := fmt.Sprintf("%-7s %-22s %s/%s: %s", e.Type, e.Reason, strings.ToLower(e.Regarding.Kind), e.Regarding.Name, e.Note)
		if e.Series != nil && e.Series.Count > 1 {
			text += fmt.Sprintf(" (x%d)", e.Series.Count)
		}
		lines = append(lines, line{at, text})
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].at.Before(lines[j].at) })
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.text
	}
	return out
}

func indent(s, prefix string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(prefix + l + "\n")
	}
	return b.String()
}

// Query runs an instant PromQL query against the demo's Prometheus.
func (s *System) Query(ctx context.Context, q string) (model.Vector, error) {
	c, err := api.NewClient(api.Config{Address: s.PromURL})
	if err != nil {
		return nil, err
	}
	v, _, _, err := promv1.NewAPI(c).Query(ctx, q, time.Now())
	if err != nil {
		return nil, err
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("query %q returned %s, not a vector", q, v.Type())
	}
	return vec, nil
}

// QueryRange runs a range query against the demo's Prometheus.
func (s *System) QueryRange(ctx context.Context, q string, from, to time.Time, step time.Duration) (model.Matrix, error) {
	c, err := api.NewClient(api.Config{Address: s.PromURL})
	if err != nil {
		return nil, err
	}
	v, _, _, err := promv1.NewAPI(c).QueryRange(ctx, q, promv1.Range{Start: from, End: to, Step: step})
	if err != nil {
		return nil, err
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return nil, fmt.Errorf("query %q returned %s, not a matrix", q, v.Type())
	}
	return m, nil
}

// Figures are the metric figures the story prints at each step.
var Figures = []struct{ Name, Query string }{
	{"claude tokens/min (all guards)", `sum(rate(breakwater_guard_tokens_total{endpoint="claude"}[15s])) * 60`},
	{"throttled attempts by target", `sum by (target) (rate(breakwater_guard_upstream_attempts_total{endpoint="claude",outcome="throttled"}[15s])) / sum by (target) (rate(breakwater_guard_upstream_attempts_total{endpoint="claude"}[15s]))`},
	{"answers/s by target", `sum by (target) (rate(breakwater_guard_requests_total{endpoint="claude",outcome="success"}[15s]))`},
	{"requests refused by the guards, by reason, /s", `sum by (reason) (rate(breakwater_guard_rejections_total[15s]))`},
}

// ShowFigures prints Figures.
func (s *System) ShowFigures(ctx context.Context, w io.Writer) {
	for _, f := range Figures {
		vec, err := s.Query(ctx, f.Query)
		if err != nil {
			fmt.Fprintf(w, "  %s: query failed: %v\n", f.Name, err)
			continue
		}
		var parts []string
		for _, smp := range vec {
			label := ""
			for k, v := range smp.Metric {
				label = string(k) + "=" + string(v) + " "
			}
			parts = append(parts, fmt.Sprintf("%s%.3g", label, float64(smp.Value)))
		}
		sort.Strings(parts)
		if len(parts) == 0 {
			parts = []string{"none"}
		}
		fmt.Fprintf(w, "  %s: %s\n", f.Name, strings.Join(parts, ", "))
	}
}

// GuardConfig reads the config the manager rendered for a workload's guard, from its ConfigMap.
func (s *System) GuardConfig(ctx context.Context, workload string) (*guardconfig.Config, error) {
	cm, err := s.Kube.CoreV1().ConfigMaps(Namespace).Get(ctx, sidecar.ConfigMapName(workload), metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return guardconfig.Parse([]byte(cm.Data[guardconfig.ConfigMapKey]))
}

// Weights are the claude endpoint's target weights in a workload's guard config.
func (s *System) Weights(ctx context.Context, workload string) (map[string]int, error) {
	cfg, err := s.GuardConfig(ctx, workload)
	if err != nil {
		return nil, err
	}
	for _, ep := range cfg.Endpoints {
		if ep.Name == EndpointName {
			w := map[string]int{}
			for _, t := range ep.Targets {
				w[t.Name] = t.Weight
			}
			return w, nil
		}
	}
	return nil, fmt.Errorf("the guard config of %s has no endpoint %s", workload, EndpointName)
}

// Quota reads the TokenQuota.
func (s *System) Quota(ctx context.Context) (*breakwaterv1alpha1.TokenQuota, error) {
	var q breakwaterv1alpha1.TokenQuota
	err := s.Client.Get(ctx, ctrlclient.ObjectKey{Namespace: Namespace, Name: QuotaName}, &q)
	return &q, err
}

// Replicas reads a Deployment's spec.replicas.
func (s *System) Replicas(ctx context.Context, workload string) (int32, error) {
	d, err := s.Kube.AppsV1().Deployments(Namespace).Get(ctx, workload, metav1.GetOptions{})
	if err != nil {
		return 0, err
	}
	if d.Spec.Replicas == nil {
		return 1, nil
	}
	return *d.Spec.Replicas, nil
}
