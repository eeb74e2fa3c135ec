// Package monitoring tests what config/prometheus and config/grafana ship: the alerting rules pass
// `promtool check rules` and their unit tests (testdata/alerts.test.yaml, `promtool test rules`),
// the plain rules file is the PrometheusRule's spec, every alert is documented in docs/install.md,
// the guards' PodMonitor relabels as promsource.GuardRelabelConfigs does, and every dashboard panel
// is PromQL a real Prometheus accepts, over metrics the guard and the manager export.
//
// promtool and prometheus come from Debian's prometheus package (hack/prometheus.sh installs it;
// `make test` sets PROMETHEUS). The tests fail, rather than skip, when they are missing.
package monitoring

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// repo is the repository root, relative to this package's folder (where go test runs).
const repo = "../.."

// path is a repository path from this package's folder.
func path(parts ...string) string { return filepath.Join(append([]string{repo}, parts...)...) }

// promtoolBinary finds promtool: $PROMTOOL, then next to $PROMETHEUS (Debian's package installs both
// in /usr/bin), then PATH, then next to the prometheus on PATH.
func promtoolBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PROMTOOL"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("PROMTOOL=%s: %v", p, err)
		}
		return p
	}
	if p := os.Getenv("PROMETHEUS"); p != "" {
		if c := filepath.Join(filepath.Dir(p), "promtool"); isExecutable(c) {
			return c
		}
	}
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	if p, err := exec.LookPath("prometheus"); err == nil {
		if c := filepath.Join(filepath.Dir(p), "promtool"); isExecutable(c) {
			return c
		}
	}
	t.Fatalf("no promtool: set PROMTOOL, or run hack/prometheus.sh (or make test), which installs Debian's " +
		"prometheus package with promtool next to prometheus")
	return ""
}

// prometheusBinary finds the server as internal/promsource's tests do: $PROMETHEUS, then PATH.
func prometheusBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PROMETHEUS"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("PROMETHEUS=%s: %v; run hack/prometheus.sh to install Prometheus", p, err)
		}
		return p
	}
	p, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("no prometheus binary on PATH and PROMETHEUS is not set: run hack/prometheus.sh (or make test), " +
			"which installs Debian's prometheus package, or set PROMETHEUS to a Prometheus 2.x binary")
	}
	return p
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// run runs a command in dir and returns its combined output; a failure fails the test with it.
func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}
