package managerbench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// process is a child the bench started: Prometheus or the manager. It runs in a process group of
// its own, so stopping it cannot miss a child.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	err     error // set before exited is closed
}

// startProcess starts bin with args, its output going to logPath.
func startProcess(name, bin, logPath string, args ...string) (*process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childSysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s (%s): %w", name, bin, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// alive returns an error when the process has exited.
func (p *process) alive() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s exited (%v); the end of its log %s:\n%s", p.name, p.err, p.logPath, tail(p.logPath))
	default:
		return nil
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after grace. Safe to call twice.
func (p *process) stop(grace time.Duration) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		<-p.exited
	}
}

// waitHTTP polls url until it answers 200, the process exits or ctx ends.
func waitHTTP(parent context.Context, p *process, url string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(parent, limit)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := p.alive(); err != nil {
			return err
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if err := parent.Err(); err != nil {
				return fmt.Errorf("waiting for %s: %w", p.name, err)
			}
			return fmt.Errorf("%s did not answer %s within %s; the end of its log %s:\n%s", p.name, url, limit, p.logPath, tail(p.logPath))
		case <-tick.C:
		}
	}
}

// freeAddr is a loopback address whose port was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// tail is the end of a log file, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	const keep = 3000
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return string(b)
}

// prometheusBinary finds Prometheus: $PROMETHEUS (the Makefile sets it from hack/prometheus.sh),
// then PATH.
func prometheusBinary() (string, error) {
	if p := os.Getenv("PROMETHEUS"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("PROMETHEUS=%s: %w; run hack/prometheus.sh", p, err)
		}
		return p, nil
	}
	p, err := exec.LookPath("prometheus")
	if err != nil {
		return "", errors.New("no prometheus on PATH and PROMETHEUS is not set: run hack/prometheus.sh, which installs Debian's package")
	}
	return p, nil
}

// startPrometheus runs a real Prometheus on a free loopback port with an empty scrape config: no
// guard runs here, but the manager's control loops query it as they would in production (and get
// no data). Retries on another port when the one picked was taken meanwhile.
func startPrometheus(ctx context.Context, dir string) (*process, string, error) {
	bin, err := prometheusBinary()
	if err != nil {
		return nil, "", err
	}
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, []byte("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs: []\n"), 0o644); err != nil {
		return nil, "", err
	}
	var lastErr error
	for attempt := range 3 {
		addr, err := freeAddr()
		if err != nil {
			return nil, "", err
		}
		data := filepath.Join(dir, fmt.Sprintf("prometheus-data-%d", attempt))
		_ = os.RemoveAll(data)
		p, err := startProcess("prometheus", bin, filepath.Join(dir, fmt.Sprintf("prometheus-%d.log", attempt)),
			"--config.file="+config, "--storage.tsdb.path="+data, "--web.listen-address="+addr, "--log.level=warn")
		if err != nil {
			return nil, "", err
		}
		url := "http://" + addr
		if err := waitHTTP(ctx, p, url+"/-/ready", 30*time.Second); err != nil {
			p.stop(5 * time.Second)
			lastErr = err
			continue
		}
		return p, url, nil
	}
	return nil, "", fmt.Errorf("starting Prometheus: %w", lastErr)
}

// readMemory reads a process's resident set.
func readMemory(pid int) (memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	defer f.Close()
	return parseProcStatus(f)
}
