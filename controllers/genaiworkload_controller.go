package controllers

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/guardconfig"
	"github.com/breakwater-dev/breakwater/internal/render"
	"github.com/breakwater-dev/breakwater/internal/sidecar"
)

const (
	// LabelManagedBy marks the objects the manager creates, so they can be found and told apart.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is LabelManagedBy's value.
	ManagedByValue = "breakwater"
	// LabelWorkload names the GenAIWorkload an object belongs to.
	LabelWorkload = "breakwater.dev/workload"
	// AnnotationConfigHash carries the rendered config's hash on its ConfigMap.
	AnnotationConfigHash = "breakwater.dev/config-hash"
	// defaultServiceAccount is the ServiceAccount of pods that name none.
	defaultServiceAccount = "default"
)

// GenAIWorkloadReconciler renders each GenAIWorkload's guard config into a ConfigMap, lets the
// workload's ServiceAccount read that one ConfigMap, and reports the references that do not resolve.
type GenAIWorkloadReconciler struct {
	client.Client
	status statusWriter
	// admission is the store the guards share quota budgets in; nil: none.
	admission *admissionStore
}

// workloadRefs is what gathering found missing, and whose pods will read the config.
type workloadRefs struct {
	missingEndpoints []string
	missingBackends  []string
	// missingWorkload is the "<kind> <name>" of a workloadRef that does not exist, or "".
	missingWorkload string
	// serviceAccounts may read the guard config: the pod template's and those of the injected
	// pods; empty while the workloadRef does not resolve and no pod runs yet.
	serviceAccounts []string
	// injectedPods counts the workload's pods that run the guard.
	injectedPods int32
}

// Reconcile gathers the workload's references, renders its guard config, applies the ConfigMap
// and its RBAC, and reports the result in status.
func (r *GenAIWorkloadReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	w := &breakwaterv1alpha1.GenAIWorkload{}
	if err := r.Get(ctx, req.NamespacedName, w); err != nil {
		if apierrors.IsNotFound(err) && r.admission != nil {
			r.admission.forget(req.Namespace, req.Name)
		}
		return ctrl.Result{}, ignoreNotFound(err, "GenAIWorkload", req)
	}
	if !w.DeletionTimestamp.IsZero() {
		// The ConfigMap, Role and RoleBinding are owned by the workload; the garbage collector
		// removes them with it.
		return ctrl.Result{}, nil
	}
	before := w.DeepCopy()
	in, refs, err := r.gather(ctx, w)
	if err != nil {
		return ctrl.Result{}, err
	}
	if r.admission != nil {
		// The guards reach the store with the Secret copied next to them, before the config
		// naming its files arrives.
		data, err := r.admission.secret(ctx, r.Client)
		if err != nil {
			return ctrl.Result{}, err
		}
		if err := r.admission.mirror(ctx, r.Client, w, data); err != nil {
			return ctrl.Result{}, err
		}
		in.AdmissionStore = r.admission.guardStore(w.Name, data)
	}
	res, renderErr := render.Render(in)
	if renderErr == nil {
		// The guard keeps its last good config, so a refused render leaves the ConfigMap alone.
		if err := r.apply(ctx, w, res, refs.serviceAccounts); err != nil {
			return ctrl.Result{}, err
		}
		w.Status.ConfigMapName = render.ConfigMapName(w.Name)
		w.Status.ConfigHash = res.Hash
	}
	setConditions(&w.Status.Conditions, w.Generation, workloadConditions(w, refs, renderErr)...)
	w.Status.ObservedGeneration = w.Generation
	w.Status.InjectedPods = refs.injectedPods
	if w.Status.State == "" {
		// Only shedding moves a workload out of Active; the quota control loop owns that.
		w.Status.State = breakwaterv1alpha1.WorkloadActive
	}
	if err := r.status.write(ctx, before, w, before.Status.Conditions, w.Status.Conditions); err != nil {
		return ctrl.Result{}, err
	}
	if renderErr != nil {
		// A spec problem: retrying cannot fix it, a change to the workload or a referenced object
		// (which the watches see) will.
		return ctrl.Result{}, reconcile.TerminalError(renderErr)
	}
	// The controller's logger already names the workload.
	log.FromContext(ctx).V(1).Info("Guard config applied", "configHash", res.Hash)
	return ctrl.Result{}, nil
}

