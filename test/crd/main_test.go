// Package crd tests Breakwater's CRDs against a real kube-apiserver: the samples apply and default
// as documented, invalid objects are refused with the exact message a user sees, and `kubectl get`
// prints the columns people read.
package crd

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/breakwater-dev/breakwater/test/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	var err error
	env, err = testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
	}
	os.Exit(code)
}

// samples reads every object in config/samples, keyed by file name (without .yaml), in file order.
func samples(t *testing.T) (names []string, objs map[string]*unstructured.Unstructured) {
	t.Helper()
	dir := filepath.Join(env.RepoRoot, "config", "samples")
	files, err := filepath.Glob(filepath.Join(dir, "breakwater_*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples in %s: %v", dir, err)
	}
	sort.Strings(files)
	objs = map[string]*unstructured.Unstructured{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		obj := &unstructured.Unstructured{}
		if err := utilyaml.Unmarshal(data, &obj.Object); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		names = append(names, name)
		objs[name] = obj
	}
	return names, objs
}
