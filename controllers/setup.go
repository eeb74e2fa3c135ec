package controllers

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller"
)

// controllerOptions are shared by every reconciler. Reconciles mostly wait on the API server, and
// one object per worker is ever in flight, so a few workers keep a burst of applies (a GitOps sync
// of a whole namespace) from queueing behind each other.
var controllerOptions = controller.Options{MaxConcurrentReconciles: 4}

// EventSource is the reporting controller of the manager's Events.
const EventSource = "breakwater-manager"

// Setup registers the reference indexes and the reconciler of every kind with the manager; src
// feeds the control loops.
func Setup(ctx context.Context, mgr ctrl.Manager, src Sources) error {
	if err := setupIndexes(ctx, mgr.GetFieldIndexer()); err != nil {
		return err
	}
	c := mgr.GetClient()
	sw := statusWriter{client: c, recorder: mgr.GetEventRecorder(EventSource)}
	store := newAdmissionStore(src.Admission)
	reconcilers := []interface {
		SetupWithManager(ctrl.Manager) error
	}{
		&ModelEndpointReconciler{Client: c, status: sw, sources: src},
		&RetrievalBackendReconciler{Client: c, status: sw},
		&TokenQuotaReconciler{Client: c, status: sw, sources: src, admission: store},
		&FailoverPolicyReconciler{Client: c, status: sw, sources: src},
		&GenAIWorkloadReconciler{Client: c, status: sw, admission: store},
	}
	for _, r := range reconcilers {
		if err := r.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("setting up the %T: %w", r, err)
		}
	}
	return nil
}
