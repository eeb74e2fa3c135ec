// Package chart tests the Helm chart charts/breakwater: that `helm lint` and `helm template` pass, that
// it renders what the kustomize production overlays render (CRDs byte for byte, RBAC rules, the
// manager's Deployment, the webhook configuration), and that it installs and upgrades on a real
// kube-apiserver. The helm binary is the one `make test` pins and builds into bin/ ($HELM).
package chart

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/breakwater-dev/breakwater/test/testenv"
)

// helmVersion is the Makefile's HELM_VERSION: without $HELM the test looks for bin/helm-<version>.
const helmVersion = "v3.22.0"

// The production overlay's values, as chart values.
var productionValues = []string{
	"image.repository=registry.example.com/platform/breakwater",
	"image.tag=v0.1.0",
}

const productionNamespace = "breakwater-prod"

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// helm runs the pinned helm binary and returns its stdout.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin := os.Getenv("HELM")
	if bin == "" {
		bin = filepath.Join(repoRoot(t), "bin", "helm-"+helmVersion)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no helm binary at %s: run `make test` (or `make helm-lint`) once, which builds it, or set $HELM", bin)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Dir = repoRoot(t)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

func mustHelm(t *testing.T, args ...string) string {
	t.Helper()
	out, err := helm(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// template renders the chart with its CRDs into namespace ns.
func template(t *testing.T, ns string, set ...string) []*unstructured.Unstructured {
	t.Helper()
	args := []string{"template", "breakwater", "charts/breakwater", "--namespace", ns, "--include-crds"}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	return decode(t, mustHelm(t, args...))
}

// kustomize builds a kustomization with the envtest kubectl (hack/envtest-assets.sh).
func kustomize(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join(repoRoot(t), "bin", "k8s", fmt.Sprintf("%s-%s-%s", testenv.K8sVersion, runtime.GOOS, runtime.GOARCH))
	}
	out, err := exec.Command(filepath.Join(assets, "kubectl"), "kustomize", filepath.Join(repoRoot(t), dir)).Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s (kubectl from KUBEBUILDER_ASSETS or bin/k8s; run `make envtest`): %v", dir, err)
	}
	return decode(t, string(out))
}

func decode(t *testing.T, manifests string) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	d := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifests), 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := d.Decode(&obj.Object); err != nil {
			if err.Error() == "EOF" {
				return objs
			}
			t.Fatalf("decoding manifests: %v", err)
		}
		if len(obj.Object) > 0 {
			objs = append(objs, obj)
		}
	}
}

func key(o *unstructured.Unstructured) string {
	return fmt.Sprintf("%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
}

func byKey(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	m := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		m[key(o)] = o
	}
	return m
}

func TestLintAndTemplate(t *testing.T) {
	mustHelm(t, "lint", "--strict", "charts/breakwater")
	mustHelm(t, "lint", "--strict", "charts/breakwater", "--set", "certificates.mode=cert-manager")
	if objs := template(t, "breakwater-system"); len(objs) == 0 {
		t.Fatal("helm template rendered nothing")
	}
}

// TestBadValuesAreRefused checks that a wrong value fails the render and names the value, rather
// than installing a manager that fails later.
func TestBadValuesAreRefused(t *testing.T) {
	for _, tc := range []struct {
		set, want string
	}{
		{"certificates.mode=vault", "certificates.mode"},
		{"image.pullPolicy=Sometimes", "image.pullPolicy"},
		{"replicas=0", "replicas"},
		{"evaluationInterval=often", "evaluationInterval"},
		{"prometheus.url=prometheus:9090", "prometheus.url"},
		{"extraArgs[0]=zap-log-level=debug", "extraArgs"},
		{"replica=3", "replica"},
	} {
		t.Run(tc.set, func(t *testing.T) {
			_, err := helm(t, "template", "breakwater", "charts/breakwater", "--set", tc.set)
			if err == nil {
				t.Fatalf("helm template --set %s succeeded", tc.set)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("the error does not name %s:\n%v", tc.want, err)
			}
		})
	}
}

// TestCRDsAreConfigCRDBases checks that charts/breakwater/crds holds exactly config/crd/bases, byte
// for byte (`make manifests` copies them).
func TestCRDsAreConfigCRDBases(t *testing.T) {
	root := repoRoot(t)
	want, _ := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	got, _ := filepath.Glob(filepath.Join(root, "charts", "breakwater", "crds", "*"))
	names := func(paths []string) []string {
		var n []string
		for _, p := range paths {
			n = append(n, filepath.Base(p))
		}
		return n
	}
	if diff := cmp.Diff(names(want), names(got)); diff != "" || len(want) == 0 {
		t.Fatalf("charts/breakwater/crds and config/crd/bases hold different files (run make manifests) (-bases +chart):\n%s", diff)
	}
	for _, w := range want {
		a, _ := os.ReadFile(w)
		b, _ := os.ReadFile(filepath.Join(root, "charts", "breakwater", "crds", filepath.Base(w)))
		if !bytes.Equal(a, b) {
			t.Errorf("charts/breakwater/crds/%s differs from config/crd/bases (run make manifests)", filepath.Base(w))
		}
	}
}

