// Package webhook holds the mutating admission webhook that injects the guard into the pods of
// GenAIWorkloads, using the container that internal/sidecar builds.
package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/sidecar"
)

// Path is where the webhook server serves the pod injector.
const Path = "/mutate-v1-pod"

// The failure policy is Fail, and the webhook only sees namespaces labelled
// breakwater.dev/injection=enabled (config/webhook/selector_patch.yaml): in those namespaces no pod of
// a GenAIWorkload starts without its guard, and an outage of the manager cannot block pod creation in
// the rest of the cluster. docs/webhook.md explains how to choose Ignore instead.
// +kubebuilder:webhook:path=/mutate-v1-pod,mutating=true,failurePolicy=fail,sideEffects=None,groups="",resources=pods,verbs=create,versions=v1,name=guard-injector.breakwater.dev,admissionReviewVersions=v1,reinvocationPolicy=Never,timeoutSeconds=10

// The injector reads the workloads, the endpoints they name and the Deployments and StatefulSets
// they point at, to decide which pods get a guard.
// +kubebuilder:rbac:groups=breakwater.dev,resources=genaiworkloads;modelendpoints,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=get;list;watch

// PodInjector injects the guard into pods that belong to a GenAIWorkload.
type PodInjector struct {
	// Client reads from the manager's cache.
	Client  client.Reader
	Decoder admission.Decoder
	Options sidecar.Options
}

// Handle answers one pod admission: unchanged for pods of no GenAIWorkload and for pods that already
// carry a guard, patched with the guard otherwise.
func (p *PodInjector) Handle(ctx context.Context, req admission.Request) admission.Response {
	pod := &corev1.Pod{}
	if err := p.Decoder.Decode(req, pod); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	// The pod's namespace is empty at admission when the creator left it to the request path.
	namespace := req.Namespace
	if _, done := pod.Annotations[sidecar.InjectedAnnotation]; done {
		return admission.Allowed("guard already injected")
	}
	wl, err := p.workloadOf(ctx, namespace, pod)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	if wl == nil {
		return admission.Allowed("not part of a GenAIWorkload")
	}
	in, err := p.input(ctx, wl)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	if !sidecar.Inject(pod, in, p.Options) {
		return admission.Allowed("guard already present")
	}
	raw, err := json.Marshal(pod)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	logf.FromContext(ctx).Info("Injecting the guard", "workload", klog.KObj(wl), "pod", pod.GenerateName+pod.Name)
	return admission.PatchResponseFromRaw(req.Object.Raw, raw)
}

// workloadOf finds the GenAIWorkload whose pods include pod; the first by name when several match.
func (p *PodInjector) workloadOf(ctx context.Context, namespace string, pod *corev1.Pod) (*breakwaterv1alpha1.GenAIWorkload, error) {
	var list breakwaterv1alpha1.GenAIWorkloadList
	if err := p.Client.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing GenAIWorkloads in %s: %w", namespace, err)
	}
	slices.SortFunc(list.Items, func(a, b breakwaterv1alpha1.GenAIWorkload) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	podLabels := labels.Set(pod.Labels)
	for i := range list.Items {
		wl := &list.Items[i]
		if !wl.DeletionTimestamp.IsZero() {
			continue
		}
		match, err := p.selects(ctx, wl, podLabels)
		if err != nil {
			return nil, err
		}
		if match {
			return wl, nil
		}
	}
	return nil, nil
}

// selects reports whether wl's pods include a pod with these labels: those of its workloadRef's
// selector, narrowed by spec.selector when both are set.
func (p *PodInjector) selects(ctx context.Context, wl *breakwaterv1alpha1.GenAIWorkload, podLabels labels.Set) (bool, error) {
	var selectors []*metav1.LabelSelector
	if ref := wl.Spec.WorkloadRef; ref != nil {
		sel, err := p.workloadSelector(ctx, wl.Namespace, ref)
		if err != nil || sel == nil {
			return false, err
		}
		selectors = append(selectors, sel)
	}
	if wl.Spec.Selector != nil {
		selectors = append(selectors, wl.Spec.Selector)
	}
	for _, s := range selectors {
		sel, err := metav1.LabelSelectorAsSelector(s)
		if err != nil {
			// A bad selector selects nothing; the workload's reconciler reports it.
			return false, nil
		}
		if sel.Empty() || !sel.Matches(podLabels) {
			return false, nil
		}
	}
	return len(selectors) > 0, nil
}

// workloadSelector is the pod selector of the referenced Deployment or StatefulSet; nil when it does
// not exist (yet).
func (p *PodInjector) workloadSelector(ctx context.Context, namespace string, ref *breakwaterv1alpha1.WorkloadReference) (*metav1.LabelSelector, error) {
	key := types.NamespacedName{Namespace: namespace, Name: ref.Name}
	var sel *metav1.LabelSelector
	var err error
	switch ref.Kind {
	case "StatefulSet":
		var sts appsv1.StatefulSet
		err = p.Client.Get(ctx, key, &sts)
		sel = sts.Spec.Selector
	default:
		var dep appsv1.Deployment
		err = p.Client.Get(ctx, key, &dep)
		sel = dep.Spec.Selector
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", ref.Kind, key, err)
	}
	return sel, nil
}

// input gathers what the guard container needs: the config's ConfigMap and hash from the workload's
// status, and the providers and API-key Secrets of the endpoints it names. An endpoint that does not
// exist yet is left out; the workload's Ready condition says so, and the guard picks the endpoint up
// from its watched config once it exists.
func (p *PodInjector) input(ctx context.Context, wl *breakwaterv1alpha1.GenAIWorkload) (sidecar.Input, error) {
	in := sidecar.Input{
		Workload:      wl,
		ConfigMapName: wl.Status.ConfigMapName,
		ConfigHash:    wl.Status.ConfigHash,
		Providers:     map[string]breakwaterv1alpha1.Provider{},
	}
	if in.ConfigMapName == "" {
		in.ConfigMapName = sidecar.ConfigMapName(wl.Name)
	}
	for _, ref := range wl.Spec.ModelEndpoints {
		var ep breakwaterv1alpha1.ModelEndpoint
		err := p.Client.Get(ctx, types.NamespacedName{Namespace: wl.Namespace, Name: ref.Name}, &ep)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return in, fmt.Errorf("reading ModelEndpoint %s/%s: %w", wl.Namespace, ref.Name, err)
		}
		in.Providers[ep.Name] = ep.Spec.Provider
		for _, t := range ep.Spec.Targets {
			if t.APIKeySecretRef != nil {
				in.Secrets = append(in.Secrets, *t.APIKeySecretRef)
			}
		}
	}
	return in, nil
}

// Setup registers the pod injector with the manager's webhook server.
func Setup(mgr ctrl.Manager, o sidecar.Options) {
	mgr.GetWebhookServer().Register(Path, &ctrlwebhook.Admission{Handler: &PodInjector{
		Client:  mgr.GetClient(),
		Decoder: admission.NewDecoder(mgr.GetScheme()),
		Options: o,
	}})
}
