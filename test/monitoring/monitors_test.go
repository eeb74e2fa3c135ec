package monitoring

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/breakwater-dev/breakwater/internal/promsource"
)

// relabel is one relabel rule in Prometheus' spelling.
type relabel struct {
	SourceLabels []string `json:"source_labels,omitempty"`
	Regex        string   `json:"regex,omitempty"`
	Action       string   `json:"action,omitempty"`
	TargetLabel  string   `json:"target_label,omitempty"`
	Replacement  string   `json:"replacement,omitempty"`
}

// TestPodMonitorRelabelsLikeTheScrapeJob: the guards' PodMonitor applies exactly the relabeling
// the manager's queries were tested with (promsource.GuardRelabelConfigs), then names the job.
func TestPodMonitorRelabelsLikeTheScrapeJob(t *testing.T) {
	var want []relabel
	if err := yaml.UnmarshalStrict([]byte(promsource.GuardRelabelConfigs), &want); err != nil {
		t.Fatal(err)
	}
	want = append(want, relabel{TargetLabel: "job", Replacement: "breakwater-guard"})

	var pm struct {
		Kind string `json:"kind"`
		Spec struct {
			PodMetricsEndpoints []struct {
				Port        string `json:"port"`
				Relabelings []struct {
					SourceLabels []string `json:"sourceLabels"`
					Regex        string   `json:"regex"`
					Action       string   `json:"action"`
					TargetLabel  string   `json:"targetLabel"`
					Replacement  string   `json:"replacement"`
				} `json:"relabelings"`
			} `json:"podMetricsEndpoints"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(readFile(t, "config/prometheus/guards.podmonitor.yaml"), &pm); err != nil {
		t.Fatal(err)
	}
	if pm.Kind != "PodMonitor" || len(pm.Spec.PodMetricsEndpoints) != 1 {
		t.Fatalf("want one PodMonitor endpoint, got kind %q with %d", pm.Kind, len(pm.Spec.PodMetricsEndpoints))
	}
	ep := pm.Spec.PodMetricsEndpoints[0]
	if ep.Port != "guard-admin" {
		t.Errorf("port %q, want guard-admin (internal/sidecar)", ep.Port)
	}
	var got []relabel
	for _, r := range ep.Relabelings {
		got = append(got, relabel(r))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("relabelings\n got %+v\nwant %+v", got, want)
	}
}

// TestPlainScrapeConfig checks config/prometheus/scrape-configs.yaml, the jobs for Prometheus
// without the Operator: the guard job relabels exactly as promsource.GuardRelabelConfigs, and
// `promtool check config` accepts the whole file with its rules. Debian's Prometheus is built
// without Kubernetes service discovery, so the check swaps kubernetes_sd_configs for a static
// target, and points credentials_file (the in-cluster ServiceAccount token) at a file that exists.
func TestPlainScrapeConfig(t *testing.T) {
	var cfg struct {
		RuleFiles     []string         `json:"rule_files"`
		ScrapeConfigs []map[string]any `json:"scrape_configs"`
	}
	if err := yaml.Unmarshal(readFile(t, "config/prometheus/scrape-configs.yaml"), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.RuleFiles) != 1 || cfg.RuleFiles[0] != "breakwater.rules.yaml" {
		t.Errorf("rule_files %v, want [breakwater.rules.yaml]", cfg.RuleFiles)
	}
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("token"), 0o600); err != nil {
		t.Fatal(err)
	}
	jobs := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		job, _ := sc["job_name"].(string)
		jobs[job] = true
		if job == "breakwater-guard" {
			b, err := yaml.Marshal(sc["relabel_configs"])
			if err != nil {
				t.Fatal(err)
			}
			var got, want []relabel
			if err := yaml.UnmarshalStrict(b, &got); err != nil {
				t.Fatal(err)
			}
			if err := yaml.UnmarshalStrict([]byte(promsource.GuardRelabelConfigs), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("breakwater-guard relabel_configs\n got %+v\nwant %+v", got, want)
			}
		}
		if _, ok := sc["kubernetes_sd_configs"]; !ok {
			t.Errorf("job %s does not discover its targets in Kubernetes", job)
		}
		delete(sc, "kubernetes_sd_configs")
		sc["static_configs"] = []any{map[string]any{"targets": []any{"127.0.0.1:1"}}}
		if auth, ok := sc["authorization"].(map[string]any); ok {
			auth["credentials_file"] = token
		}
	}
	if !jobs["breakwater-guard"] || !jobs["breakwater-manager"] {
		t.Errorf("jobs %v, want breakwater-guard and breakwater-manager", jobs)
	}
	rules, err := filepath.Abs(path(plainRulesFile))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuleFiles = []string{rules}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Log(run(t, dir, promtoolBinary(t), "check", "config", p))
}
