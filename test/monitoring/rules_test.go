package monitoring

import (
	"bytes"
	"flag"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite config/prometheus/breakwater.rules.yaml from prometheusrule.yaml")

const (
	prometheusRuleFile = "config/prometheus/prometheusrule.yaml"
	plainRulesFile     = "config/prometheus/breakwater.rules.yaml"
	alertsTestFile     = "testdata/alerts.test.yaml"
	installDoc         = "docs/install.md"
	runbookPrefix      = "https://github.com/breakwater-dev/breakwater/blob/main/docs/install.md#"
)

type ruleGroups struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []rule `json:"rules"`
	} `json:"groups"`
}

type rule struct {
	Alert       string            `json:"alert"`
	Record      string            `json:"record"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(path(p))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// plainRules renders the plain rules file from the PrometheusRule: its header comment, then its
// spec (groups:) unindented, comments included.
func plainRules(t *testing.T, prometheusRule []byte) []byte {
	t.Helper()
	lines := strings.Split(string(prometheusRule), "\n")
	start := -1
	for i, l := range lines {
		if l == "spec:" {
			start = i + 1
			break
		}
	}
	if start < 0 {
		t.Fatalf("%s has no top-level spec:", prometheusRuleFile)
	}
	var b strings.Builder
	b.WriteString("# The alerts of prometheusrule.yaml as a plain Prometheus rules file (rule_files:), for Prometheus\n" +
		"# without the Operator and for promtool. Generated from prometheusrule.yaml's spec: do not edit;\n" +
		"# change prometheusrule.yaml, then run `go test ./test/monitoring -run TestPlainRulesFile -update`.\n")
	for _, l := range lines[start:] {
		if l != "" && !strings.HasPrefix(l, "  ") {
			t.Fatalf("%s: a line after spec: is not indented: %q", prometheusRuleFile, l)
		}
		b.WriteString(strings.TrimPrefix(l, "  ") + "\n")
	}
	return []byte(strings.TrimRight(b.String(), "\n") + "\n")
}

// alertRules are the rules of the plain rules file.
func alertRules(t *testing.T) []rule {
	t.Helper()
	var g ruleGroups
	if err := yaml.UnmarshalStrict(readFile(t, plainRulesFile), &g); err != nil {
		t.Fatalf("%s: %v", plainRulesFile, err)
	}
	var rules []rule
	for _, grp := range g.Groups {
		rules = append(rules, grp.Rules...)
	}
	if len(rules) == 0 {
		t.Fatalf("%s has no rules", plainRulesFile)
	}
	return rules
}

// TestPlainRulesFile keeps one source of truth: the plain rules file is the PrometheusRule's spec.
func TestPlainRulesFile(t *testing.T) {
	src := readFile(t, prometheusRuleFile)
	want := plainRules(t, src)
	if *update {
		if err := os.WriteFile(path(plainRulesFile), want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := readFile(t, plainRulesFile)
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is not the spec of %s: run `go test ./test/monitoring -run TestPlainRulesFile -update`", plainRulesFile, prometheusRuleFile)
	}
	// The same, read as YAML: the text transformation kept the meaning.
	var pr struct {
		Spec any `json:"spec"`
	}
	var plain any
	if err := yaml.Unmarshal(src, &pr); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(got, &plain); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pr.Spec, plain) {
		t.Fatalf("%s does not hold the same groups as %s's spec", plainRulesFile, prometheusRuleFile)
	}
}

func TestPromtoolCheckRules(t *testing.T) {
	out := run(t, ".", promtoolBinary(t), "check", "rules", path(plainRulesFile))
	t.Log(out)
}

// TestPromtoolTestRules runs the alerts' unit tests: each alert fires on the series it is about and
// stays silent otherwise.
func TestPromtoolTestRules(t *testing.T) {
	out := run(t, ".", promtoolBinary(t), "test", "rules", alertsTestFile)
	t.Log(out)
}

// TestAlertsAreComplete: every alert has a severity, a summary, a description that says what to
// run, a runbook in docs/install.md, reads only metrics that exist, and has promtool cases where it
// fires and where it stays silent.
func TestAlertsAreComplete(t *testing.T) {
	series, labels := knownNames(t)
	anchors := markdownAnchors(string(readFile(t, installDoc)))
	tested := alertCases(t)
	seen := map[string]bool{}
	for _, r := range alertRules(t) {
		if r.Alert == "" {
			t.Errorf("recording rule %q: the rules file holds alerts only", r.Record)
			continue
		}
		if seen[r.Alert] {
			t.Errorf("alert %s is defined twice", r.Alert)
		}
		seen[r.Alert] = true
		if s := r.Labels["severity"]; s != "warning" && s != "critical" {
			t.Errorf("%s: severity %q, want warning or critical", r.Alert, s)
		}
		if r.Annotations["summary"] == "" {
			t.Errorf("%s: no summary", r.Alert)
		}
		if !strings.Contains(r.Annotations["description"], "kubectl") {
			t.Errorf("%s: the description does not say what to look at (a kubectl command)", r.Alert)
		}
		url := r.Annotations["runbook_url"]
		anchor, ok := strings.CutPrefix(url, runbookPrefix)
		if !ok || !anchors[anchor] {
			t.Errorf("%s: runbook_url %q is not a heading of %s", r.Alert, url, installDoc)
		}
		// GitHub's heading anchors are lower case: an anchor in another case does not resolve.
		if want := strings.ToLower(r.Alert); anchor != want {
			t.Errorf("%s: runbook anchor %q, want #%s", r.Alert, anchor, want)
		}
		if u := unknownNames(r.Expr, series, labels); len(u) > 0 {
			t.Errorf("%s reads names neither the guard nor the manager exports: %v", r.Alert, u)
		}
		if !tested[r.Alert].fires || !tested[r.Alert].silent {
			t.Errorf("%s: %s needs a case where it fires and one where it stays silent (got %+v)", r.Alert, alertsTestFile, tested[r.Alert])
		}
	}
	for name := range tested {
		if !seen[name] {
			t.Errorf("%s tests %s, which is not an alert", alertsTestFile, name)
		}
	}
}

type coverage struct{ fires, silent bool }

// alertCases reads which alerts the promtool tests expect to fire and to stay silent.
func alertCases(t *testing.T) map[string]coverage {
	t.Helper()
	var f struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `json:"alertname"`
				ExpAlerts []any  `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	b, err := os.ReadFile(alertsTestFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	cases := map[string]coverage{}
	for _, tc := range f.Tests {
		for _, a := range tc.AlertRuleTest {
			c := cases[a.Alertname]
			if len(a.ExpAlerts) > 0 {
				c.fires = true
			} else {
				c.silent = true
			}
			cases[a.Alertname] = c
		}
	}
	return cases
}

var headingPattern = regexp.MustCompile(`(?m)^#{1,6} +(.+?) *$`)

// markdownAnchors are the anchors GitHub gives the headings of a Markdown page: lower case, spaces
// to hyphens, punctuation other than hyphens and underscores dropped.
func markdownAnchors(md string) map[string]bool {
	anchors := map[string]bool{}
	inFence := false
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
			continue
		}
		m := headingPattern.FindStringSubmatch(line)
		if inFence || m == nil {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
				b.WriteRune(r)
			}
		}
		anchors[b.String()] = true
	}
	return anchors
}
