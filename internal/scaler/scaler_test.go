package scaler

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/breakwater-dev/breakwater/test/testenv"
)

var env *testenv.Env

// TestMain starts a real API server (its Deployment and StatefulSet scale subresources and HPA
// validation are what the scaler relies on) with a stand-in of KEDA's ScaledObject CRD.
func TestMain(m *testing.M) {
	var err error
	env, err = testenv.StartWithCRDs("test/testdata/keda-scaledobject-crd.yaml")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

var nsCount int

// namespace creates a fresh namespace per test.
func namespace(t *testing.T) string {
	t.Helper()
	nsCount++
	name := fmt.Sprintf("scaler-%d", nsCount)
	if err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

func deployment(t *testing.T, ns, name string, replicas int32) Target {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1"}}},
			},
		},
	}
	if err := env.Client.Create(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	return Target{Namespace: ns, Kind: "Deployment", Name: name}
}

func replicasOf(t *testing.T, target Target) int32 {
	t.Helper()
	obj, err := (&Scaler{Client: env.Client}).workload(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	scale := &autoscalingv1.Scale{}
	if err := env.Client.SubResource("scale").Get(context.Background(), obj, scale); err != nil {
		t.Fatal(err)
	}
	return scale.Spec.Replicas
}

func annotationsOf(t *testing.T, target Target) map[string]string {
	t.Helper()
	obj, err := (&Scaler{Client: env.Client}).workload(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	return obj.GetAnnotations()
}

func resourceVersion(t *testing.T, target Target) string {
	t.Helper()
	obj, err := (&Scaler{Client: env.Client}).workload(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	return obj.GetResourceVersion()
}

func must(t *testing.T, res Result, err error, want Outcome) Result {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != want {
		t.Fatalf("outcome = %s (%s), want %s", res.Outcome, res.Message, want)
	}
	return res
}

func TestShedAndRestoreThroughTheScaleSubresource(t *testing.T) {
	ctx := context.Background()
	s := &Scaler{Client: env.Client}
	for _, kind := range []string{"Deployment", "StatefulSet"} {
		t.Run(kind, func(t *testing.T) {
			ns := namespace(t)
			target := deployment(t, ns, "chat", 5)
			if kind == "StatefulSet" {
				sts := &appsv1.StatefulSet{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "chat-sts"},
					Spec: appsv1.StatefulSetSpec{
						Replicas: ptr.To[int32](5), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "sts"}},
						Template: corev1.PodTemplateSpec{
							ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "sts"}},
							Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1"}}},
						},
					},
				}
				if err := env.Client.Create(ctx, sts); err != nil {
					t.Fatal(err)
				}
				target = Target{Namespace: ns, Kind: "StatefulSet", Name: "chat-sts"}
			}

			res, err := s.Shed(ctx, target, 1)
			res = must(t, res, err, Shed)
			if diff := cmp.Diff(Result{Outcome: Shed, Mode: ModeScale, From: 5, To: 1, Remembered: 5}, res, ignoreMessage); diff != "" {
				t.Errorf("shed (-want +got):\n%s", diff)
			}
			if got := replicasOf(t, target); got != 1 {
				t.Errorf("replicas after shed = %d, want 1", got)
			}
			if ann := annotationsOf(t, target); ann[AnnotationRemembered] != "5" || ann[AnnotationState] != stateShed {
				t.Errorf("annotations after shed: %v", ann)
			}

			// Shedding again writes nothing.
			rv := resourceVersion(t, target)
			res, err = s.Shed(ctx, target, 1)
			must(t, res, err, AlreadyShed)
			if resourceVersion(t, target) != rv {
				t.Error("a second Shed wrote to the workload")
			}

			res, err = s.Restore(ctx, target)
			res = must(t, res, err, Restored)
			if res.From != 1 || res.To != 5 {
				t.Errorf("restore went from %d to %d, want 1 to 5", res.From, res.To)
			}
			if got := replicasOf(t, target); got != 5 {
				t.Errorf("replicas after restore = %d, want 5", got)
			}
			for _, key := range []string{AnnotationState, AnnotationRemembered, AnnotationFloor, AnnotationMode} {
				if _, ok := annotationsOf(t, target)[key]; ok {
					t.Errorf("annotation %s left after restore", key)
				}
			}
			res, err = s.Restore(ctx, target)
			must(t, res, err, NotShed)
		})
	}
}

var ignoreMessage = cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "Message" }, cmp.Ignore())