// gather reads everything the workload references from the cache.
func (r *GenAIWorkloadReconciler) gather(ctx context.Context, w *breakwaterv1alpha1.GenAIWorkload) (render.Inputs, workloadRefs, error) {
	in := render.Inputs{
		Workload:  w,
		Endpoints: map[string]*breakwaterv1alpha1.ModelEndpoint{},
		Backends:  map[string]*breakwaterv1alpha1.RetrievalBackend{},
	}
	var refs workloadRefs
	for _, ref := range w.Spec.ModelEndpoints {
		me := &breakwaterv1alpha1.ModelEndpoint{}
		found, err := getOptional(ctx, r.Client, w.Namespace, ref.Name, me)
		if err != nil {
			return in, refs, err
		}
		if !found {
			refs.missingEndpoints = append(refs.missingEndpoints, ref.Name)
			continue
		}
		in.Endpoints[ref.Name] = me
	}
	for _, ref := range w.Spec.RetrievalBackends {
		rb := &breakwaterv1alpha1.RetrievalBackend{}
		found, err := getOptional(ctx, r.Client, w.Namespace, ref.Name, rb)
		if err != nil {
			return in, refs, err
		}
		if !found {
			refs.missingBackends = append(refs.missingBackends, ref.Name)
			continue
		}
		in.Backends[ref.Name] = rb
	}
	seenQuota, seenPolicy := map[string]bool{}, map[string]bool{}
	for name := range in.Endpoints {
		quotas := &breakwaterv1alpha1.TokenQuotaList{}
		if err := r.List(ctx, quotas, client.InNamespace(w.Namespace), client.MatchingFields{indexQuotaEndpoints: name}); err != nil {
			return in, refs, fmt.Errorf("listing the TokenQuotas of ModelEndpoint %s/%s: %w", w.Namespace, name, err)
		}
		for _, q := range quotas.Items {
			if !seenQuota[q.Name] {
				seenQuota[q.Name] = true
				in.Quotas = append(in.Quotas, q)
			}
		}
		policies := &breakwaterv1alpha1.FailoverPolicyList{}
		if err := r.List(ctx, policies, client.InNamespace(w.Namespace), client.MatchingFields{indexPolicyEndpoint: name}); err != nil {
			return in, refs, fmt.Errorf("listing the FailoverPolicies of ModelEndpoint %s/%s: %w", w.Namespace, name, err)
		}
		for _, p := range policies.Items {
			if !seenPolicy[p.Name] {
				seenPolicy[p.Name] = true
				in.Policies = append(in.Policies, p)
			}
		}
	}
	sa, err := r.serviceAccount(ctx, w)
	if err != nil {
		return in, refs, err
	}
	if sa == "" {
		refs.missingWorkload = strings.Replace(workloadRefKey(w.Spec.WorkloadRef.Kind, w.Spec.WorkloadRef.Name), "/", " ", 1)
	}
	// The injected pods (labelled by the webhook) tell how many run the guard, and under which
	// ServiceAccounts: a selector-only workload's pods may run under any.
	pods := &corev1.PodList{}
	if err := r.List(ctx, pods, client.InNamespace(w.Namespace), client.MatchingLabels{sidecar.WorkloadLabel: w.Name}); err != nil {
		return in, refs, fmt.Errorf("listing the injected pods of GenAIWorkload %s/%s: %w", w.Namespace, w.Name, err)
	}
	accounts := map[string]bool{}
	if sa != "" {
		accounts[sa] = true
	}
	for _, p := range pods.Items {
		if !p.DeletionTimestamp.IsZero() || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		refs.injectedPods++
		accounts[cmp.Or(p.Spec.ServiceAccountName, defaultServiceAccount)] = true
	}
	refs.serviceAccounts = slices.Sorted(maps.Keys(accounts))
	return in, refs, nil
}

