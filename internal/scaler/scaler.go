// Package scaler sheds and restores the workloads of GenAIWorkloads for TokenQuotas: it scales a
// Deployment or StatefulSet down to its floor and back through the scale subresource or, when an
// autoscaler owns the replica count, caps the HorizontalPodAutoscaler or pauses the KEDA ScaledObject
// instead of fighting it.
//
// Nothing it needs lives in memory. Before it changes anything it writes on the workload itself what
// it is doing and the replica count to come back to; a manager that restarts halfway, or another
// replica that takes over, reads those annotations and finishes the step. No workload is scaled
// twice, none is left unrestored, and no replica count is forgotten. When something else sets the
// replicas back while a workload is shed (a GitOps sync, a person), it reports that instead of
// writing again and again.
//
// The decisions (whom to shed, when to restore) are internal/policy's; this package only acts.
package scaler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Annotations the scaler keeps on the workload (and on an HPA it caps).
const (
	// AnnotationState is the step in progress: shedding, shed or restoring.
	AnnotationState = "breakwater.dev/shed-state"
	// AnnotationRemembered is the replica count to restore.
	AnnotationRemembered = "breakwater.dev/remembered-replicas"
	// AnnotationFloor is the replica count while shed.
	AnnotationFloor = "breakwater.dev/shed-replicas"
	// AnnotationMode is how the workload is shed: scale, hpa or keda.
	AnnotationMode = "breakwater.dev/shed-mode"
	// AnnotationHPAMin and AnnotationHPAMax remember a capped HPA's own bounds.
	AnnotationHPAMin = "breakwater.dev/remembered-min-replicas"
	AnnotationHPAMax = "breakwater.dev/remembered-max-replicas"
	// KEDAPausedReplicas makes KEDA scale a ScaledObject's target to this count and pause.
	KEDAPausedReplicas = "autoscaling.keda.sh/paused-replicas"
)

// Steps of AnnotationState.
const (
	stateShedding  = "shedding"
	stateShed      = "shed"
	stateRestoring = "restoring"
)

// Modes of AnnotationMode.
const (
	ModeScale = "scale"
	ModeHPA   = "hpa"
	ModeKEDA  = "keda"
)

// Outcome says what a call did.
type Outcome string

// Outcomes.
const (
	// Shed: the workload was scaled down (or its autoscaler capped or paused) now.
	Shed Outcome = "Shed"
	// AlreadyShed: it was shed before and still is; nothing was written.
	AlreadyShed Outcome = "AlreadyShed"
	// AtFloor: it already runs at or below its floor; nothing to shed or remember.
	AtFloor Outcome = "AtFloor"
	// Reverted: it is shed, but something set its replicas (or its autoscaler) back; nothing was
	// written, so the scaler does not fight a GitOps tool or a person.
	Reverted Outcome = "Reverted"
	// Restored: it was brought back to its remembered replicas (or its autoscaler's bounds).
	Restored Outcome = "Restored"
	// NotShed: there was nothing to restore.
	NotShed Outcome = "NotShed"
	// NotFound: the workload does not exist.
	NotFound Outcome = "NotFound"
)

// Target is the workload to act on.
type Target struct {
	Namespace string
	// Kind is Deployment or StatefulSet.
	Kind string
	Name string
}

func (t Target) String() string { return t.Kind + " " + t.Namespace + "/" + t.Name }

// Result is what a call did, for status and Events.
type Result struct {
	Outcome Outcome
	// Mode is scale, hpa or keda.
	Mode string
	// From and To are the replica counts (for hpa: the cap) before and after.
	From, To int32
	// Remembered is the replica count a shed workload returns to.
	Remembered int32
	Message    string
}

// Scaler acts on workloads through the API server.
type Scaler struct {
	Client client.Client
}

var scaledObjectGVK = schema.GroupVersionKind{Group: "keda.sh", Version: "v1alpha1", Kind: "ScaledObject"}