// A manager that stops between two writes leaves the step half done; the next call finishes it with
// the replica count remembered before anything was changed.
func TestManagerStoppedHalfwayLosesNothing(t *testing.T) {
	ctx := context.Background()
	s := &Scaler{Client: env.Client}
	ns := namespace(t)

	// Stopped after remembering, before scaling.
	before := deployment(t, ns, "before-scale", 4)
	annotate(t, before, map[string]string{AnnotationState: stateShedding, AnnotationRemembered: "4", AnnotationFloor: "0", AnnotationMode: ModeScale})
	res, err := s.Shed(ctx, before, 0)
	must(t, res, err, Shed)
	if got := replicasOf(t, before); got != 0 {
		t.Errorf("replicas = %d, want 0", got)
	}

	// Stopped after scaling, before marking the step done: the remembered count must stay 4, not
	// become the 0 the workload runs now.
	after := deployment(t, ns, "after-scale", 0)
	annotate(t, after, map[string]string{AnnotationState: stateShedding, AnnotationRemembered: "4", AnnotationFloor: "0", AnnotationMode: ModeScale})
	res, err = s.Shed(ctx, after, 0)
	if res = must(t, res, err, Shed); res.Remembered != 4 {
		t.Errorf("remembered = %d, want 4", res.Remembered)
	}
	if ann := annotationsOf(t, after); ann[AnnotationRemembered] != "4" || ann[AnnotationState] != stateShed {
		t.Errorf("annotations: %v", ann)
	}

	// Stopped in the middle of a restore: the next Restore finishes it.
	restoring := deployment(t, ns, "restoring", 0)
	annotate(t, restoring, map[string]string{AnnotationState: stateRestoring, AnnotationRemembered: "3", AnnotationFloor: "0", AnnotationMode: ModeScale})
	res, err = s.Restore(ctx, restoring)
	must(t, res, err, Restored)
	if got := replicasOf(t, restoring); got != 3 {
		t.Errorf("replicas = %d, want 3", got)
	}
}

// When something else sets the replicas back while shed, the scaler says so and does not fight.
func TestRevertedScaleIsReportedNotFought(t *testing.T) {
	ctx := context.Background()
	s := &Scaler{Client: env.Client}
	target := deployment(t, namespace(t), "chat", 6)
	res, err := s.Shed(ctx, target, 2)
	must(t, res, err, Shed)

	// A GitOps sync puts spec.replicas back.
	obj, _ := s.workload(ctx, target)
	if err := s.setReplicas(ctx, target, obj, 6); err != nil {
		t.Fatal(err)
	}
	rv := resourceVersion(t, target)
	res, err = s.Shed(ctx, target, 2)
	res = must(t, res, err, Reverted)
	if res.From != 6 {
		t.Errorf("reverted result From = %d, want 6", res.From)
	}
	if resourceVersion(t, target) != rv {
		t.Error("the scaler wrote to a workload whose scale was reverted")
	}
	// Restoring still brings it to the remembered count and clears the state.
	res, err = s.Restore(ctx, target)
	must(t, res, err, Restored)
	if got := replicasOf(t, target); got != 6 {
		t.Errorf("replicas = %d, want 6", got)
	}
}

// Restoring gives capacity back and never takes any away: a workload scaled up by someone while
// shed keeps the higher count.
func TestRestoreNeverScalesDown(t *testing.T) {
	ctx := context.Background()
	s := &Scaler{Client: env.Client}
	target := deployment(t, namespace(t), "chat", 3)
	res, err := s.Shed(ctx, target, 0)
	must(t, res, err, Shed)
	obj, _ := s.workload(ctx, target)
	if err := s.setReplicas(ctx, target, obj, 8); err != nil {
		t.Fatal(err)
	}
	res, err = s.Restore(ctx, target)
	if res = must(t, res, err, Restored); res.To != 8 {
		t.Errorf("restored to %d, want 8 (above the remembered 3)", res.To)
	}
	if got := replicasOf(t, target); got != 8 {
		t.Errorf("replicas = %d, want 8", got)
	}
}

func TestAtFloorRemembersNothing(t *testing.T) {
	ctx := context.Background()
	s := &Scaler{Client: env.Client}
	target := deployment(t, namespace(t), "small", 1)
	res, err := s.Shed(ctx, target, 1)
	must(t, res, err, AtFloor)
	if _, ok := annotationsOf(t, target)[AnnotationState]; ok {
		t.Error("a workload at its floor was marked shed")
	}
	res, err = s.Shed(ctx, Target{Namespace: target.Namespace, Kind: "Deployment", Name: "missing"}, 0)
	must(t, res, err, NotFound)
}

