package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoControllerRuntime keeps the sidecar small and independent of the manager's framework:
// the guard binary must never link controller-runtime (tests may use envtest).
func TestNoControllerRuntime(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "sigs.k8s.io/controller-runtime") {
			t.Errorf("cmd/guard depends on %s", pkg)
		}
	}
}