// Shed scales t down to floor replicas, or caps or pauses the autoscaler that owns its replicas. It
// is idempotent and finishes a step an earlier call (or manager) left halfway.
func (s *Scaler) Shed(ctx context.Context, t Target, floor int32) (Result, error) {
	obj, err := s.workload(ctx, t)
	if apierrors.IsNotFound(err) {
		return Result{Outcome: NotFound, Message: t.String() + " does not exist"}, nil
	}
	if err != nil {
		return Result{}, err
	}
	ann := obj.GetAnnotations()
	switch ann[AnnotationState] {
	case stateShed:
		return s.checkShed(ctx, t, obj)
	case stateShedding, stateRestoring:
		// An earlier call stopped halfway: the remembered count is already on the workload.
		remembered, err := annotationInt(ann, AnnotationRemembered)
		if err != nil {
			return Result{}, fmt.Errorf("%s: %w", t, err)
		}
		mode := ann[AnnotationMode]
		if err := s.annotate(ctx, obj, map[string]any{AnnotationState: stateShedding, AnnotationFloor: itoa(floor)}); err != nil {
			return Result{}, err
		}
		return s.finishShed(ctx, t, obj, mode, remembered, floor)
	}

	mode, err := s.mode(ctx, t)
	if err != nil {
		return Result{}, err
	}
	current, err := s.replicas(ctx, t, obj)
	if err != nil {
		return Result{}, err
	}
	if mode == ModeScale && current <= floor {
		return Result{Outcome: AtFloor, Mode: mode, From: current, To: current,
			Message: fmt.Sprintf("%s runs %d replicas, at or below its floor of %d", t, current, floor)}, nil
	}
	// Remember first: if the manager stops after this write, the next call finishes the step with
	// the count it must come back to.
	if err := s.annotate(ctx, obj, map[string]any{
		AnnotationState: stateShedding, AnnotationRemembered: itoa(current), AnnotationFloor: itoa(floor), AnnotationMode: mode,
	}); err != nil {
		return Result{}, err
	}
	return s.finishShed(ctx, t, obj, mode, current, floor)
}

func (s *Scaler) finishShed(ctx context.Context, t Target, obj client.Object, mode string, remembered, floor int32) (Result, error) {
	res := Result{Outcome: Shed, Mode: mode, From: remembered, To: floor, Remembered: remembered}
	switch mode {
	case ModeKEDA:
		so, err := s.scaledObject(ctx, t)
		if err != nil {
			return Result{}, err
		}
		if err := s.annotate(ctx, so, map[string]any{KEDAPausedReplicas: itoa(floor)}); err != nil {
			return Result{}, err
		}
		res.Message = fmt.Sprintf("Paused KEDA ScaledObject %s at %d replicas; %d to restore", so.GetName(), floor, remembered)
	case ModeHPA:
		hpa, err := s.hpa(ctx, t)
		if err != nil {
			return Result{}, err
		}
		// An HPA keeps at least one replica; cap it there when the floor is 0.
		limit := max(floor, 1)
		res.To = limit
		if err := s.capHPA(ctx, hpa, limit); err != nil {
			return Result{}, err
		}
		res.Message = fmt.Sprintf("Capped HorizontalPodAutoscaler %s at %d replicas; its own bounds are remembered", hpa.Name, limit)
	default:
		if err := s.setReplicas(ctx, t, obj, floor); err != nil {
			return Result{}, err
		}
		res.Message = fmt.Sprintf("Scaled %s from %d to %d replicas; %d remembered", t, remembered, floor, remembered)
	}
	if err := s.annotate(ctx, obj, map[string]any{AnnotationState: stateShed}); err != nil {
		return Result{}, err
	}
	return res, nil
}

// checkShed reports whether a shed workload is still shed, without writing anything.
func (s *Scaler) checkShed(ctx context.Context, t Target, obj client.Object) (Result, error) {
	ann := obj.GetAnnotations()
	remembered, err := annotationInt(ann, AnnotationRemembered)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", t, err)
	}
	floor, err := annotationInt(ann, AnnotationFloor)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", t, err)
	}
	mode := ann[AnnotationMode]
	res := Result{Outcome: AlreadyShed, Mode: mode, From: remembered, To: floor, Remembered: remembered}
	switch mode {
	case ModeKEDA:
		so, err := s.scaledObject(ctx, t)
		if err != nil {
			return Result{}, err
		}
		if so.GetAnnotations()[KEDAPausedReplicas] != itoa(floor) {
			res.Outcome = Reverted
			res.Message = fmt.Sprintf("KEDA ScaledObject %s is no longer paused at %d replicas; not pausing it again", so.GetName(), floor)
		}
	case ModeHPA:
		hpa, err := s.hpa(ctx, t)
		if err != nil {
			return Result{}, err
		}
		if hpa.Spec.MaxReplicas != max(floor, 1) {
			res.Outcome = Reverted
			res.Message = fmt.Sprintf("HorizontalPodAutoscaler %s is no longer capped at %d; not capping it again", hpa.Name, max(floor, 1))
		}
	default:
		current, err := s.replicas(ctx, t, obj)
		if err != nil {
			return Result{}, err
		}
		if current != floor {
			res.Outcome = Reverted
			res.From = current
			res.Message = fmt.Sprintf("%s was set back to %d replicas while shed at %d; not scaling it again "+
				"(have your GitOps tool ignore spec.replicas, see docs/gitops.md)", t, current, floor)
		}
	}
	return res, nil
}

