package managerbench

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/breakwater-dev/breakwater/test/bench/report"
)

// TestRun runs the bench when MANAGERBENCH=short or MANAGERBENCH=full, for working on the bench
// itself (MANAGERBENCH_WORKDIR keeps the logs, MANAGERBENCH_PROFILE=<dir> collects profiles);
// `make bench` is the usual way to run it. Nothing is asserted about the figures.
func TestRun(t *testing.T) {
	mode := os.Getenv("MANAGERBENCH")
	if mode != "short" && mode != "full" {
		t.Skip("set MANAGERBENCH=short or MANAGERBENCH=full to run the manager bench")
	}
	dir := os.Getenv("MANAGERBENCH_WORKDIR")
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "manager")
	}
	figs, err := Run(context.Background(), Options{Short: mode == "short", WorkDir: dir, Log: os.Stderr,
		ProfileDir: os.Getenv("MANAGERBENCH_PROFILE")})
	if err != nil {
		t.Fatal(err)
	}
	if err := report.Print(os.Stderr, figs); err != nil {
		t.Fatal(err)
	}
}
