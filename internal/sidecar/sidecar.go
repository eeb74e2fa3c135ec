// Package sidecar builds the guard container that runs beside a GenAIWorkload's application
// containers, and injects it into a pod. The admission webhook and anything else that needs the guard
// container call this one builder, so the pod and the guard's config never disagree about ports,
// paths or flags.
package sidecar

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
)

const (
	// ContainerName is the name of the injected guard container.
	ContainerName = "breakwater-guard"
	// ListenPort is the guard's app-facing port, on the pod's loopback only.
	ListenPort = 8787
	// AdminPort serves /metrics, /healthz and /readyz.
	AdminPort = 9787
	// GuardURL is where the application reaches the guard.
	GuardURL = "http://127.0.0.1:8787"

	// InjectedAnnotation marks an injected pod with its GenAIWorkload's name; a pod that carries it
	// is never injected again.
	InjectedAnnotation = "breakwater.dev/injected"
	// ConfigHashAnnotation carries the hash of the guard config the pod was injected with, so a
	// config change is visible on the pod.
	ConfigHashAnnotation = "breakwater.dev/config-hash"
	// WorkloadLabel marks an injected pod with its GenAIWorkload's name, so the manager can watch
	// just those pods (to count them and to learn their ServiceAccounts).
	WorkloadLabel = "breakwater.dev/workload"
	// ScrapeAnnotation tells annotation-based Prometheus setups where the guard's metrics are.
	ScrapeAnnotation = "prometheus.io/port"

	// SecretsRoot is where API-key Secrets are mounted in the guard, one folder per Secret.
	SecretsRoot = "/var/run/breakwater/secrets"
	// serviceAccountMount is where client-go's in-cluster config looks for the token.
	serviceAccountMount = "/var/run/secrets/kubernetes.io/serviceaccount"
	// nonRootUID is distroless' nonroot user.
	nonRootUID = 65532
)

// SecretFile is the path at which the guard reads key of Secret name. The manager renders this path
// into the guard config (apiKeyFile) and the injected pod mounts the Secret there.
func SecretFile(name, key string) string { return path.Join(SecretsRoot, name, key) }

// AdmissionSecretName is the Secret the manager copies the admission store's credentials into,
// next to a workload, for its guards to mount.
func AdmissionSecretName(workload string) string { return workload + "-guard-admission" }

// admissionVolumeName is the pod volume of the admission store's Secret.
const admissionVolumeName = "breakwater-admission-store"

// Options are the cluster-wide settings of injection (manager flags).
type Options struct {
	// Image of the guard; the manager's own image, which holds /guard.
	Image string
	// ImagePullPolicy of the guard container.
	ImagePullPolicy corev1.PullPolicy
	// AdmissionSecret mounts the workload's copy of the admission store's Secret (the manager has a
	// store with credentials). Optional in the pod: a pod created before the copy starts, and its
	// guard picks the files up once the kubelet writes them.
	AdmissionSecret bool
}

// Input is what one workload's guard needs.
type Input struct {
	Workload *breakwaterv1alpha1.GenAIWorkload
	// ConfigMapName holds the workload's rendered guard config, in the workload's namespace.
	ConfigMapName string
	// ConfigHash is the hash of that config ("" before the first render).
	ConfigHash string
	// Providers maps each ModelEndpoint the workload may call to its provider; it decides which SDK
	// environment variables can safely point at the guard.
	Providers map[string]breakwaterv1alpha1.Provider
	// Secrets are the API-key Secret keys the workload's endpoints use.
	Secrets []breakwaterv1alpha1.SecretKeyReference
}

// DefaultResources are the guard's resources when the workload sets none: the guard is a small
// proxy, and a memory limit bounds a leak to the guard itself.
func DefaultResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("50m"),
			corev1.ResourceMemory: resource.MustParse("32Mi"),
		},
		Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
	}
}

