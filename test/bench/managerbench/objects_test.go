package managerbench

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/test/testenv"
)

// TestObjectsReferenceEachOther checks that every reference of a workload, quota and policy names
// an object the bench creates in the same namespace, so that Ready is reachable.
func TestObjectsReferenceEachOther(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	s, err := loadSamples(root)
	if err != nil {
		t.Fatal(err)
	}
	f := newFleet(50)
	exists := map[string]bool{}
	key := func(kind string, o client.Object) string { return kind + " " + o.GetNamespace() + "/" + o.GetName() }
	var quotas []*breakwaterv1alpha1.TokenQuota
	var policies []*breakwaterv1alpha1.FailoverPolicy
	for _, o := range f.supporting(s) {
		switch v := o.(type) {
		case *breakwaterv1alpha1.ModelEndpoint:
			exists[key("ModelEndpoint", v)] = true
		case *breakwaterv1alpha1.RetrievalBackend:
			exists[key("RetrievalBackend", v)] = true
		case *appsv1.Deployment:
			exists[key("Deployment", v)] = true
		case *breakwaterv1alpha1.TokenQuota:
			quotas = append(quotas, v)
		case *breakwaterv1alpha1.FailoverPolicy:
			policies = append(policies, v)
		}
	}
	ref := func(kind, ns, name string) {
		t.Helper()
		if !exists[kind+" "+ns+"/"+name] {
			t.Errorf("%s %s/%s is referenced but not created", kind, ns, name)
		}
	}
	workloads := f.genAIWorkloads(s)
	if len(workloads) != 50 {
		t.Fatalf("%d workloads, want 50", len(workloads))
	}
	for _, o := range workloads {
		w := o.(*breakwaterv1alpha1.GenAIWorkload)
		ref("Deployment", w.Namespace, w.Spec.WorkloadRef.Name)
		for _, e := range w.Spec.ModelEndpoints {
			ref("ModelEndpoint", w.Namespace, e.Name)
		}
		for _, r := range w.Spec.RetrievalBackends {
			ref("RetrievalBackend", w.Namespace, r.Name)
		}
	}
	if len(quotas) != f.namespaces || len(policies) != f.namespaces {
		t.Errorf("%d quotas and %d policies, want one each per namespace (%d)", len(quotas), len(policies), f.namespaces)
	}
	for _, q := range quotas {
		for _, e := range q.Spec.Endpoints {
			ref("ModelEndpoint", q.Namespace, e.Name)
		}
	}
	for _, p := range policies {
		ref("ModelEndpoint", p.Namespace, p.Spec.EndpointRef.Name)
	}
}
