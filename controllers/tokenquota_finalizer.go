package controllers

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/managermetrics"
)

// FinalizerRestoreWorkloads is the TokenQuota finalizer that holds a deleted quota until every
// workload it shed runs its remembered replicas again: without it, a quota deleted while Shedding
// would leave its workloads scaled down with nobody to restore them.
const FinalizerRestoreWorkloads = "breakwater.dev/restore-workloads"

// The manager adds and removes its finalizer on TokenQuotas (a metadata patch; the spec stays the
// user's).
// +kubebuilder:rbac:groups=breakwater.dev,resources=tokenquotas,verbs=patch

// ensureFinalizer adds the finalizer to a live quota.
func (r *TokenQuotaReconciler) ensureFinalizer(ctx context.Context, q *breakwaterv1alpha1.TokenQuota) error {
	if controllerutil.ContainsFinalizer(q, FinalizerRestoreWorkloads) {
		return nil
	}
	before := q.DeepCopy()
	controllerutil.AddFinalizer(q, FinalizerRestoreWorkloads)
	if err := r.Patch(ctx, q, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("adding the finalizer to TokenQuota %s: %w", client.ObjectKeyFromObject(q), err)
	}
	return nil
}

// finalize restores every workload the deleted quota holds shed, then removes the finalizer. A
// workload that another TokenQuota still lists as shed is left to that quota. A restore that fails
// keeps the finalizer, and the deletion is tried again with backoff.
func (r *TokenQuotaReconciler) finalize(ctx context.Context, q *breakwaterv1alpha1.TokenQuota) error {
	if !controllerutil.ContainsFinalizer(q, FinalizerRestoreWorkloads) {
		return nil
	}
	now := r.sources.now()
	// Read as enforce mode does, so that a shed the annotations record is seen whatever the mode.
	ws, err := r.gatherWorkloads(ctx, q, false, now)
	if err != nil {
		return err
	}
	others, err := r.shedByOthers(ctx, q)
	if err != nil {
		return err
	}
	var errs []error
	for _, qw := range ws {
		if qw.input.Remembered == nil || others[qw.w.Name] {
			continue
		}
		res, err := r.scalerFor().Restore(ctx, qw.target)
		if err == nil {
			log.FromContext(ctx).Info("Restored a workload of a deleted TokenQuota", "genAIWorkload", klog.KObj(qw.w), "outcome", res.Outcome, "to", res.To)
			err = r.recordRestore(ctx, qw, breakwaterv1alpha1.ReasonQuotaDeleted, fmt.Sprintf("Restored %s because TokenQuota %s was deleted: %s", qw.target, q.Name, res.Message), now)
		}
		r.sources.ManagerMetrics.Action(managermetrics.ActionScaleUp, breakwaterv1alpha1.ReasonQuotaDeleted, resultOf(false, err))
		if err != nil {
			errs = append(errs, fmt.Errorf("restoring %s of deleted TokenQuota %s: %w", qw.target, client.ObjectKeyFromObject(q), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	before := q.DeepCopy()
	controllerutil.RemoveFinalizer(q, FinalizerRestoreWorkloads)
	if err := client.IgnoreNotFound(r.Patch(ctx, q, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))); err != nil {
		return fmt.Errorf("removing the finalizer of TokenQuota %s: %w", client.ObjectKeyFromObject(q), err)
	}
	r.sources.ManagerMetrics.ForgetQuota(q.Namespace, q.Name)
	r.forgetShadowPlan(types.NamespacedName{Namespace: q.Namespace, Name: q.Name})
	return nil
}

// shedByOthers names the workloads other live TokenQuotas of the namespace list as shed.
func (r *TokenQuotaReconciler) shedByOthers(ctx context.Context, q *breakwaterv1alpha1.TokenQuota) (map[string]bool, error) {
	var list breakwaterv1alpha1.TokenQuotaList
	if err := r.List(ctx, &list, client.InNamespace(q.Namespace)); err != nil {
		return nil, fmt.Errorf("listing the TokenQuotas of %s: %w", q.Namespace, err)
	}
	out := map[string]bool{}
	for _, other := range list.Items {
		if other.Name == q.Name || !other.DeletionTimestamp.IsZero() {
			continue
		}
		for _, name := range other.Status.ShedWorkloads {
			out[name] = true
		}
	}
	return out, nil
}
