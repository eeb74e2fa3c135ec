// Command pprofmanager is cmd/manager with Go's profiler served on --pprof-bind-address, for
// managerbench's Options.ProfileDir: cmd/manager has no pprof endpoint (internal/manager does not
// set controller-runtime's PprofBindAddress). Everything else is cmd/manager's main, line for line;
// keep the two in step, or better, give the manager a --pprof-bind-address flag and delete this.
package main

import (
	"flag"
	"net"
	"net/http"
	"net/http/pprof"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/breakwater-dev/breakwater/internal/manager"
)

func main() {
	pprofAddr := flag.String("pprof-bind-address", "127.0.0.1:6060", "Address of net/http/pprof's /debug/pprof/.")
	var opts manager.Options
	opts.BindFlags(flag.CommandLine)
	var sourceOpts manager.SourceOptions
	sourceOpts.BindFlags(flag.CommandLine)
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")

	l, err := net.Listen("tcp", *pprofAddr)
	if err != nil {
		log.Error(err, "Unable to serve pprof")
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	go func() { _ = http.Serve(l, mux) }() //nolint:gosec // loopback, for the bench only

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
