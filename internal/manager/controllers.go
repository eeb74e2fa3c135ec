package manager

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/breakwater-dev/breakwater/controllers"
)

// SetupControllers adds the reconcilers of the five kinds, and the field indexes they look
// references up by, to a manager built by New.
func SetupControllers(ctx context.Context, mgr ctrl.Manager, src controllers.Sources) error {
	if err := controllers.Setup(ctx, mgr, src); err != nil {
		return fmt.Errorf("setting up the controllers: %w", err)
	}
	return nil
}
