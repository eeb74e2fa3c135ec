// Command upstreamsim runs the Breakwater upstream simulator as a process
// for the end-to-end demo and benchmarks: one port serving the simulated
// OpenAI-compatible, Bedrock Runtime, SageMaker Runtime, OpenSearch and
// generic search APIs, plus a control API under /_sim/ to change faults
// while it runs. It prints its base URL on the first line of stdout so a
// script can read it.
//
//	upstreamsim -region us-west-2 -access-key-id AKID -output-tokens 32 >sim.out &
//	url=$(head -1 sim.out)
//	curl -X PUT "$url/_sim/faults" -d '{"throttleRate":0.3,"retryAfter":"1s"}'
//	curl "$url/_sim/stats"
//	curl -X PUT "$url/_sim/faults" -d '{}'   # heal
//
// The SigV4 secret and the API key may come from UPSTREAMSIM_SECRET_ACCESS_KEY
// and UPSTREAMSIM_API_KEY instead of flags. It stops on SIGINT or SIGTERM.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/breakwater-dev/breakwater/test/upstreamsim"
)

func main() {
	var (
		opts   upstreamsim.Options
		faults upstreamsim.Faults
	)
	flag.StringVar(&opts.Addr, "addr", "127.0.0.1:0", "listen address")
	flag.StringVar(&opts.Region, "region", "us-east-1", "AWS region this server plays")
	flag.StringVar(&opts.AccessKeyID, "access-key-id", "", "if set, verify SigV4 signatures against this key id (with -secret-access-key)")
	flag.StringVar(&opts.SecretAccessKey, "secret-access-key", "", "secret for SigV4 verification")
	flag.StringVar(&opts.APIKey, "api-key", "", "if set, OpenAI-compatible routes require this bearer token")
	flag.IntVar(&opts.OutputTokens, "output-tokens", 16, "completion tokens per answer")
	flag.IntVar(&opts.Documents, "documents", 50, "documents the search routes hold")
	flag.Int64Var(&opts.Quota.TokensPerMinute, "quota-tokens-per-minute", 0, "provider quota: tokens per rolling minute, reserved as input + max output and settled to usage (0: none)")
	flag.Int64Var(&opts.Quota.RequestsPerMinute, "quota-requests-per-minute", 0, "provider quota: requests per rolling minute (0: none)")
	flag.IntVar(&opts.Quota.MaxOutputTokens, "quota-max-output-tokens", 0, "provider quota: output tokens reserved by a request without max_tokens (0: -output-tokens)")
	flag.DurationVar(&faults.Latency, "latency", 0, "delay before response headers")
	flag.DurationVar(&faults.FirstTokenDelay, "first-token-delay", 0, "streaming: delay before the first content event")
	flag.DurationVar(&faults.TokenInterval, "token-interval", 0, "streaming: delay between content events")
	flag.Float64Var(&faults.ThrottleRate, "throttle-rate", 0, "fraction of requests throttled (429)")
	flag.Float64Var(&faults.ErrorRate, "error-rate", 0, "fraction of requests failed (500/503)")
	flag.IntVar(&faults.ErrorStatus, "error-status", 500, "status of injected errors: 500 or 503")
	flag.DurationVar(&faults.RetryAfter, "retry-after", 0, "Retry-After on throttled answers")
	flag.Float64Var(&faults.ResetRate, "reset-rate", 0, "fraction of requests whose connection is reset")
	flag.IntVar(&faults.StallAfterEvents, "stall-after-events", 0, "streaming: stall after this many content events")
	flag.IntVar(&faults.StreamErrorAfterEvents, "stream-error-after-events", 0, "streaming: send an in-stream error after this many content events")
	flag.IntVar(&faults.ResetAfterEvents, "reset-after-events", 0, "streaming: cut the connection after this many content events")
	flag.IntVar(&faults.OversizedBody, "oversized-body", 0, "pad non-streaming answers to at least this many bytes")
	flag.Parse()

	// Credentials and keys may also come from the environment so they stay
	// out of the process list.
	if opts.SecretAccessKey == "" {
		opts.SecretAccessKey = os.Getenv("UPSTREAMSIM_SECRET_ACCESS_KEY")
	}
	if opts.APIKey == "" {
		opts.APIKey = os.Getenv("UPSTREAMSIM_API_KEY")
	}

	sim := upstreamsim.New(opts)
	sim.SetFaults(faults)
	control := sim.ControlHandler()
	mux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/_sim/") {
			control.ServeHTTP(w, r)
			return
		}
		sim.Handler().ServeHTTP(w, r)
	})

	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		log.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	fmt.Println(url)
	log.Printf("upstreamsim: serving on %s (control API under %s/_sim/)", url, url)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	// Release stalled streams first so closing the server does not wait on
	// them.
	sim.Close()
	_ = srv.Close()
}
