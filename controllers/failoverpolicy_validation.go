package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/managermetrics"
)

// validateTargets asks the catalogue whether each bedrock target's region serves its model. A
// target that could not be checked counts as not validated; policy.Failover still lets traffic
// onto it when requireValidatedTargets is false.
func (r *FailoverPolicyReconciler) validateTargets(ctx context.Context, p *breakwaterv1alpha1.FailoverPolicy, me *breakwaterv1alpha1.ModelEndpoint) (map[string]bool, metav1.Condition) {
	validated := map[string]bool{}
	var notServed, unknown, problems []string
	for _, t := range me.Spec.Targets {
		if !slices.Contains(p.Spec.Targets, t.Name) {
			continue
		}
		if me.Spec.Provider != breakwaterv1alpha1.ProviderBedrock {
			validated[t.Name] = true // the catalogue knows Bedrock models only
			continue
		}
		if r.sources.Catalog == nil {
			unknown = append(unknown, t.Name)
			continue
		}
		v, err := r.sources.Catalog.Serves(ctx, t.Region, t.ModelID)
		if err != nil {
			r.sources.ManagerMetrics.SourceError(managermetrics.SourceBedrock)
		}
		switch {
		case err != nil && !v.Stale:
			unknown = append(unknown, t.Name)
			problems = append(problems, fmt.Sprintf("%s: %v", t.Name, err))
		case !v.Serves:
			notServed = append(notServed, t.Name)
			problems = append(problems, fmt.Sprintf("%s: %s", t.Name, v.Reason))
		default:
			validated[t.Name] = true
		}
	}
	cond := metav1.Condition{Type: breakwaterv1alpha1.ConditionTargetsValidated, Status: metav1.ConditionTrue, Reason: breakwaterv1alpha1.ReasonTargetsServed,
		Message: fmt.Sprintf("Targets %s serve their models in their regions", namesList(p.Spec.Targets))}
	if me.Spec.Provider != breakwaterv1alpha1.ProviderBedrock {
		cond.Message = fmt.Sprintf("No catalogue applies to %s targets; every target is a possible destination", me.Spec.Provider)
	}
	onto := "traffic is never moved onto them"
	if requireValidated := p.Spec.RequireValidatedTargets; requireValidated != nil && !*requireValidated {
		onto = "requireValidatedTargets is false, so traffic may still move onto them"
	}
	switch {
	case len(notServed) > 0:
		cond.Status, cond.Reason = metav1.ConditionFalse, breakwaterv1alpha1.ReasonTargetNotServed
		cond.Message = fmt.Sprintf("Targets %s do not serve their model (%s); %s", namesList(notServed), strings.Join(problems, "; "), onto)
	case len(unknown) > 0:
		why := "no Bedrock catalogue is configured"
		if len(problems) > 0 {
			why = strings.Join(problems, "; ")
		}
		cond.Status, cond.Reason = metav1.ConditionUnknown, breakwaterv1alpha1.ReasonValidationUnavailable
		cond.Message = fmt.Sprintf("Targets %s could not be validated (%s); %s", namesList(unknown), why, onto)
	}
	return validated, cond
}