// With an HPA the scaler caps the HPA (remembering its bounds) instead of writing replicas the HPA
// would overwrite.
func TestCapsAndRestoresAnHPA(t *testing.T) {
	ctx := context.Background()
	s := &Scaler{Client: env.Client}
	ns := namespace(t)
	target := deployment(t, ns, "chat", 4)
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "chat"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "chat"},
			MinReplicas:    ptr.To[int32](2), MaxReplicas: 10,
		},
	}
	if err := env.Client.Create(ctx, hpa); err != nil {
		t.Fatal(err)
	}
	res, err := s.Shed(ctx, target, 0)
	res = must(t, res, err, Shed)
	if res.Mode != ModeHPA || res.To != 1 {
		t.Errorf("mode %s to %d, want hpa capped at 1", res.Mode, res.To)
	}
	got := &autoscalingv2.HorizontalPodAutoscaler{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(hpa), got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.MaxReplicas != 1 || *got.Spec.MinReplicas != 1 || got.Annotations[AnnotationHPAMax] != "10" || got.Annotations[AnnotationHPAMin] != "2" {
		t.Errorf("capped HPA: min %d max %d annotations %v", *got.Spec.MinReplicas, got.Spec.MaxReplicas, got.Annotations)
	}
	if replicasOf(t, target) != 4 {
		t.Error("the scaler wrote replicas under an HPA; the HPA owns them")
	}
	res, err = s.Shed(ctx, target, 0)
	must(t, res, err, AlreadyShed)

	res, err = s.Restore(ctx, target)
	must(t, res, err, Restored)
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(hpa), got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.MaxReplicas != 10 || *got.Spec.MinReplicas != 2 || len(got.Annotations) != 0 {
		t.Errorf("restored HPA: min %d max %d annotations %v", *got.Spec.MinReplicas, got.Spec.MaxReplicas, got.Annotations)
	}
}

// With KEDA the scaler pauses the ScaledObject through KEDA's own annotation, and leaves the HPA
// KEDA owns alone.
func TestPausesAndResumesKEDA(t *testing.T) {
	ctx := context.Background()
	s := &Scaler{Client: env.Client}
	ns := namespace(t)
	target := deployment(t, ns, "worker", 3)
	so := &unstructured.Unstructured{}
	so.SetGroupVersionKind(scaledObjectGVK)
	so.SetNamespace(ns)
	so.SetName("worker")
	_ = unstructured.SetNestedField(so.Object, "worker", "spec", "scaleTargetRef", "name")
	if err := env.Client.Create(ctx, so); err != nil {
		t.Fatal(err)
	}
	kedaHPA := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "keda-hpa-worker"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "worker"},
			MinReplicas:    ptr.To[int32](1), MaxReplicas: 20,
		},
	}
	if err := env.Client.Create(ctx, kedaHPA); err != nil {
		t.Fatal(err)
	}

	res, err := s.Shed(ctx, target, 0)
	if res = must(t, res, err, Shed); res.Mode != ModeKEDA {
		t.Errorf("mode = %s, want keda", res.Mode)
	}
	key := types.NamespacedName{Namespace: ns, Name: "worker"}
	if err := env.Client.Get(ctx, key, so); err != nil {
		t.Fatal(err)
	}
	if got := so.GetAnnotations()[KEDAPausedReplicas]; got != "0" {
		t.Errorf("paused-replicas = %q, want 0", got)
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(kedaHPA), hpa); err != nil {
		t.Fatal(err)
	}
	if hpa.Spec.MaxReplicas != 20 || len(hpa.Annotations) != 0 {
		t.Error("the scaler touched KEDA's own HPA")
	}

	res, err = s.Restore(ctx, target)
	must(t, res, err, Restored)
	if err := env.Client.Get(ctx, key, so); err != nil {
		t.Fatal(err)
	}
	if _, ok := so.GetAnnotations()[KEDAPausedReplicas]; ok {
		t.Error("paused-replicas left after restore")
	}
}

func annotate(t *testing.T, target Target, ann map[string]string) {
	t.Helper()
	obj, err := (&Scaler{Client: env.Client}).workload(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	before := obj.DeepCopyObject().(client.Object)
	obj.SetAnnotations(ann)
	if err := env.Client.Patch(context.Background(), obj, client.MergeFrom(before)); err != nil {
		t.Fatal(err)
	}
}
