// Package controllers holds one reconciler per Breakwater kind. Reconcilers are thin: they gather
// inputs, call a pure decision in internal/, and write the result through patches.
//
// Files are named <kind>_<step>.go: <kind>_controller.go holds the reconciler and its watches, the
// other files of a kind the steps of its control loop (failoverpolicy_metrics.go gathers the
// figures, failoverpolicy_loop.go calls policy.Failover and writes the plan, ...). What several
// kinds use lives in files named for what it is (client.go, status.go, sources.go, text.go,
// units.go, weights.go, indexes.go), never in a kind's file.
package controllers

// The manager reads every Breakwater kind and owns their status; it records Events about them.
// +kubebuilder:rbac:groups=breakwater.dev,resources=modelendpoints;retrievalbackends;tokenquotas;failoverpolicies;genaiworkloads,verbs=get;list;watch
// +kubebuilder:rbac:groups=breakwater.dev,resources=modelendpoints/status;retrievalbackends/status;tokenquotas/status;failoverpolicies/status;genaiworkloads/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
//
// The GenAIWorkload reconciler server-side applies one ConfigMap, Role and RoleBinding per workload
// (create and patch; get, list and watch to see drift through owner references). It may only grant
// what it holds itself: get, list and watch on configmaps. Setting blockOwnerDeletion on what it
// owns needs update on genaiworkloads/finalizers where the OwnerReferencesPermissionEnforcement
// admission plugin is on. It reads Deployments and StatefulSets for their pods' ServiceAccount.
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=breakwater.dev,resources=genaiworkloads/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=get;list;watch

// With an admission store Secret, the GenAIWorkload reconciler copies it next to each workload
// (<workload>-guard-admission) by server-side apply: create and patch only, so the manager can write
// that copy but read no Secret outside its own namespace.
// +kubebuilder:rbac:groups="",resources=secrets,verbs=create;patch

// The GenAIWorkload reconciler counts the pods the webhook injected (labelled breakwater.dev/workload;
// the manager caches only those) and binds the guard's Role to their ServiceAccounts.
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch

// The TokenQuota loop sheds and restores the workloads of GenAIWorkloads through internal/scaler:
// it scales them through the scale subresource and keeps its record in annotations on them; it caps
// (and later restores) a HorizontalPodAutoscaler and pauses a KEDA ScaledObject that owns a
// workload's replicas, finding them by listing (watch too, so that they may be read through the cache).
// It also patches its finalizer onto TokenQuotas (the marker is in tokenquota_finalizer.go), so that a
// deleted quota restores what it shed before it goes.
// +kubebuilder:rbac:groups=apps,resources=deployments/scale;statefulsets/scale,verbs=get;update;patch
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=patch
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=keda.sh,resources=scaledobjects,verbs=get;list;watch;patch
