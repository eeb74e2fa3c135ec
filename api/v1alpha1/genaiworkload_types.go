package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WorkloadState is whether a workload is serving normally or has been shed.
// +kubebuilder:validation:Enum=Active;Shed
type WorkloadState string

const (
	// WorkloadActive means the workload runs at its own replica count.
	WorkloadActive WorkloadState = "Active"
	// WorkloadShed means a TokenQuota scaled the workload down (or refuses its calls); its replicas are
	// remembered in status.rememberedReplicas and restored when the pressure is gone.
	WorkloadShed WorkloadState = "Shed"
)

// GenAIWorkloadSpec declares an application that calls models and retrieval backends through the guard.
// +kubebuilder:validation:XValidation:rule="has(self.workloadRef) || has(self.selector)",message="set workloadRef (the Deployment or StatefulSet to protect) or selector (the pods to protect)"
// +kubebuilder:validation:XValidation:rule="self.modelEndpoints.size() + self.retrievalBackends.size() > 0",message="name at least one entry in modelEndpoints or retrievalBackends for the guard to protect"
type GenAIWorkloadSpec struct {
	// workloadRef is the Deployment or StatefulSet whose pods get the guard, and which Breakwater
	// scales down when the workload is shed. Needed for shedding.
	// +optional
	WorkloadRef *WorkloadReference `json:"workloadRef,omitempty"`

	// selector picks the pods that get the guard when there is no workloadRef, or narrows the
	// workloadRef's pods.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`

	// criticality orders shedding under quota pressure: sheddable first, then standard; critical is
	// never shed. Default: standard.
	// +optional
	// +kubebuilder:default=standard
	Criticality Criticality `json:"criticality,omitempty"`

	// modelEndpoints are the ModelEndpoints (in this namespace) the workload may call through the
	// guard, at /m/<name>/.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:default={}
	ModelEndpoints []LocalObjectReference `json:"modelEndpoints"`

	// retrievalBackends are the RetrievalBackends (in this namespace) the workload may call through
	// the guard, at /r/<name>/.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:default={}
	RetrievalBackends []LocalObjectReference `json:"retrievalBackends"`

	// shedding says how far the workload is scaled down when it is shed.
	// +optional
	// +kubebuilder:default={}
	Shedding SheddingPolicy `json:"shedding,omitzero"`

	// guard sets the injected guard container.
	// +optional
	// +kubebuilder:default={}
	Guard GuardSettings `json:"guard,omitzero"`
}

// WorkloadReference names a scalable workload in the same namespace.
type WorkloadReference struct {
	// kind is Deployment or StatefulSet. Default: Deployment.
	// +optional
	// +kubebuilder:default=Deployment
	// +kubebuilder:validation:Enum=Deployment;StatefulSet
	Kind string `json:"kind,omitempty"`

	// name of the Deployment or StatefulSet.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
}

// SheddingPolicy says how far a shed workload is scaled down.
type SheddingPolicy struct {
	// minReplicas is the floor a shed workload is scaled down to; 0 stops it. Default: 0.
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	MinReplicas *int32 `json:"minReplicas,omitempty"`
}

// GuardSettings set the injected guard container.
type GuardSettings struct {
	// resources of the guard container. Default: requests cpu 50m and memory 32Mi, limit memory 128Mi.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// logLevel of the guard: debug, info, warn or error. Default: info.
	// +optional
	// +kubebuilder:default=info
	// +kubebuilder:validation:Enum=debug;info;warn;error
	LogLevel string `json:"logLevel,omitempty"`
}

// GenAIWorkloadStatus is what the manager observed of a GenAIWorkload and did to it.
type GenAIWorkloadStatus struct {
	// conditions: Ready (every reference resolved and the guard config rendered), ConfigRendered,
	// Shed.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation of the spec this status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// state is Active or Shed.
	// +optional
	State WorkloadState `json:"state,omitempty"`

	// injectedPods is how many of the workload's pods run the guard.
	// +optional
	// +kubebuilder:validation:Minimum=0
	InjectedPods int32 `json:"injectedPods,omitempty"`

	// rememberedReplicas is the replica count the workload had before it was shed; it is restored
	// from here (and from the workload's annotation) when the pressure is gone.
	// +optional
	// +kubebuilder:validation:Minimum=0
	RememberedReplicas *int32 `json:"rememberedReplicas,omitempty"`

	// configMapName is the ConfigMap holding the workload's rendered guard config.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ConfigMapName string `json:"configMapName,omitempty"`

	// configHash is the hash of the rendered guard config, also set on injected pods.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ConfigHash string `json:"configHash,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=gw,categories=breakwater
// +kubebuilder:printcolumn:name="Criticality",type=string,JSONPath=`.spec.criticality`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Pods",type=integer,JSONPath=`.status.injectedPods`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// GenAIWorkload is an application that calls models and retrieval backends: which pods it is, how
// critical it is, and what it may call through the guard sidecar Breakwater injects into its pods.
type GenAIWorkload struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired workload.
	// +required
	Spec GenAIWorkloadSpec `json:"spec"`

	// status is what the manager observed and did.
	// +optional
	Status GenAIWorkloadStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// GenAIWorkloadList is a list of GenAIWorkloads.
type GenAIWorkloadList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []GenAIWorkload `json:"items"`
}
