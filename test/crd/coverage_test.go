package crd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestEveryCELRuleHasAnInvalidCase fails when a CRD gains a CEL rule whose message no case of
// TestInvalidObjectsAreRefused asserts, so new rules cannot go untested.
func TestEveryCELRuleHasAnInvalidCase(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(env.RepoRoot, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(files) != 5 {
		t.Fatalf("want the 5 CRDs, got %v (%v)", files, err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd map[string]any
		if err := yaml.Unmarshal(data, &crd); err != nil {
			t.Fatal(err)
		}
		for _, msg := range celMessages(crd) {
			covered := false
			for _, tc := range invalidCases {
				if strings.Contains(tc.want, msg) {
					covered = true
					break
				}
			}
			if !covered {
				t.Errorf("%s: no invalid case asserts the CEL message %q", filepath.Base(f), msg)
			}
		}
	}
}

// celMessages collects the message of every x-kubernetes-validations rule in a decoded YAML tree.
func celMessages(node any) []string {
	var out []string
	switch n := node.(type) {
	case map[string]any:
		for k, v := range n {
			if k == "x-kubernetes-validations" {
				for _, rule := range v.([]any) {
					out = append(out, rule.(map[string]any)["message"].(string))
				}
				continue
			}
			out = append(out, celMessages(v)...)
		}
	case []any:
		for _, v := range n {
			out = append(out, celMessages(v)...)
		}
	}
	return out
}
