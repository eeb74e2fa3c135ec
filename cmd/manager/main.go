// Command manager runs Breakwater's operator: the reconcilers of the five kinds, the guard-injecting
// admission webhook and the control loops. Flags are documented in docs/manager.md.
package main

import (
	"flag"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/breakwater-dev/breakwater/internal/manager"
)

func main() {
	var opts manager.Options
	opts.BindFlags(flag.CommandLine)
	var sourceOpts manager.SourceOptions
	sourceOpts.BindFlags(flag.CommandLine)
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")

	// SetupSignalHandler cancels the context on SIGTERM/SIGINT; the manager then stops its
	// controllers and servers within --graceful-shutdown-timeout.
	ctx := ctrl.SetupSignalHandler()
	mgr, err := manager.New(ctrl.GetConfigOrDie(), opts)
	if err != nil {
		log.Error(err, "Unable to set up the manager")
		os.Exit(1)
	}
	sources, err := sourceOpts.Sources(ctx)
	if err != nil {
		log.Error(err, "Unable to set up the metric sources")
		os.Exit(1)
	}
	sources.Admission = opts.AdmissionStore()
	if err := manager.SetupControllers(ctx, mgr, sources); err != nil {
		log.Error(err, "Unable to set up the controllers")
		os.Exit(1)
	}
	if err := manager.SetupWebhook(mgr, opts); err != nil {
		log.Error(err, "Unable to set up the guard injection webhook")
		os.Exit(1)
	}
	log.Info("Starting the manager", "leaderElection", opts.LeaderElect, "metrics", opts.MetricsAddr)
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "The manager stopped with an error")
		os.Exit(1)
	}
}
