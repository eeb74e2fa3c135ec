package manager

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/breakwater-dev/breakwater/controllers"
	"github.com/breakwater-dev/breakwater/internal/managermetrics"
)

// SetupControllers adds the reconcilers of the five kinds, and the field indexes they look
// references up by, to a manager built by New. The control loops record their metrics
// (internal/managermetrics) in controller-runtime's registry, which the manager's metrics endpoint
// serves, unless src brings metrics of its own.
func SetupControllers(ctx context.Context, mgr ctrl.Manager, src controllers.Sources) error {
	if src.ManagerMetrics == nil {
		m, err := managermetrics.Default()
		if err != nil {
			return fmt.Errorf("registering the manager's metrics: %w", err)
		}
		src.ManagerMetrics = m
	}
	if err := controllers.Setup(ctx, mgr, src); err != nil {
		return fmt.Errorf("setting up the controllers: %w", err)
	}
	return nil
}
