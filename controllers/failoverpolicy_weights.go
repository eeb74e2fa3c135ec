package controllers

import (
	"fmt"
	"slices"
	"strings"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
)

// writeWeights sets status.weights in the endpoint's target order, and activeTarget.
func writeWeights(p *breakwaterv1alpha1.FailoverPolicy, weights map[string]int32) {
	p.Status.Weights = p.Status.Weights[:0:0]
	best := ""
	for _, tw := range sortedWeights(weights, p) {
		p.Status.Weights = append(p.Status.Weights, tw)
		if best == "" || tw.Weight > weights[best] {
			best = tw.Target
		}
	}
	p.Status.ActiveTarget = best
}

// sortedWeights lists weights with the policy's targets first, in its order of preference, then
// the endpoint's other targets by name, so that status reads the way the policy is written.
func sortedWeights(weights map[string]int32, p *breakwaterv1alpha1.FailoverPolicy) []breakwaterv1alpha1.TargetWeight {
	var out []breakwaterv1alpha1.TargetWeight
	for _, name := range p.Spec.Targets {
		if w, ok := weights[name]; ok {
			out = append(out, breakwaterv1alpha1.TargetWeight{Target: name, Weight: w})
		}
	}
	var rest []string
	for name := range weights {
		if !slices.Contains(p.Spec.Targets, name) {
			rest = append(rest, name)
		}
	}
	slices.Sort(rest)
	for _, name := range rest {
		out = append(out, breakwaterv1alpha1.TargetWeight{Target: name, Weight: weights[name]})
	}
	return out
}

func weightsText(weights map[string]int32, me *breakwaterv1alpha1.ModelEndpoint) string {
	parts := make([]string, 0, len(me.Spec.Targets))
	for _, t := range me.Spec.Targets {
		parts = append(parts, fmt.Sprintf("%s %d", t.Name, weights[t.Name]))
	}
	return strings.Join(parts, ", ")
}
