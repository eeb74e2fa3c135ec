// Command loadgen is the guard benchmark's load generator (see package loadgen): it runs one load
// against one URL and prints what it measured as one JSON line on stdout. In streams mode it first
// prints a line {"mode":"streams","open":N,...} once every stream is open, then holds them for
// -duration and prints the final line.
//
//	loadgen -mode rate -rate 1000 -warmup 1s -duration 10s -url http://127.0.0.1:8787/m/gpt/v1/chat/completions -body body.json
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/breakwater-dev/breakwater/test/bench/guardbench/loadgen"
)

type headers http.Header

func (h headers) String() string { return fmt.Sprint(http.Header(h)) }
func (h headers) Set(v string) error {
	k, val, ok := strings.Cut(v, ":")
	if !ok {
		return fmt.Errorf("header %q is not Name: value", v)
	}
	http.Header(h).Add(strings.TrimSpace(k), strings.TrimSpace(val))
	return nil
}

func main() {
	var (
		cfg      loadgen.Config
		bodyFile string
		sign     loadgen.Signing
		hdr      = headers{}
	)
	flag.StringVar(&cfg.Mode, "mode", loadgen.ModeRate, "rate (open loop), max (closed loop) or streams (hold open streams)")
	flag.StringVar(&cfg.URL, "url", "", "URL to POST to")
	flag.StringVar(&bodyFile, "body", "", "file with the request body")
	flag.Var(hdr, "H", "request header 'Name: value' (repeatable)")
	flag.Float64Var(&cfg.Rate, "rate", 1000, "rate mode: requests per second")
	flag.DurationVar(&cfg.Duration, "duration", 0, "measured time (rate, max); hold time (streams)")
	flag.DurationVar(&cfg.Warmup, "warmup", 0, "time sent but not measured (rate, max)")
	flag.IntVar(&cfg.Concurrency, "concurrency", 64, "max: workers; streams: streams being opened at once")
	flag.IntVar(&cfg.Streams, "streams", 0, "streams: how many to hold open")
	flag.StringVar(&cfg.FirstEvent, "first-event", "", "measure to the end of the first event: sse or eventstream (default: the last byte)")
	flag.StringVar(&sign.Region, "sign-region", "", "sign requests with SigV4 for this region (with -sign-service, -sign-key-id, -sign-secret)")
	flag.StringVar(&sign.Service, "sign-service", "bedrock", "SigV4 service")
	flag.StringVar(&sign.AccessKeyID, "sign-key-id", "", "SigV4 access key id")
	flag.StringVar(&sign.SecretAccessKey, "sign-secret", "", "SigV4 secret access key")
	flag.Parse()

	if cfg.URL == "" || bodyFile == "" {
		fmt.Fprintln(os.Stderr, "loadgen: -url and -body are required")
		os.Exit(2)
	}
	body, err := os.ReadFile(bodyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	cfg.Body = body
	cfg.Header = http.Header(hdr)
	if sign.Region != "" {
		cfg.Sign = &sign
	}
	enc := json.NewEncoder(os.Stdout)
	cfg.Ready = func(r loadgen.Result) { _ = enc.Encode(r) }

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	res, err := loadgen.Run(ctx, cfg)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	_ = enc.Encode(res)
}