// Container returns the guard container: a native sidecar (an init container with restartPolicy
// Always), so it starts before the application — its startup probe waits for a loaded config — and
// stops after it.
func Container(in Input, o Options) corev1.Container {
	wl := in.Workload
	resources := DefaultResources()
	if wl.Spec.Guard.Resources != nil {
		resources = *wl.Spec.Guard.Resources.DeepCopy()
	}
	logLevel := wl.Spec.Guard.LogLevel
	if logLevel == "" {
		logLevel = "info"
	}
	c := corev1.Container{
		Name:            ContainerName,
		Image:           o.Image,
		ImagePullPolicy: o.ImagePullPolicy,
		Command:         []string{"/guard"},
		Args: []string{
			"--config-configmap=" + wl.Namespace + "/" + in.ConfigMapName,
			fmt.Sprintf("--listen=127.0.0.1:%d", ListenPort),
			fmt.Sprintf("--admin-listen=:%d", AdminPort),
			"--log-level=" + logLevel,
		},
		RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
		Ports: []corev1.ContainerPort{
			{Name: "guard-admin", ContainerPort: AdminPort, Protocol: corev1.ProtocolTCP},
		},
		Resources: resources,
		StartupProbe: &corev1.Probe{
			ProbeHandler:     readyz(),
			PeriodSeconds:    1,
			FailureThreshold: 60,
		},
		ReadinessProbe: &corev1.Probe{ProbeHandler: readyz(), PeriodSeconds: 10},
		LivenessProbe: &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: adminPort()}},
			PeriodSeconds:    10,
			FailureThreshold: 3,
		},
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr.To(true),
			RunAsUser:                ptr.To[int64](nonRootUID),
			RunAsGroup:               ptr.To[int64](nonRootUID),
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	for _, s := range secretNames(in.Secrets) {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{
			Name: secretVolumeName(s), MountPath: path.Join(SecretsRoot, s), ReadOnly: true,
		})
	}
	return c
}

func adminPort() intstr.IntOrString { return intstr.FromInt32(AdminPort) }

func readyz() corev1.ProbeHandler {
	return corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: adminPort()}}
}

// Volumes returns the volumes the guard container mounts: each API-key Secret, limited to the keys
// the endpoints use, read-only.
func Volumes(in Input) []corev1.Volume {
	keys := map[string][]string{}
	for _, s := range in.Secrets {
		key := s.Key
		if key == "" {
			key = "api-key"
		}
		if !slices.Contains(keys[s.Name], key) {
			keys[s.Name] = append(keys[s.Name], key)
		}
	}
	var vols []corev1.Volume
	for _, name := range secretNames(in.Secrets) {
		var items []corev1.KeyToPath
		for _, k := range keys[name] {
			items = append(items, corev1.KeyToPath{Key: k, Path: k})
		}
		vols = append(vols, corev1.Volume{
			Name: secretVolumeName(name),
			VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: name, Items: items, DefaultMode: ptr.To[int32](0o440),
			}},
		})
	}
	return vols
}

// AppEnv returns the environment variables that point common SDKs at the guard. They are set only
// where that is unambiguous: one endpoint of a provider (two OpenAI endpoints cannot share
// OPENAI_BASE_URL), and never over a variable the application already sets.
func AppEnv(in Input) []corev1.EnvVar {
	byProvider := map[breakwaterv1alpha1.Provider][]string{}
	for name, p := range in.Providers {
		byProvider[p] = append(byProvider[p], name)
	}
	env := []corev1.EnvVar{{Name: "BREAKWATER_GUARD_URL", Value: GuardURL}}
	if eps := byProvider[breakwaterv1alpha1.ProviderOpenAI]; len(eps) == 1 {
		env = append(env, corev1.EnvVar{Name: "OPENAI_BASE_URL", Value: GuardURL + "/m/" + eps[0] + "/v1"})
	}
	if eps := byProvider[breakwaterv1alpha1.ProviderBedrock]; len(eps) == 1 {
		// Service-specific endpoint variable of the AWS SDKs and CLI.
		env = append(env, corev1.EnvVar{Name: "AWS_ENDPOINT_URL_BEDROCK_RUNTIME", Value: GuardURL + "/m/" + eps[0]})
	}
	if eps := byProvider[breakwaterv1alpha1.ProviderSageMaker]; len(eps) == 1 {
		env = append(env, corev1.EnvVar{Name: "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", Value: GuardURL + "/m/" + eps[0]})
	}
	return env
}