// TestRendersLikeProductionOverlay renders the chart with the production overlay's image into its
// namespace, and config/overlays/production with kustomize, and compares every object: the same
// kinds and names, the same content (RBAC rules, bindings, the webhook configuration, Services,
// PodDisruptionBudget, CRDs), labels a superset, and the manager's Deployment identical except for
// how the guard's image reaches the manager (the chart passes --guard-image and
// --guard-image-pull-policy, the overlay the BREAKWATER_GUARD_IMAGE variable they default from).
func TestRendersLikeProductionOverlay(t *testing.T) {
	compare(t, template(t, productionNamespace, productionValues...), kustomize(t, "config/overlays/production"), nil)
}

// TestRendersLikeProductionCertManagerOverlay does the same with certificates.mode=cert-manager and
// config/overlays/production-cert-manager. The overlay also ships the empty Secret of the
// self-managed mode; the chart leaves it to cert-manager, which creates it as a kubernetes.io/tls
// Secret (the type of a Secret cannot change later).
func TestRendersLikeProductionCertManagerOverlay(t *testing.T) {
	chart := template(t, productionNamespace, append(productionValues, "certificates.mode=cert-manager")...)
	compare(t, chart, kustomize(t, "config/overlays/production-cert-manager"),
		[]string{"Secret " + productionNamespace + "/breakwater-webhook-server-cert"})
}

func compare(t *testing.T, chartObjs, kustObjs []*unstructured.Unstructured, onlyInKustomize []string) {
	t.Helper()
	chart, kust := byKey(chartObjs), byKey(kustObjs)
	// The overlay ships its Namespace; with Helm the release's namespace exists first
	// (--create-namespace, or made by the user with its Pod Security label).
	delete(kust, "Namespace /"+productionNamespace)
	for _, k := range onlyInKustomize {
		if _, ok := kust[k]; !ok {
			t.Errorf("the overlay no longer renders %s: update the test", k)
		}
		delete(kust, k)
	}
	var chartKeys, kustKeys []string
	for k := range chart {
		chartKeys = append(chartKeys, k)
	}
	for k := range kust {
		kustKeys = append(kustKeys, k)
	}
	slices.Sort(chartKeys)
	slices.Sort(kustKeys)
	if diff := cmp.Diff(kustKeys, chartKeys); diff != "" {
		t.Errorf("the chart renders other objects than the overlay (-overlay +chart):\n%s", diff)
	}
	for k, want := range kust {
		got, ok := chart[k]
		if !ok {
			continue
		}
		got, want = got.DeepCopy(), want.DeepCopy()
		for lk, lv := range want.GetLabels() {
			// The chart's CRDs are config/crd/bases byte for byte (Helm does not template crds/),
			// without the part-of label config/default adds.
			if got.GetKind() == "CustomResourceDefinition" && lk == "app.kubernetes.io/part-of" {
				continue
			}
			if got.GetLabels()[lk] != lv {
				t.Errorf("%s: label %s=%q, want %q as the overlay", k, lk, got.GetLabels()[lk], lv)
			}
		}
		got.SetLabels(nil)
		want.SetLabels(nil)
		if got.GetKind() == "Deployment" {
			normalizeGuardImage(t, got, want)
		}
		if diff := cmp.Diff(want.Object, got.Object); diff != "" {
			t.Errorf("%s differs from the overlay's (-overlay +chart):\n%s", k, diff)
		}
	}
}

// normalizeGuardImage checks that the chart's --guard-image is the overlay's BREAKWATER_GUARD_IMAGE
// and the manager's own image, then removes both ways from the Deployments, and the chart's
// imagePullPolicy (IfNotPresent, the default the overlay leaves out).
func normalizeGuardImage(t *testing.T, chart, kust *unstructured.Unstructured) {
	t.Helper()
	chartC, kustC := managerContainer(t, chart), managerContainer(t, kust)
	var guardImage string
	var args []any
	for _, a := range chartC["args"].([]any) {
		s := a.(string)
		switch {
		case strings.HasPrefix(s, "--guard-image="):
			guardImage = strings.TrimPrefix(s, "--guard-image=")
		case s == "--guard-image-pull-policy=IfNotPresent":
		default:
			args = append(args, a)
		}
	}
	chartC["args"] = args
	if chartC["imagePullPolicy"] != "IfNotPresent" {
		t.Errorf("the chart's imagePullPolicy = %v, want IfNotPresent", chartC["imagePullPolicy"])
	}
	delete(chartC, "imagePullPolicy")
	if guardImage != chartC["image"] {
		t.Errorf("the chart's --guard-image = %q, want the manager's image %q", guardImage, chartC["image"])
	}
	var env []any
	for _, e := range kustC["env"].([]any) {
		if e.(map[string]any)["name"] == "BREAKWATER_GUARD_IMAGE" {
			if v := e.(map[string]any)["value"]; v != guardImage {
				t.Errorf("the overlay's BREAKWATER_GUARD_IMAGE = %v, the chart's --guard-image %q", v, guardImage)
			}
			continue
		}
		env = append(env, e)
	}
	kustC["env"] = env
}