// serviceAccount returns the ServiceAccount of the workload's pods: the pod template's, "default"
// when it names none or when the workload has no workloadRef, and "" when the workloadRef does not
// exist (yet).
func (r *GenAIWorkloadReconciler) serviceAccount(ctx context.Context, w *breakwaterv1alpha1.GenAIWorkload) (string, error) {
	ref := w.Spec.WorkloadRef
	if ref == nil {
		return defaultServiceAccount, nil
	}
	var sa string
	var found bool
	var err error
	if ref.Kind == "StatefulSet" {
		sts := &appsv1.StatefulSet{}
		found, err = getOptional(ctx, r.Client, w.Namespace, ref.Name, sts)
		sa = sts.Spec.Template.Spec.ServiceAccountName
	} else {
		d := &appsv1.Deployment{}
		found, err = getOptional(ctx, r.Client, w.Namespace, ref.Name, d)
		sa = d.Spec.Template.Spec.ServiceAccountName
	}
	if err != nil || !found {
		return "", err
	}
	if sa == "" {
		sa = defaultServiceAccount
	}
	return sa, nil
}

// apply writes the ConfigMap, and the Role and RoleBinding once the ServiceAccount is known, with
// server-side apply: the manager owns exactly the fields it sets. Objects the cache shows as
// already right are not written, so a burst of events costs reads, not writes.
func (r *GenAIWorkloadReconciler) apply(ctx context.Context, w *breakwaterv1alpha1.GenAIWorkload, res *render.Result, serviceAccounts []string) error {
	name := render.ConfigMapName(w.Name)
	labels := map[string]string{LabelManagedBy: ManagedByValue, LabelWorkload: w.Name}
	owner := metav1ac.OwnerReference().
		WithAPIVersion(breakwaterv1alpha1.GroupVersion.String()).WithKind("GenAIWorkload").
		WithName(w.Name).WithUID(w.UID).WithController(true).WithBlockOwnerDeletion(true)
	data := map[string]string{guardconfig.ConfigMapKey: string(res.Data)}
	cm := &corev1.ConfigMap{}
	if !r.current(ctx, w, name, labels, cm, func() bool {
		return maps.Equal(cm.Data, data) && cm.Annotations[AnnotationConfigHash] == res.Hash
	}) {
		ac := corev1ac.ConfigMap(name, w.Namespace).WithLabels(labels).WithOwnerReferences(owner).
			WithAnnotations(map[string]string{AnnotationConfigHash: res.Hash}).WithData(data)
		if err := r.Apply(ctx, ac, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
			return fmt.Errorf("applying ConfigMap %s/%s: %w", w.Namespace, name, err)
		}
	}
	if len(serviceAccounts) == 0 {
		return nil
	}
	rule := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"},
		ResourceNames: []string{name}, Verbs: []string{"get", "watch"}}
	role := &rbacv1.Role{}
	if !r.current(ctx, w, name, labels, role, func() bool {
		return len(role.Rules) == 1 && equality.Semantic.DeepEqual(role.Rules[0], rule)
	}) {
		ac := rbacv1ac.Role(name, w.Namespace).WithLabels(labels).WithOwnerReferences(owner).
			WithRules(rbacv1ac.PolicyRule().WithAPIGroups(rule.APIGroups...).WithResources(rule.Resources...).
				WithResourceNames(rule.ResourceNames...).WithVerbs(rule.Verbs...))
		if err := r.Apply(ctx, ac, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
			return fmt.Errorf("applying Role %s/%s: %w", w.Namespace, name, err)
		}
	}
	var subjects []rbacv1.Subject
	for _, sa := range serviceAccounts {
		subjects = append(subjects, rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: w.Namespace})
	}
	binding := &rbacv1.RoleBinding{}
	if !r.current(ctx, w, name, labels, binding, func() bool {
		return binding.RoleRef.Name == name && slices.Equal(binding.Subjects, subjects)
	}) {
		ac := rbacv1ac.RoleBinding(name, w.Namespace).WithLabels(labels).WithOwnerReferences(owner).
			WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup(rbacv1.GroupName).WithKind("Role").WithName(name))
		for _, s := range subjects {
			ac = ac.WithSubjects(rbacv1ac.Subject().WithKind(s.Kind).WithName(s.Name).WithNamespace(s.Namespace))
		}
		if err := r.Apply(ctx, ac, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
			return fmt.Errorf("applying RoleBinding %s/%s: %w", w.Namespace, name, err)
		}
	}
	return nil
}