// Restore brings a shed workload back to its remembered replicas (or its autoscaler's own bounds)
// and removes the scaler's annotations. It is idempotent and finishes a restore left halfway.
func (s *Scaler) Restore(ctx context.Context, t Target) (Result, error) {
	obj, err := s.workload(ctx, t)
	if apierrors.IsNotFound(err) {
		return Result{Outcome: NotFound, Message: t.String() + " does not exist"}, nil
	}
	if err != nil {
		return Result{}, err
	}
	ann := obj.GetAnnotations()
	if ann[AnnotationState] == "" {
		return Result{Outcome: NotShed}, nil
	}
	remembered, err := annotationInt(ann, AnnotationRemembered)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", t, err)
	}
	mode := ann[AnnotationMode]
	if err := s.annotate(ctx, obj, map[string]any{AnnotationState: stateRestoring}); err != nil {
		return Result{}, err
	}
	res := Result{Outcome: Restored, Mode: mode, To: remembered, Remembered: remembered}
	switch mode {
	case ModeKEDA:
		so, err := s.scaledObject(ctx, t)
		if err != nil && !apierrors.IsNotFound(err) {
			return Result{}, err
		}
		if err == nil {
			if err := s.annotate(ctx, so, map[string]any{KEDAPausedReplicas: nil}); err != nil {
				return Result{}, err
			}
		}
		res.Message = fmt.Sprintf("Resumed KEDA scaling of %s", t)
	case ModeHPA:
		hpa, err := s.hpa(ctx, t)
		if err != nil && !apierrors.IsNotFound(err) {
			return Result{}, err
		}
		if err == nil {
			if err := s.uncapHPA(ctx, hpa); err != nil {
				return Result{}, err
			}
		}
		res.Message = fmt.Sprintf("Restored the bounds of the HorizontalPodAutoscaler of %s", t)
	default:
		current, err := s.replicas(ctx, t, obj)
		if err != nil {
			return Result{}, err
		}
		// Never below what someone set while the workload was shed: restoring gives capacity back,
		// it does not take any away.
		to := max(remembered, current)
		res.From, res.To = current, to
		if err := s.setReplicas(ctx, t, obj, to); err != nil {
			return Result{}, err
		}
		res.Message = fmt.Sprintf("Restored %s from %d to %d replicas", t, current, to)
	}
	if err := s.annotate(ctx, obj, map[string]any{
		AnnotationState: nil, AnnotationRemembered: nil, AnnotationFloor: nil, AnnotationMode: nil,
	}); err != nil {
		return Result{}, err
	}
	return res, nil
}

// mode decides how to shed t: KEDA first (it owns an HPA of its own, which must not be capped
// behind its back), then a plain HPA, else the scale subresource.
func (s *Scaler) mode(ctx context.Context, t Target) (string, error) {
	if _, err := s.scaledObject(ctx, t); err == nil {
		return ModeKEDA, nil
	} else if !apierrors.IsNotFound(err) {
		return "", err
	}
	if _, err := s.hpa(ctx, t); err == nil {
		return ModeHPA, nil
	} else if !apierrors.IsNotFound(err) {
		return "", err
	}
	return ModeScale, nil
}

func (s *Scaler) workload(ctx context.Context, t Target) (client.Object, error) {
	var obj client.Object
	switch t.Kind {
	case "Deployment":
		obj = &appsv1.Deployment{}
	case "StatefulSet":
		obj = &appsv1.StatefulSet{}
	default:
		return nil, fmt.Errorf("cannot scale a %s: only Deployments and StatefulSets", t.Kind)
	}
	if err := s.Client.Get(ctx, types.NamespacedName{Namespace: t.Namespace, Name: t.Name}, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

func (s *Scaler) replicas(ctx context.Context, t Target, obj client.Object) (int32, error) {
	scale := &autoscalingv1.Scale{}
	if err := s.Client.SubResource("scale").Get(ctx, obj, scale); err != nil {
		return 0, fmt.Errorf("reading the scale of %s: %w", t, err)
	}
	return scale.Spec.Replicas, nil
}

func (s *Scaler) setReplicas(ctx context.Context, t Target, obj client.Object, n int32) error {
	scale := &autoscalingv1.Scale{}
	if err := s.Client.SubResource("scale").Get(ctx, obj, scale); err != nil {
		return fmt.Errorf("reading the scale of %s: %w", t, err)
	}
	if scale.Spec.Replicas == n {
		return nil
	}
	scale.Spec.Replicas = n
	if err := s.Client.SubResource("scale").Update(ctx, obj, client.WithSubResourceBody(scale)); err != nil {
		return fmt.Errorf("scaling %s to %d: %w", t, n, err)
	}
	// The scale write moved the workload's resourceVersion; later annotation patches are guarded
	// by it.
	return s.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj)
}

// hpa finds the HorizontalPodAutoscaler that targets t; NotFound when there is none.
func (s *Scaler) hpa(ctx context.Context, t Target) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	var list autoscalingv2.HorizontalPodAutoscalerList
	if err := s.Client.List(ctx, &list, client.InNamespace(t.Namespace)); err != nil {
		return nil, fmt.Errorf("listing HorizontalPodAutoscalers in %s: %w", t.Namespace, err)
	}
	for i := range list.Items {
		ref := list.Items[i].Spec.ScaleTargetRef
		if ref.Kind == t.Kind && ref.Name == t.Name {
			return &list.Items[i], nil
		}
	}
	return nil, apierrors.NewNotFound(autoscalingv2.Resource("horizontalpodautoscalers"), t.Name)
}

