package controllers

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
)

// RetrievalBackendReconciler reports whether each RetrievalBackend is in force.
type RetrievalBackendReconciler struct {
	client.Client
	status statusWriter
}

// Reconcile writes the backend's conditions. A backend references nothing, so once the API server
// accepted its spec it is in force; live figures arrive with the guards' metrics.
func (r *RetrievalBackendReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	rb := &breakwaterv1alpha1.RetrievalBackend{}
	if err := r.Get(ctx, req.NamespacedName, rb); err != nil {
		return ctrl.Result{}, ignoreNotFound(err, "RetrievalBackend", req)
	}
	before := rb.DeepCopy()
	setConditions(&rb.Status.Conditions, rb.Generation, backendConditions(rb.Spec)...)
	rb.Status.ObservedGeneration = rb.Generation
	return ctrl.Result{}, r.status.write(ctx, before, rb, before.Status.Conditions, rb.Status.Conditions)
}

// backendConditions decides a RetrievalBackend's conditions from its spec.
func backendConditions(spec breakwaterv1alpha1.RetrievalBackendSpec) []metav1.Condition {
	mode := spec.OnFailure.Mode
	if mode == "" {
		mode = breakwaterv1alpha1.FailureDegrade
	}
	return []metav1.Condition{readyTrue(fmt.Sprintf("Guards call this %s backend with at most %d documents per call; on failure they %s",
		spec.Type, spec.MaxDocuments, mode))}
}

// SetupWithManager watches RetrievalBackends.
func (r *RetrievalBackendReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&breakwaterv1alpha1.RetrievalBackend{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controllerOptions).
		Named("retrievalbackend").
		Complete(r)
}
