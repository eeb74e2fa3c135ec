// Command guardbench runs only the guard half of `make bench` (package guardbench) and prints its
// table; with -out it also writes the figures as JSON. Run it from the repository.
//
//	go run ./test/bench/guardbench/cmd/guardbench -short
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/breakwater-dev/breakwater/test/bench/guardbench"
	"github.com/breakwater-dev/breakwater/test/bench/report"
)

func main() {
	short := flag.Bool("short", false, "smoke run: every figure from very short phases")
	workDir := flag.String("work-dir", "bin/bench/guard", "scratch folder for binaries, configs, logs and profiles")
	out := flag.String("out", "", "also write the figures to this JSON file")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	figs, err := guardbench.Run(ctx, guardbench.Options{Short: *short, WorkDir: *workDir, Log: os.Stderr})
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_ = report.Print(os.Stdout, figs)
	if *out != "" {
		if err := report.Write(*out, figs); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
