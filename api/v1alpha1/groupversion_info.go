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
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "breakwater.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