// Inject adds the guard to pod, the Secret volumes, the SDK environment of the application
// containers and the annotations. It reports false, changing nothing, when the pod already has a
// guard: admission may run more than once for the same pod.
func Inject(pod *corev1.Pod, in Input, o Options) bool {
	if _, done := pod.Annotations[InjectedAnnotation]; done {
		return false
	}
	for _, c := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		if c.Name == ContainerName {
			return false
		}
	}
	guard := Container(in, o)
	if pod.Spec.AutomountServiceAccountToken != nil && !*pod.Spec.AutomountServiceAccountToken {
		// The application opted out of the API token, but the guard needs one to watch its config:
		// mount a projected token into the guard alone. A projected token needs a ServiceAccount
		// name; "default" is what the ServiceAccount admission plugin would fill in.
		if pod.Spec.ServiceAccountName == "" {
			pod.Spec.ServiceAccountName = "default"
		}
		pod.Spec.Volumes = append(pod.Spec.Volumes, serviceAccountVolume())
		guard.VolumeMounts = append(guard.VolumeMounts, corev1.VolumeMount{
			Name: serviceAccountVolumeName, MountPath: serviceAccountMount, ReadOnly: true,
		})
	}
	// First among the init containers, so the guard is up before any other init container or the
	// application calls a model.
	pod.Spec.InitContainers = append([]corev1.Container{guard}, pod.Spec.InitContainers...)
	pod.Spec.Volumes = append(pod.Spec.Volumes, Volumes(in)...)
	if o.AdmissionSecret {
		name := AdmissionSecretName(in.Workload.Name)
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{
			Name: admissionVolumeName,
			VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: name, DefaultMode: ptr.To[int32](0o440), Optional: ptr.To(true),
			}},
		})
		pod.Spec.InitContainers[0].VolumeMounts = append(pod.Spec.InitContainers[0].VolumeMounts, corev1.VolumeMount{
			Name: admissionVolumeName, MountPath: path.Join(SecretsRoot, name), ReadOnly: true,
		})
	}
	appEnv := AppEnv(in)
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		for _, e := range appEnv {
			if !slices.ContainsFunc(c.Env, func(have corev1.EnvVar) bool { return have.Name == e.Name }) {
				c.Env = append(c.Env, e)
			}
		}
	}
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[WorkloadLabel] = in.Workload.Name
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[InjectedAnnotation] = in.Workload.Name
	if in.ConfigHash != "" {
		pod.Annotations[ConfigHashAnnotation] = in.ConfigHash
	}
	if _, set := pod.Annotations[ScrapeAnnotation]; !set {
		pod.Annotations[ScrapeAnnotation] = fmt.Sprint(AdminPort)
	}
	return true
}

const serviceAccountVolumeName = "breakwater-guard-token"

func serviceAccountVolume() corev1.Volume {
	return corev1.Volume{
		Name: serviceAccountVolumeName,
		VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			DefaultMode: ptr.To[int32](0o444),
			Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](3607)}},
				{ConfigMap: &corev1.ConfigMapProjection{
					LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
					Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
				}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{
					Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"},
				}}}},
			},
		}},
	}
}

// secretNames lists the distinct Secret names in order of first use.
func secretNames(refs []breakwaterv1alpha1.SecretKeyReference) []string {
	var names []string
	for _, r := range refs {
		if !slices.Contains(names, r.Name) {
			names = append(names, r.Name)
		}
	}
	return names
}

// secretVolumeName is a valid volume name (a DNS label) for any Secret name, which may be longer
// than a label or contain dots.
func secretVolumeName(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "bw-secret-" + hex.EncodeToString(sum[:])[:16]
}

// ConfigMapName is the name of the ConfigMap holding a workload's rendered guard config.
func ConfigMapName(workload string) string { return workload + "-guard" }
