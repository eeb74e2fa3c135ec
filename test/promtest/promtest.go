// Package promtest provides a real Prometheus server (Debian's package, through hack/prometheus.sh)
// and promtool to the tests, the end-to-end harness and the benchmarks: the binary lookup and the
// start-and-wait they all need, in one place.
package promtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/breakwater-dev/breakwater/test/localproc"
	"github.com/breakwater-dev/breakwater/test/testenv"
)

// Binary finds Prometheus: $PROMETHEUS, then PATH, then hack/prometheus.sh (testenv.Tool).
func Binary() (string, error) {
	return testenv.Tool("PROMETHEUS", "prometheus", "prometheus.sh")
}

// Promtool finds promtool: $PROMTOOL, then beside the Prometheus binary (Debian's package ships
// both), then PATH.
func Promtool() (string, error) {
	if p := os.Getenv("PROMTOOL"); p != "" {
		return p, nil
	}
	if bin, err := Binary(); err == nil {
		if p := filepath.Join(filepath.Dir(bin), "promtool"); isExecutable(p) {
			return p, nil
		}
	}
	if p, err := exec.LookPath("promtool"); err == nil {
		return p, nil
	}
	return "", errors.New("no promtool: set PROMTOOL, or run hack/prometheus.sh (Debian's prometheus package ships it)")
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// Server is a running Prometheus.
type Server struct {
	// URL is its base URL, e.g. http://127.0.0.1:41234.
	URL  string
	Proc *localproc.Proc
}

// Start runs Prometheus with config (a prometheus.yml document) in dir, on a free loopback port,
// as a child of g, and waits until it is ready. It tries another port when the one picked was taken
// meanwhile.
func Start(ctx context.Context, g *localproc.Group, dir, config string) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := range 3 {
		addr, err := localproc.FreeAddr()
		if err != nil {
			return nil, err
		}
		data := filepath.Join(dir, fmt.Sprintf("data-%d", attempt))
		_ = os.RemoveAll(data)
		p, err := g.Start(fmt.Sprintf("prometheus-%d", attempt), nil, bin, "--config.file="+cfgPath,
			"--storage.tsdb.path="+data, "--web.listen-address="+addr, "--storage.tsdb.retention.time=1h", "--log.level=warn")
		if err != nil {
			return nil, err
		}
		s := &Server{URL: "http://" + addr, Proc: p}
		if lastErr = localproc.WaitHTTP(ctx, p, s.URL+"/-/ready", 30*time.Second); lastErr == nil {
			return s, nil
		}
		p.Stop(5 * time.Second)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("starting Prometheus: %w", lastErr)
}
