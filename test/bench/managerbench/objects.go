package managerbench

import (
	"fmt"
	"os"
	"path/filepath"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
)

// workloadsPerEndpoint is how many GenAIWorkloads share one ModelEndpoint.
const workloadsPerEndpoint = 10

// fleet is the shape of what the bench creates.
type fleet struct {
	workloads  int
	namespaces int
}

func newFleet(workloads int) fleet {
	ns := max(workloads/100, 2)
	return fleet{workloads: workloads, namespaces: ns}
}

func (f fleet) namespace(i int) string { return fmt.Sprintf("bench-%02d", i) }

// perNamespace is how many workloads namespace i holds (the remainder goes to the first ones).
func (f fleet) perNamespace(i int) int {
	n := f.workloads / f.namespaces
	if i < f.workloads%f.namespaces {
		n++
	}
	return n
}

func (f fleet) endpointsIn(i int) int {
	return (f.perNamespace(i) + workloadsPerEndpoint - 1) / workloadsPerEndpoint
}

func endpointName(j int) string { return fmt.Sprintf("model-%02d", j) }
func workloadName(j int) string { return fmt.Sprintf("app-%04d", j) }

// samples are config/samples, the objects the bench copies, so that its specs stay valid as the API
// changes.
type samples struct {
	endpoint *breakwaterv1alpha1.ModelEndpoint
	backend  *breakwaterv1alpha1.RetrievalBackend
	quota    *breakwaterv1alpha1.TokenQuota
	policy   *breakwaterv1alpha1.FailoverPolicy
	workload *breakwaterv1alpha1.GenAIWorkload
}

func loadSamples(root string) (samples, error) {
	var s samples
	s.endpoint, s.backend, s.quota = &breakwaterv1alpha1.ModelEndpoint{}, &breakwaterv1alpha1.RetrievalBackend{}, &breakwaterv1alpha1.TokenQuota{}
	s.policy, s.workload = &breakwaterv1alpha1.FailoverPolicy{}, &breakwaterv1alpha1.GenAIWorkload{}
	for file, obj := range map[string]any{
		"breakwater_v1alpha1_modelendpoint.yaml":    s.endpoint,
		"breakwater_v1alpha1_retrievalbackend.yaml": s.backend,
		"breakwater_v1alpha1_tokenquota.yaml":       s.quota,
		"breakwater_v1alpha1_failoverpolicy.yaml":   s.policy,
		"breakwater_v1alpha1_genaiworkload.yaml":    s.workload,
	} {
		b, err := os.ReadFile(filepath.Join(root, "config", "samples", file))
		if err != nil {
			return s, err
		}
		if err := yaml.UnmarshalStrict(b, obj); err != nil {
			return s, fmt.Errorf("config/samples/%s: %w", file, err)
		}
	}
	return s, nil
}

// placed gives a sample's copy its name and namespace, and drops what the API server sets.
func placed(meta *metav1.ObjectMeta, namespace, name string) {
	*meta = metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{"breakwater.dev/bench": "manager"}}
}

// supporting returns, per namespace, the objects the workloads reference and the control loops
// act on: the namespace, ModelEndpoints (one per workloadsPerEndpoint workloads, the Bedrock
// sample with two regions), a RetrievalBackend, a TokenQuota over every endpoint of the namespace
// and a FailoverPolicy on its first endpoint, and one Deployment per workload (its workloadRef;
// nothing runs its pods).
func (f fleet) supporting(s samples) []client.Object {
	var objs []client.Object
	for i := range f.namespaces {
		ns := f.namespace(i)
		objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		var refs []breakwaterv1alpha1.LocalObjectReference
		for j := range f.endpointsIn(i) {
			me := s.endpoint.DeepCopy()
			placed(&me.ObjectMeta, ns, endpointName(j))
			objs = append(objs, me)
			refs = append(refs, breakwaterv1alpha1.LocalObjectReference{Name: me.Name})
		}
		rb := s.backend.DeepCopy()
		placed(&rb.ObjectMeta, ns, "docs")
		q := s.quota.DeepCopy()
		placed(&q.ObjectMeta, ns, "budget")
		q.Spec.Endpoints = refs
		p := s.policy.DeepCopy()
		placed(&p.ObjectMeta, ns, "regions")
		p.Spec.EndpointRef = refs[0]
		objs = append(objs, rb, q, p)
		for j := range f.perNamespace(i) {
			objs = append(objs, deployment(ns, workloadName(j)))
		}
	}
	return objs
}

// genAIWorkloads returns the GenAIWorkloads: the sample, pointed at its own Deployment, one endpoint
// of its namespace and the backend, with criticalities in turn.
func (f fleet) genAIWorkloads(s samples) []client.Object {
	crit := []breakwaterv1alpha1.Criticality{"sheddable", "standard", "critical"}
	var objs []client.Object
	for i := range f.namespaces {
		ns := f.namespace(i)
		for j := range f.perNamespace(i) {
			w := s.workload.DeepCopy()
			placed(&w.ObjectMeta, ns, workloadName(j))
			w.Spec.WorkloadRef.Name = w.Name
			w.Spec.ModelEndpoints = []breakwaterv1alpha1.LocalObjectReference{{Name: endpointName(j / workloadsPerEndpoint)}}
			w.Spec.RetrievalBackends = []breakwaterv1alpha1.LocalObjectReference{{Name: "docs"}}
			w.Spec.Criticality = crit[j%len(crit)]
			objs = append(objs, w)
		}
	}
	return objs
}

// deployment is a minimal Deployment for a workloadRef. No controller runs it here.
func deployment(namespace, name string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1"}}},
			},
		},
	}
	placed(&d.ObjectMeta, namespace, name)
	return d
}
