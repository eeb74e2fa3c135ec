// Package localproc starts and stops the real servers that the end-to-end harness, the benchmarks
// and some tests run beside the code under test (Prometheus, the manager, the guards). Each child
// runs in a process group of its own, so stopping it cannot miss a grandchild, and the kernel kills
// it if the parent dies without stopping it; its output goes to a log file whose end is quoted when
// it fails.
package localproc

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Proc is a started child process.
type Proc struct {
	// Name names the process in errors; Log is its log file.
	Name, Log string
	cmd       *exec.Cmd
	done      chan struct{}
	err       error // set before done is closed
}

// Group is the children started together, stopped together in reverse order.
type Group struct {
	// LogDir receives <name>.log of each child.
	LogDir string

	mu    sync.Mutex
	procs []*Proc
}

// Start starts bin with args and the environment of this process plus env.
func (g *Group) Start(name string, env []string, bin string, args ...string) (*Proc, error) {
	if err := os.MkdirAll(g.LogDir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(g.LogDir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child has its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = childSysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s (%s): %w", name, bin, err)
	}
	p := &Proc{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	g.mu.Lock()
	g.procs = append(g.procs, p)
	g.mu.Unlock()
	return p, nil
}

// StopAll stops every child, the newest first, each given grace to exit after SIGTERM.
func (g *Group) StopAll(grace time.Duration) {
	g.mu.Lock()
	procs := g.procs
	g.procs = nil
	g.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Stop(grace)
	}
}

// Done is closed when the child has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Pid is the child's process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Alive returns an error, quoting the end of the log, when the process has exited.
func (p *Proc) Alive() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited (%v); the end of its log %s:\n%s", p.Name, p.err, p.Log, Tail(p.Log, 3000))
	default:
		return nil
	}
}

// Stop sends SIGTERM to the child's process group and SIGKILL after grace; it returns once the
// child has exited. Safe to call more than once and concurrently.
func (p *Proc) Stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.Pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
		<-p.done
	}
}

// WaitHTTP polls url until it answers 200, the process exits, limit passes or ctx ends.
func WaitHTTP(ctx context.Context, p *Proc, url string, limit time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		if err := p.Alive(); err != nil {
			return err
		}
		req, _ := http.NewRequestWithContext(wctx, http.MethodGet, url, http.NoBody)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-wctx.Done():
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("waiting for %s: %w", p.Name, err)
			}
			return fmt.Errorf("%s did not answer %s within %s; the end of its log %s:\n%s", p.Name, url, limit, p.Log, Tail(p.Log, 3000))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// FreeAddr is a loopback host:port whose port was free a moment ago. Another process could take it
// before the child binds it; callers that start servers on it retry on another when that happens.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Tail is the last n bytes of a file, for error messages.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
