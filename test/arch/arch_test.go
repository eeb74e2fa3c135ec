// Package arch checks the dependency rules that keep Breakwater's parts separable (STYLE.md): API
// types import no controllers, the guard never links the manager's framework, the guard config
// contract holds no Kubernetes types, decisions stay pure, and the guard's proxy core reaches providers only
// through their interface and registry.
package arch

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/breakwater-dev/breakwater/test/testenv"
)

const module = "github.com/breakwater-dev/breakwater"

func TestDependencyRules(t *testing.T) {
	rules := []struct {
		packages  string   // a go list pattern, relative to the module
		forbidden []string // packages (and their subpackages; a trailing / matches any path under it) none of their (non-test) dependencies may be
		why       string
	}{
		{"./api/...", []string{module + "/controllers", module + "/internal/", "sigs.k8s.io/controller-runtime"},
			"API types are imported by everyone: they depend on apimachinery alone, never on the implementation"},
		{"./internal/guard/...", []string{"sigs.k8s.io/controller-runtime", module + "/controllers", module + "/api/"},
			"the guard is a small sidecar: it speaks only the guardconfig contract, never the manager's framework or the CRD types"},
		{"./cmd/guard", []string{"sigs.k8s.io/controller-runtime", module + "/controllers", module + "/api/",
			"k8s.io/client-go/kubernetes", "k8s.io/api/apps", "k8s.io/api/batch"},
			"the guard binary must stay small and independent of the manager: one runs in every application pod, and " +
				"client-go's clientset alone (every API group registered at start-up) costs each of them about 8 MiB"},
		{"./internal/guardconfig", []string{"k8s.io/", "sigs.k8s.io/", module + "/api/"},
			"the manager-guard contract is plain Go structs, testable without Kubernetes"},
		{"./internal/policy/...", []string{"sigs.k8s.io/controller-runtime", "k8s.io/client-go",
			module + "/internal/promsource", module + "/internal/aws", module + "/internal/render", module + "/controllers",
			"github.com/prometheus/", "github.com/aws/"},
			"decisions are pure functions of their inputs: the loops gather the metrics, quotas and catalogue answers and hand them in"},
		{"./internal/render", []string{"sigs.k8s.io/controller-runtime", "k8s.io/client-go",
			module + "/internal/promsource", module + "/internal/aws", module + "/controllers"},
			"rendering the guard config is a pure function of the CRDs"},
		{"./internal/promsource", []string{"sigs.k8s.io/controller-runtime", "k8s.io/", module + "/api/",
			module + "/controllers", module + "/internal/policy", module + "/internal/guard"},
			"the metric source answers figures over a scope; it knows no Kubernetes object and decides nothing"},
		{"./internal/metrics", []string{"sigs.k8s.io/", "k8s.io/", module + "/internal/guard", module + "/api/", module + "/controllers"},
			"the guard's metric names are a leaf both the guard and the manager's queries import"},
		{"./controllers/...", []string{module + "/internal/guard", module + "/cmd/"},
			"the manager talks to the guard through the guardconfig contract and the guard's metrics, never its code"},
		{"./internal/guard/provider/...", []string{"github.com/prometheus/", module + "/internal/metrics",
			module + "/internal/guard/breaker", module + "/internal/guard/retry", module + "/internal/guard/quota",
			module + "/internal/guard/configsource"},
			"providers translate a protocol; counting, retrying, breaking circuits, quota and config loading stay in the proxy core"},
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		t.Run(r.packages, func(t *testing.T) {
			cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", r.packages)
			cmd.Dir = root
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("go list %s: %v", r.packages, err)
			}
			for _, dep := range strings.Fields(string(out)) {
				for _, f := range r.forbidden {
					if forbids(f, dep) {
						t.Errorf("%s depends on %s: %s", r.packages, dep, r.why)
					}
				}
			}
		})
	}
}

// forbids says whether the forbidden entry f matches the package dep: f itself or a package under
// it, or with a trailing slash any path under it.
func forbids(f, dep string) bool {
	if strings.HasSuffix(f, "/") {
		return strings.HasPrefix(dep, f)
	}
	return dep == f || strings.HasPrefix(dep, f+"/")
}

// TestProvidersBehindTheSeam keeps the guard's proxy core provider-agnostic: outside the provider
// packages, the only provider packages any guard package imports are the interface
// (internal/guard/provider) and the wiring (internal/guard/provider/registry); only the registry
// imports a concrete provider; no provider imports another. Test files are not checked.
func TestProvidersBehindTheSeam(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	const seam = module + "/internal/guard/provider"
	const registry = seam + "/registry"
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./internal/guard/...", "./cmd/guard")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	concrete := func(p string) bool { return strings.HasPrefix(p, seam+"/") && p != registry }
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, imports := fields[0], fields[1:]
		for _, imp := range imports {
			switch {
			case !concrete(imp):
			case pkg == registry:
			case concrete(pkg) && strings.HasPrefix(imp+"/", pkg+"/"):
				// a provider's own subpackages
			case concrete(pkg):
				t.Errorf("provider %s imports provider %s: shared protocol helpers belong in %s or the codec packages", pkg, imp, seam)
			default:
				t.Errorf("%s imports %s: the proxy core reaches providers only through %s and %s", pkg, imp, seam, registry)
			}
		}
	}
}

// TestPolicyIsHandedTheClock keeps decisions replayable: internal/policy never reads the clock or
// randomness itself; callers hand it `now` (and seeds).
func TestPolicyIsHandedTheClock(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(root, "internal", "policy", "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, call := range []string{"time.Now(", "time.Since(", "time.Until(", "rand."} {
			if strings.Contains(string(src), call) {
				t.Errorf("%s calls %s: take now (or a seed) as an input instead", filepath.Base(f), call)
			}
		}
	}
}
