// Package v1alpha1 holds the Breakwater API: ModelEndpoint, RetrievalBackend, TokenQuota,
// FailoverPolicy and GenAIWorkload in the group breakwater.dev.
//
// Types only: documented fields, validation markers, CEL rules and condition constants. Nothing here
// imports controllers or the guard.
//
// +kubebuilder:object:generate=true
// +groupName=breakwater.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "breakwater.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme. It comes from
	// apimachinery, as in k8s.io/api, so that importing the types does not link controller-runtime.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&ModelEndpoint{}, &ModelEndpointList{},
		&RetrievalBackend{}, &RetrievalBackendList{},
		&TokenQuota{}, &TokenQuotaList{},
		&FailoverPolicy{}, &FailoverPolicyList{},
		&GenAIWorkload{}, &GenAIWorkloadList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