// scaledObject finds the KEDA ScaledObject that targets t; NotFound when there is none or KEDA is
// not installed.
func (s *Scaler) scaledObject(ctx context.Context, t Target) (*unstructured.Unstructured, error) {
	var list unstructured.UnstructuredList
	list.SetGroupVersionKind(scaledObjectGVK.GroupVersion().WithKind("ScaledObjectList"))
	err := s.Client.List(ctx, &list, client.InNamespace(t.Namespace))
	if apimeta.IsNoMatchError(err) {
		return nil, apierrors.NewNotFound(schema.GroupResource{Group: "keda.sh", Resource: "scaledobjects"}, t.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("listing KEDA ScaledObjects in %s: %w", t.Namespace, err)
	}
	for i := range list.Items {
		kind, _, _ := unstructured.NestedString(list.Items[i].Object, "spec", "scaleTargetRef", "kind")
		name, _, _ := unstructured.NestedString(list.Items[i].Object, "spec", "scaleTargetRef", "name")
		if kind == "" {
			kind = "Deployment" // KEDA's default
		}
		if kind == t.Kind && name == t.Name {
			return &list.Items[i], nil
		}
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Group: "keda.sh", Resource: "scaledobjects"}, t.Name)
}

// capHPA remembers the HPA's bounds (once) and caps it at limit.
func (s *Scaler) capHPA(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, limit int32) error {
	before := hpa.DeepCopy()
	if _, ok := hpa.Annotations[AnnotationHPAMax]; !ok {
		if hpa.Annotations == nil {
			hpa.Annotations = map[string]string{}
		}
		hpa.Annotations[AnnotationHPAMax] = itoa(hpa.Spec.MaxReplicas)
		if hpa.Spec.MinReplicas != nil {
			hpa.Annotations[AnnotationHPAMin] = itoa(*hpa.Spec.MinReplicas)
		}
	}
	hpa.Spec.MaxReplicas = limit
	if hpa.Spec.MinReplicas != nil && *hpa.Spec.MinReplicas > limit {
		hpa.Spec.MinReplicas = &limit
	}
	if err := s.Client.Patch(ctx, hpa, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("capping HorizontalPodAutoscaler %s/%s: %w", hpa.Namespace, hpa.Name, err)
	}
	return nil
}

// uncapHPA puts the HPA's remembered bounds back.
func (s *Scaler) uncapHPA(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler) error {
	maxReplicas, err := annotationInt(hpa.Annotations, AnnotationHPAMax)
	if err != nil {
		return nil // nothing remembered: the HPA was never capped, or already restored
	}
	before := hpa.DeepCopy()
	hpa.Spec.MaxReplicas = maxReplicas
	if minReplicas, err := annotationInt(hpa.Annotations, AnnotationHPAMin); err == nil {
		hpa.Spec.MinReplicas = &minReplicas
	}
	delete(hpa.Annotations, AnnotationHPAMax)
	delete(hpa.Annotations, AnnotationHPAMin)
	if err := s.Client.Patch(ctx, hpa, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("restoring HorizontalPodAutoscaler %s/%s: %w", hpa.Namespace, hpa.Name, err)
	}
	return nil
}

// annotate sets (or, for nil values, removes) annotations with a merge patch guarded by the
// object's resourceVersion, so two managers never both act on a stale view.
func (s *Scaler) annotate(ctx context.Context, obj client.Object, set map[string]any) error {
	patch := map[string]any{"metadata": map[string]any{"annotations": set, "resourceVersion": obj.GetResourceVersion()}}
	raw, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	if err := s.Client.Patch(ctx, obj, client.RawPatch(types.MergePatchType, raw)); err != nil {
		return fmt.Errorf("annotating %T %s/%s: %w", obj, obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

func annotationInt(ann map[string]string, key string) (int32, error) {
	v, ok := ann[key]
	if !ok {
		return 0, errors.New("annotation " + key + " is missing")
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("annotation %s=%q is not a replica count", key, v)
	}
	return int32(n), nil
}

func itoa(n int32) string { return strconv.FormatInt(int64(n), 10) }
