package sidecar

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
)

func workload() *breakwaterv1alpha1.GenAIWorkload {
	return &breakwaterv1alpha1.GenAIWorkload{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "chat"}}
}

func TestAppEnvOnlyWhereUnambiguous(t *testing.T) {
	tests := []struct {
		name      string
		providers map[string]breakwaterv1alpha1.Provider
		want      []corev1.EnvVar
	}{{
		name: "no endpoints: only the guard's URL",
		want: []corev1.EnvVar{{Name: "BREAKWATER_GUARD_URL", Value: GuardURL}},
	}, {
		name:      "one endpoint per provider",
		providers: map[string]breakwaterv1alpha1.Provider{"llama": "openai", "claude": "bedrock", "rank": "sagemaker"},
		want: []corev1.EnvVar{
			{Name: "BREAKWATER_GUARD_URL", Value: GuardURL},
			{Name: "OPENAI_BASE_URL", Value: GuardURL + "/m/llama/v1"},
			{Name: "AWS_ENDPOINT_URL_BEDROCK_RUNTIME", Value: GuardURL + "/m/claude"},
			{Name: "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", Value: GuardURL + "/m/rank"},
		},
	}, {
		name:      "two OpenAI endpoints cannot share OPENAI_BASE_URL",
		providers: map[string]breakwaterv1alpha1.Provider{"a": "openai", "b": "openai", "claude": "bedrock"},
		want: []corev1.EnvVar{
			{Name: "BREAKWATER_GUARD_URL", Value: GuardURL},
			{Name: "AWS_ENDPOINT_URL_BEDROCK_RUNTIME", Value: GuardURL + "/m/claude"},
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := AppEnv(Input{Workload: workload(), Providers: tc.providers})
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestVolumesMountEachSecretOnceWithOnlyUsedKeys(t *testing.T) {
	in := Input{Workload: workload(), Secrets: []breakwaterv1alpha1.SecretKeyReference{
		{Name: "keys", Key: "openai"}, {Name: "keys", Key: "vllm"}, {Name: "keys", Key: "openai"}, {Name: "other.example", Key: "api-key"},
	}}
	vols := Volumes(in)
	if len(vols) != 2 {
		t.Fatalf("want 2 volumes, got %d: %+v", len(vols), vols)
	}
	if diff := cmp.Diff([]corev1.KeyToPath{{Key: "openai", Path: "openai"}, {Key: "vllm", Path: "vllm"}}, vols[0].Secret.Items); diff != "" {
		t.Errorf("keys of the first Secret (-want +got):\n%s", diff)
	}
	c := Container(in, Options{Image: "img"})
	for i, m := range c.VolumeMounts {
		if m.Name != vols[i].Name || !m.ReadOnly {
			t.Errorf("mount %d = %+v, want read-only %s", i, m, vols[i].Name)
		}
	}
	if got, want := c.VolumeMounts[1].MountPath, "/var/run/breakwater/secrets/other.example"; got != want {
		t.Errorf("mount path = %s, want %s", got, want)
	}
	if got, want := SecretFile("keys", "vllm"), "/var/run/breakwater/secrets/keys/vllm"; got != want {
		t.Errorf("SecretFile = %s, want %s", got, want)
	}
}

func TestContainerTakesWorkloadSettings(t *testing.T) {
	wl := workload()
	wl.Spec.Guard = breakwaterv1alpha1.GuardSettings{
		LogLevel: "debug",
		Resources: &corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")},
		},
	}
	c := Container(Input{Workload: wl, ConfigMapName: "chat-guard"}, Options{Image: "img:1"})
	if diff := cmp.Diff(*wl.Spec.Guard.Resources, c.Resources); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
	wantArgs := []string{"--config-configmap=team/chat-guard", "--listen=127.0.0.1:8787", "--admin-listen=:9787", "--log-level=debug"}
	if diff := cmp.Diff(wantArgs, c.Args); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
}

func TestInjectIsIdempotentAndKeepsAppSettings(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "migrate"}},
		Containers:     []corev1.Container{{Name: "app", Env: []corev1.EnvVar{{Name: "OPENAI_BASE_URL", Value: "http://mine"}}}},
	}}
	in := Input{Workload: workload(), ConfigMapName: "chat-guard", ConfigHash: "abc",
		Providers: map[string]breakwaterv1alpha1.Provider{"llama": "openai"}}
	if !Inject(pod, in, Options{Image: "img"}) {
		t.Fatal("first injection reported no change")
	}
	once := pod.DeepCopy()
	if Inject(pod, in, Options{Image: "img"}) {
		t.Error("second injection changed the pod")
	}
	if diff := cmp.Diff(once, pod); diff != "" {
		t.Errorf("second injection changed the pod (-first +second):\n%s", diff)
	}
	if names := []string{pod.Spec.InitContainers[0].Name, pod.Spec.InitContainers[1].Name}; names[0] != ContainerName || names[1] != "migrate" {
		t.Errorf("init containers = %v, want the guard first", names)
	}
	if got := pod.Spec.Containers[0].Env[0]; got.Value != "http://mine" {
		t.Errorf("the app's own OPENAI_BASE_URL was overwritten: %+v", got)
	}
	want := map[string]string{InjectedAnnotation: "chat", ConfigHashAnnotation: "abc", ScrapeAnnotation: "9787"}
	if diff := cmp.Diff(want, pod.Annotations); diff != "" {
		t.Errorf("annotations (-want +got):\n%s", diff)
	}
}
