package controllers

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/log"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/managermetrics"
)

// availability is whether a target can take traffic and why not.
type availability struct {
	available bool
	message   string
}

// targetAvailability asks the catalogue about each bedrock target. Without a catalogue, or when
// it cannot answer, the previous verdict is held (available for a target seen the first time):
// an unreadable catalogue says nothing new about a target.
func targetAvailability(ctx context.Context, src Sources, me *breakwaterv1alpha1.ModelEndpoint) map[string]availability {
	out := map[string]availability{}
	for _, t := range me.Spec.Targets {
		a := availability{available: true}
		for _, old := range me.Status.Targets {
			if old.Name == t.Name {
				a = availability{available: old.Available, message: old.Message}
			}
		}
		if me.Spec.Provider == breakwaterv1alpha1.ProviderBedrock && src.Catalog != nil {
			v, err := src.Catalog.Serves(ctx, t.Region, t.ModelID)
			if err != nil {
				src.ManagerMetrics.SourceError(managermetrics.SourceBedrock)
			}
			switch {
			case err != nil && !v.Stale:
				log.FromContext(ctx).Info("Bedrock catalogue unavailable; holding the target's availability", "target", t.Name, "error", err.Error())
			case v.Serves:
				a = availability{available: true}
			default:
				a = availability{available: false, message: truncate(fmt.Sprintf("%s does not serve %s: %s", t.Region, t.ModelID, v.Reason), maxShiftMessage)}
			}
		}
		out[t.Name] = a
	}
	return out
}
