package crd

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ from what the API server returns")

// TestSamplesApplyAndDefault creates every sample and compares the spec the API server returns (with
// its defaults filled in) to testdata/defaulted/<sample>.yaml. Run with -update to rewrite the golden
// files after a deliberate change, and review the diff.
func TestSamplesApplyAndDefault(t *testing.T) {
	ctx := context.Background()
	names, objs := samples(t)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			obj := objs[name].DeepCopy()
			obj.SetNamespace("samples")
			ensureNamespace(t, "samples")
			if err := env.Client.Create(ctx, obj); err != nil {
				t.Fatalf("the API server refused the sample: %v", err)
			}
			t.Cleanup(func() { _ = env.Client.Delete(context.Background(), obj) })

			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(obj.GroupVersionKind())
			if err := env.Client.Get(ctx, keyOf(obj), got); err != nil {
				t.Fatal(err)
			}
			gotSpec, err := yaml.Marshal(got.Object["spec"])
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "defaulted", name+".yaml")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, gotSpec, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./test/crd -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(gotSpec)); diff != "" {
				t.Errorf("defaulted spec differs from %s (-want +got):\n%s", golden, diff)
			}
		})
	}
}
