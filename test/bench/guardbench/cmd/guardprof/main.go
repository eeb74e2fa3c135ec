// Command guardprof is the guard as cmd/guard builds it (same guard.Options, logger, registry and
// server settings, config from a file) plus net/http/pprof on its admin listener, so that the
// benchmark can take CPU and heap profiles of the guard under the same load. cmd/guard has no
// profiling endpoint; this stand-in exists only for the benchmark's profile pass, never for figures.
//
//	guardprof -config-file guard.json -listen 127.0.0.1:8787 -admin-listen 127.0.0.1:9787
package main

import (
	"context"
	"flag"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/breakwater-dev/breakwater/internal/guard"
	"github.com/breakwater-dev/breakwater/internal/metrics"
)

func main() {
	configFile := flag.String("config-file", "", "guard config document (JSON), read once")
	listen := flag.String("listen", "127.0.0.1:8787", "app-facing listener")
	adminListen := flag.String("admin-listen", "127.0.0.1:9787", "admin listener: /metrics, /readyz, /debug/pprof/")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	opts := guard.Options{Logger: log, Metrics: metrics.Register(reg)}
	if awsCfg, err := awsconfig.LoadDefaultConfig(ctx); err == nil {
		opts.AWSCredentials = awsCfg.Credentials
	}
	g := guard.New(opts)
	data, err := os.ReadFile(*configFile)
	if err != nil {
		log.Error("Could not read the config", "error", err)
		os.Exit(1)
	}
	if err := g.Load(data); err != nil {
		os.Exit(1)
	}

	admin := http.NewServeMux()
	admin.Handle("/", g.Admin(reg))
	admin.HandleFunc("/debug/pprof/", pprof.Index)
	admin.HandleFunc("/debug/pprof/profile", pprof.Profile)
	app := &http.Server{Addr: *listen, Handler: g, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	adm := &http.Server{Addr: *adminListen, Handler: admin, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = app.ListenAndServe() }()
	go func() { _ = adm.ListenAndServe() }()
	<-ctx.Done()
	_ = app.Close()
	_ = adm.Close()
}