// current reports whether the cached object name already has the workload as controller, the
// labels, and content that same approves. Any doubt (not cached yet, read error) means "write".
func (r *GenAIWorkloadReconciler) current(ctx context.Context, w *breakwaterv1alpha1.GenAIWorkload, name string,
	labels map[string]string, obj client.Object, same func() bool) bool {
	if err := r.Get(ctx, client.ObjectKey{Namespace: w.Namespace, Name: name}, obj); err != nil {
		return false
	}
	for k, v := range labels {
		if obj.GetLabels()[k] != v {
			return false
		}
	}
	ref := metav1.GetControllerOf(obj)
	return ref != nil && ref.UID == w.UID && ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion && same()
}

// workloadConditions decides Ready and ConfigRendered from what gathering and rendering found.
// Every problem is named in Ready's message; its reason is the first one's.
func workloadConditions(w *breakwaterv1alpha1.GenAIWorkload, refs workloadRefs, renderErr error) []metav1.Condition {
	name := render.ConfigMapName(w.Name)
	rendered := metav1.Condition{Type: breakwaterv1alpha1.ConditionConfigRendered, Status: metav1.ConditionTrue,
		Reason: breakwaterv1alpha1.ReasonReconciled, Message: fmt.Sprintf("Guard config rendered into ConfigMap %s", name)}
	var reasons, problems []string
	if len(refs.missingEndpoints) > 0 {
		reasons = append(reasons, breakwaterv1alpha1.ReasonEndpointNotFound)
		problems = append(problems, fmt.Sprintf("ModelEndpoint %s not found in namespace %s: create it or remove it from spec.modelEndpoints",
			namesList(refs.missingEndpoints), w.Namespace))
	}
	if len(refs.missingBackends) > 0 {
		reasons = append(reasons, breakwaterv1alpha1.ReasonBackendNotFound)
		problems = append(problems, fmt.Sprintf("RetrievalBackend %s not found in namespace %s: create it or remove it from spec.retrievalBackends",
			namesList(refs.missingBackends), w.Namespace))
	}
	if refs.missingWorkload != "" {
		reasons = append(reasons, breakwaterv1alpha1.ReasonWorkloadNotFound)
		problems = append(problems, fmt.Sprintf("%s not found in namespace %s: the guard's RBAC waits for it to name the pods' ServiceAccount",
			refs.missingWorkload, w.Namespace))
	}
	if renderErr != nil {
		rendered = metav1.Condition{Type: breakwaterv1alpha1.ConditionConfigRendered, Status: metav1.ConditionFalse,
			Reason: breakwaterv1alpha1.ReasonConfigInvalid, Message: renderErr.Error()}
		reasons = append(reasons, breakwaterv1alpha1.ReasonConfigInvalid)
		problems = append(problems, renderErr.Error())
	}
	if len(problems) > 0 {
		return []metav1.Condition{readyFalse(reasons[0], strings.Join(problems, "; ")), rendered}
	}
	return []metav1.Condition{
		readyTrue(fmt.Sprintf("Every reference resolved; ServiceAccount %s may read ConfigMap %s", strings.Join(refs.serviceAccounts, ", "), name)),
		rendered,
	}
}

// injectedPodWorkload maps an injected pod to its GenAIWorkload through the webhook's label.
func injectedPodWorkload(_ context.Context, o client.Object) []reconcile.Request {
	name := o.GetLabels()[sidecar.WorkloadLabel]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
}

// podCountChanged lets through the pod events that change injectedPods or the ServiceAccounts:
// creation, deletion, and the start of termination or the end of a pod; not every status update.
var podCountChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		oldPod, okOld := e.ObjectOld.(*corev1.Pod)
		newPod, okNew := e.ObjectNew.(*corev1.Pod)
		if !okOld || !okNew {
			return true
		}
		return oldPod.DeletionTimestamp.IsZero() != newPod.DeletionTimestamp.IsZero() || oldPod.Status.Phase != newPod.Status.Phase
	},
}