func managerContainer(t *testing.T, d *unstructured.Unstructured) map[string]any {
	t.Helper()
	// Walked by hand: unstructured.NestedSlice returns a copy, and the caller edits the container.
	m := d.Object
	for _, f := range []string{"spec", "template", "spec"} {
		m, _ = m[f].(map[string]any)
	}
	cs, _ := m["containers"].([]any)
	if len(cs) != 1 {
		t.Fatalf("%s has %d containers, want the manager alone", key(d), len(cs))
	}
	return cs[0].(map[string]any)
}

// TestValues checks the values the production comparison leaves at their defaults.
func TestValues(t *testing.T) {
	objs := byKey(template(t, "ops",
		"image.digest=sha256:"+strings.Repeat("ab", 32), "image.pullPolicy=Always",
		"nodeSelector.pool=system", "tolerations[0].key=dedicated", "tolerations[0].operator=Exists",
		"affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=arch",
		"affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists",
		"resources.limits.memory=1Gi", "extraArgs[0]=--zap-log-level=debug", "prometheus.url=",
		"prometheus.sigv4Region=eu-west-1", "podDisruptionBudget.enabled=false", "webhook.failurePolicy=Ignore",
		"priorityClassName=system-cluster-critical", "topologySpreadConstraints=null",
	))
	d := objs["Deployment ops/"+deploymentName]
	if d == nil {
		t.Fatal("no Deployment")
	}
	c := managerContainer(t, d)
	image := "ghcr.io/breakwater-dev/breakwater@sha256:" + strings.Repeat("ab", 32)
	if c["image"] != image || c["imagePullPolicy"] != "Always" {
		t.Errorf("image %v, pull policy %v; want %s, Always", c["image"], c["imagePullPolicy"], image)
	}
	var args []string
	for _, a := range c["args"].([]any) {
		args = append(args, a.(string))
	}
	want := []string{"--leader-elect", "--metrics-bind-address=:8443", "--health-probe-bind-address=:8081",
		"--prometheus-sigv4-region=eu-west-1", "--evaluation-interval=30s",
		"--guard-image=" + image, "--guard-image-pull-policy=Always", "--zap-log-level=debug"}
	if diff := cmp.Diff(want, args); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
	for path, want := range map[string]any{
		"spec.template.spec.nodeSelector.pool":                    "system",
		"spec.template.spec.tolerations":                          []any{map[string]any{"key": "dedicated", "operator": "Exists"}},
		"spec.template.spec.priorityClassName":                    "system-cluster-critical",
		"spec.template.spec.affinity.nodeAffinity":                nil, // present; content checked below
		"spec.template.spec.containers.0.resources.limits.memory": "1Gi",
	} {
		got, ok := field(d.Object, path)
		if !ok {
			t.Errorf("%s is not set", path)
		} else if want != nil && !cmp.Equal(want, got) {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	if _, ok := field(d.Object, "spec.template.spec.topologySpreadConstraints"); ok {
		t.Error("topologySpreadConstraints=null still renders constraints")
	}
	if _, ok := objs["PodDisruptionBudget ops/"+deploymentName]; ok {
		t.Error("podDisruptionBudget.enabled=false still renders the PodDisruptionBudget")
	}
	if fp, _ := field(objs["MutatingWebhookConfiguration /breakwater-mutating-webhook-configuration"].Object, "webhooks.0.failurePolicy"); fp != "Ignore" {
		t.Errorf("the webhook's failurePolicy = %v, want Ignore", fp)
	}
}

// field reads a dotted path of maps and list indexes.
func field(obj map[string]any, path string) (any, bool) {
	var cur any = obj
	for _, p := range strings.Split(path, ".") {
		switch v := cur.(type) {
		case map[string]any:
			var ok bool
			if cur, ok = v[p]; !ok {
				return nil, false
			}
		case []any:
			var i int
			if _, err := fmt.Sscan(p, &i); err != nil || i >= len(v) {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, true
}
