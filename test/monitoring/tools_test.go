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
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/breakwater-dev/breakwater/test/promtest"
)

// repo is the repository root, relative to this package's folder (where go test runs).
const repo = "../.."

// path is a repository path from this package's folder.
func path(parts ...string) string { return filepath.Join(append([]string{repo}, parts...)...) }

// promtoolBinary finds promtool as promtest does ($PROMTOOL, beside Prometheus, PATH) and fails the
// test when there is none: these tests never skip.
func promtoolBinary(t *testing.T) string {
	t.Helper()
	p, err := promtest.Promtool()
	if err != nil {
		t.Fatal(err)
	}
	return p
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
