// Package controllers holds one reconciler per Breakwater kind. Reconcilers are thin: they gather
// inputs, call a pure decision in internal/, and write the result through patches.
package controllers

// The manager reads every Breakwater kind and owns their status; it records Events about them.
// +kubebuilder:rbac:groups=breakwater.dev,resources=modelendpoints;retrievalbackends;tokenquotas;failoverpolicies;genaiworkloads,verbs=get;list;watch
// +kubebuilder:rbac:groups=breakwater.dev,resources=modelendpoints/status;retrievalbackends/status;tokenquotas/status;failoverpolicies/status;genaiworkloads/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