// SetupWithManager watches the workload, what it owns, and every kind it references through the
// reference indexes, so that it converges whatever order objects are applied in. Endpoints and
// backends matter by their spec; quotas and policies also by their status (state, weights).
func (r *GenAIWorkloadReconciler) SetupWithManager(mgr ctrl.Manager) error {
	byIndex := func(field string, value func(client.Object) []string) handler.EventHandler {
		return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return requestsByIndex(ctx, r.Client, &breakwaterv1alpha1.GenAIWorkloadList{}, o.GetNamespace(), field, value(o)...)
		})
	}
	own := func(o client.Object) []string { return []string{o.GetName()} }
	quotaEndpoints := func(o client.Object) []string {
		return refNames(o.(*breakwaterv1alpha1.TokenQuota).Spec.Endpoints)
	}
	policyEndpoint := func(o client.Object) []string {
		return []string{o.(*breakwaterv1alpha1.FailoverPolicy).Spec.EndpointRef.Name}
	}
	workloadKey := func(kind string) func(client.Object) []string {
		return func(o client.Object) []string { return []string{workloadRefKey(kind, o.GetName())} }
	}
	b := ctrl.NewControllerManagedBy(mgr)
	if r.admission != nil && r.admission.opts.SecretName != "" {
		// A rotated store password reaches every workload's copy.
		b = b.Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.allWorkloads),
			builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
				return o.GetNamespace() == r.admission.opts.SecretNamespace && o.GetName() == r.admission.opts.SecretName
			})))
	}
	return b.
		For(&breakwaterv1alpha1.GenAIWorkload{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&corev1.ConfigMap{}).
		Owns(&rbacv1.Role{}).
		Owns(&rbacv1.RoleBinding{}).
		Watches(&breakwaterv1alpha1.ModelEndpoint{}, byIndex(indexWorkloadEndpoints, own),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&breakwaterv1alpha1.RetrievalBackend{}, byIndex(indexWorkloadBackends, own),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&breakwaterv1alpha1.TokenQuota{}, byIndex(indexWorkloadEndpoints, quotaEndpoints)).
		Watches(&breakwaterv1alpha1.FailoverPolicy{}, byIndex(indexWorkloadEndpoints, policyEndpoint)).
		Watches(&appsv1.Deployment{}, byIndex(indexWorkloadRef, workloadKey("Deployment")),
			builder.WithPredicates(serviceAccountChanged)).
		Watches(&appsv1.StatefulSet{}, byIndex(indexWorkloadRef, workloadKey("StatefulSet")),
			builder.WithPredicates(serviceAccountChanged)).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(injectedPodWorkload),
			builder.WithPredicates(podCountChanged)).
		WithOptions(controllerOptions).
		Named("genaiworkload").
		Complete(r)
}

// allWorkloads enqueues every GenAIWorkload.
func (r *GenAIWorkloadReconciler) allWorkloads(ctx context.Context, _ client.Object) []reconcile.Request {
	var list breakwaterv1alpha1.GenAIWorkloadList
	if err := r.List(ctx, &list); err != nil {
		log.FromContext(ctx).Error(err, "Listing the GenAIWorkloads to re-render after the admission store Secret changed")
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for _, w := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: w.Namespace, Name: w.Name}})
	}
	return out
}

// serviceAccountChanged passes a Deployment or StatefulSet update only when its pods'
// ServiceAccount changed: that is all the workload reconciler reads of them, and their status
// changes all the time.
var serviceAccountChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		return podServiceAccount(e.ObjectOld) != podServiceAccount(e.ObjectNew)
	},
}

func podServiceAccount(o client.Object) string {
	switch v := o.(type) {
	case *appsv1.Deployment:
		return v.Spec.Template.Spec.ServiceAccountName
	case *appsv1.StatefulSet:
		return v.Spec.Template.Spec.ServiceAccountName
	}
	return ""
}
