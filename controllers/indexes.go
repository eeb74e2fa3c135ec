package controllers

import (
	"context"
	"fmt"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
)

// Field indexes on references, so that a change to one object finds the objects naming it with one
// indexed cache lookup instead of a list of everything.
const (
	// indexWorkloadEndpoints indexes GenAIWorkloads by spec.modelEndpoints[].name.
	indexWorkloadEndpoints = "spec.modelEndpoints.name"
	// indexWorkloadBackends indexes GenAIWorkloads by spec.retrievalBackends[].name.
	indexWorkloadBackends = "spec.retrievalBackends.name"
	// indexWorkloadRef indexes GenAIWorkloads by "<kind>/<name>" of spec.workloadRef.
	indexWorkloadRef = "spec.workloadRef"
	// indexQuotaEndpoints indexes TokenQuotas by spec.endpoints[].name.
	indexQuotaEndpoints = "spec.endpoints.name"
	// indexPolicyEndpoint indexes FailoverPolicies by spec.endpointRef.name.
	indexPolicyEndpoint = "spec.endpointRef.name"
)

func refNames(refs []breakwaterv1alpha1.LocalObjectReference) []string {
	names := make([]string, 0, len(refs))
	for _, r := range refs {
		names = append(names, r.Name)
	}
	return names
}

// workloadRefKey is the indexWorkloadRef value of a Deployment or StatefulSet.
func workloadRefKey(kind, name string) string {
	if kind == "" {
		kind = "Deployment"
	}
	return kind + "/" + name
}

// setupIndexes registers every field index the reconcilers look objects up by.
func setupIndexes(ctx context.Context, indexer client.FieldIndexer) error {
	indexes := []struct {
		obj     client.Object
		field   string
		extract client.IndexerFunc
	}{
		{&breakwaterv1alpha1.GenAIWorkload{}, indexWorkloadEndpoints, func(o client.Object) []string {
			return refNames(o.(*breakwaterv1alpha1.GenAIWorkload).Spec.ModelEndpoints)
		}},
		{&breakwaterv1alpha1.GenAIWorkload{}, indexWorkloadBackends, func(o client.Object) []string {
			return refNames(o.(*breakwaterv1alpha1.GenAIWorkload).Spec.RetrievalBackends)
		}},
		{&breakwaterv1alpha1.GenAIWorkload{}, indexWorkloadRef, func(o client.Object) []string {
			ref := o.(*breakwaterv1alpha1.GenAIWorkload).Spec.WorkloadRef
			if ref == nil {
				return nil
			}
			return []string{workloadRefKey(ref.Kind, ref.Name)}
		}},
		{&breakwaterv1alpha1.TokenQuota{}, indexQuotaEndpoints, func(o client.Object) []string {
			return refNames(o.(*breakwaterv1alpha1.TokenQuota).Spec.Endpoints)
		}},
		{&breakwaterv1alpha1.FailoverPolicy{}, indexPolicyEndpoint, func(o client.Object) []string {
			return []string{o.(*breakwaterv1alpha1.FailoverPolicy).Spec.EndpointRef.Name}
		}},
	}
	for _, ix := range indexes {
		if err := indexer.IndexField(ctx, ix.obj, ix.field, ix.extract); err != nil {
			return fmt.Errorf("indexing %T by %s: %w", ix.obj, ix.field, err)
		}
	}
	return nil
}

// requestsByIndex lists the objects of list's kind in namespace whose field index holds any of
// values, as reconcile requests.
func requestsByIndex(ctx context.Context, c client.Reader, list client.ObjectList, namespace, field string, values ...string) []reconcile.Request {
	seen := map[reconcile.Request]bool{}
	var reqs []reconcile.Request
	for _, v := range values {
		l := list.DeepCopyObject().(client.ObjectList)
		if err := c.List(ctx, l, client.InNamespace(namespace), client.MatchingFields{field: v}); err != nil {
			// The cache answers these lookups, so an error means a missing index: a programming
			// error, logged rather than retried because a map function cannot return errors.
			log.FromContext(ctx).Error(err, "Listing by index failed", "index", field, "value", v)
			continue
		}
		items, err := apimeta.ExtractList(l)
		if err != nil {
			log.FromContext(ctx).Error(err, "Reading a list failed", "index", field)
			continue
		}
		for _, o := range items {
			r := reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o.(client.Object))}
			if !seen[r] {
				seen[r] = true
				reqs = append(reqs, r)
			}
		}
	}
	return reqs
}
