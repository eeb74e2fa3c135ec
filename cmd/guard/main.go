// Command guard is the Breakwater sidecar: a local HTTP proxy between an application and its
// model endpoints and retrieval backends. See docs/guard.md for routes, flags, config and metrics.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/breakwater-dev/breakwater/internal/guard"
	"github.com/breakwater-dev/breakwater/internal/guard/configsource"
	"github.com/breakwater-dev/breakwater/internal/metrics"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr, nil)
	stop()
	os.Exit(code)
}

type options struct {
	configFile      string
	configMap       string
	kubeconfig      string
	listen          string
	adminListen     string
	logLevel        string
	shutdownTimeout time.Duration
	pollInterval    time.Duration
	pprof           bool
}

// newFlagSet registers the guard's flags on a new set that fills o.
func newFlagSet(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("guard", flag.ContinueOnError)
	fs.StringVar(&o.configFile, "config-file", "", "path of the guard config document (JSON); polled for changes")
	fs.StringVar(&o.configMap, "config-configmap", "", "namespace/name of a ConfigMap whose guard.json key is the config; watched through the Kubernetes API")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig for --config-configmap outside a cluster (default: in-cluster service account)")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8787", "address of the app-facing proxy listener (loopback: only the pod's containers reach it)")
	fs.StringVar(&o.adminListen, "admin-listen", ":9787", "address of the admin listener: /metrics, /healthz, /readyz")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long to let in-flight requests (streams included) finish after SIGTERM")
	fs.DurationVar(&o.pollInterval, "config-poll-interval", 2*time.Second, "how often --config-file is checked for changes")
	fs.BoolVar(&o.pprof, "pprof", false, "serve net/http/pprof under /debug/pprof/ on the admin listener (reachable from the pod network: enable only to profile)")
	return fs
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := newFlagSet(&o)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if (o.configFile == "") == (o.configMap == "") {
		return o, errors.New("set exactly one of --config-file and --config-configmap")
	}
	if o.configMap != "" {
		if ns, name, ok := strings.Cut(o.configMap, "/"); !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			return o, fmt.Errorf("--config-configmap must be namespace/name, got %q", o.configMap)
		}
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return o, nil
}

// run is main without the process: it returns the exit code. ready, when not nil, receives the
// bound addresses (app, admin) once both listeners are up (tests use it).
func run(ctx context.Context, args []string, stderr io.Writer, ready func(app, admin string)) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "guard:", err)
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		fmt.Fprintln(stderr, "guard: --log-level:", err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.Register(reg)

	// The default chain: environment, IRSA web identity, EKS Pod Identity, shared files, IMDS.
	// Credentials resolve lazily, so a guard with only OpenAI targets needs none.
	opts := guard.Options{Logger: log, Metrics: m}
	if awsCfg, err := awsconfig.LoadDefaultConfig(ctx); err != nil {
		log.Warn("No AWS config; Bedrock and SageMaker targets will fail", "error", err)
	} else {
		opts.AWSCredentials = awsCfg.Credentials
	}
	g := guard.New(opts)

	appLn, err := net.Listen("tcp", o.listen)
	if err != nil {
		log.Error("Could not listen", "address", o.listen, "error", err)
		return 1
	}
	adminLn, err := net.Listen("tcp", o.adminListen)
	if err != nil {
		appLn.Close()
		log.Error("Could not listen", "address", o.adminListen, "error", err)
		return 1
	}

	srcCtx, stopSource := context.WithCancel(ctx)
	defer stopSource()
	if err := startSource(srcCtx, o, g, log); err != nil {
		log.Error("Could not start the config source", "error", err)
		appLn.Close()
		adminLn.Close()
		return 1
	}

	app := newServer(g, log, appStreams)
	adminHandler := g.Admin(reg)
	if o.pprof {
		adminHandler = withPprof(adminHandler)
		log.Warn("Profiling endpoints enabled on the admin listener", "path", "/debug/pprof/", "adminListen", adminLn.Addr().String())
	}
	admin := newServer(adminHandler, log, adminStreams)
	errs := make(chan error, 2)
	go func() { errs <- app.Serve(appLn) }()
	go func() { errs <- admin.Serve(adminLn) }()
	log.Info("Guard listening", "listen", appLn.Addr().String(), "adminListen", adminLn.Addr().String())
	if ready != nil {
		ready(appLn.Addr().String(), adminLn.Addr().String())
	}

	code := 0
	select {
	case <-ctx.Done():
		log.Info("Shutting down, letting in-flight requests finish", "timeout", o.shutdownTimeout.String())
	case err := <-errs:
		log.Error("Listener failed", "error", err)
		code = 1
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range []*http.Server{app, admin} {
		wg.Go(func() {
			if err := s.Shutdown(shutdownCtx); err != nil {
				log.Warn("In-flight requests did not finish in time", "error", err)
				s.Close()
			}
		})
	}
	wg.Wait()
	stopSource()
	return code
}

// withPprof adds net/http/pprof's handlers under /debug/pprof/ to the admin handler. The server
// has no write timeout, so CPU profiles and traces of any length (?seconds=) complete.
func withPprof(admin http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", admin)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

func startSource(ctx context.Context, o options, g *guard.Guard, log *slog.Logger) error {
	if o.configFile != "" {
		go func() { _ = configsource.WatchFile(ctx, o.configFile, o.pollInterval, g.Load, log) }()
		return nil
	}
	ns, name, _ := strings.Cut(o.configMap, "/")
	var cfg *rest.Config
	var err error
	if o.kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return fmt.Errorf("kubernetes client config: %w", err)
	}
	cfg.UserAgent = "breakwater-guard"
	cms, err := configsource.NewConfigMaps(cfg, ns)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	go func() { _ = configsource.WatchConfigMap(ctx, cms, ns, name, g.Load, log) }()
	return nil
}
