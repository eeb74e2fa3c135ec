package guardbench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// CPUs the processes are pinned to: the proxy under test alone on one, the load generator and the
// simulated upstream on the other.
const (
	proxyCPU = "0"
	loadCPU  = "1"
)

// proc is a process the benchmark started. Each is started in a process group of its own so that
// stopping it also stops what it forked (nginx's worker).
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// procs tracks every process of a run so that all of them are stopped whatever happens.
type procs struct {
	logDir string
	mu     sync.Mutex
	list   []*proc
	// stopping is held while stopAll runs, so that a second call (the deferred one after a
	// cancellation started the first) returns only once every process is gone.
	stopping sync.Mutex
}

// start starts bin pinned to cpu with taskset (which execs it, so the pid is the program's own).
// Its stderr, and its stdout unless stdout is given, go to logDir/name.log.
func (ps *procs) start(name, cpu string, env []string, stdout io.Writer, bin string, args ...string) (*proc, error) {
	logFile, err := os.Create(filepath.Join(ps.logDir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("taskset", append([]string{"-c", cpu, bin}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = logFile
	cmd.Stdout = logFile
	if stdout != nil {
		cmd.Stdout = stdout
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	ps.mu.Lock()
	ps.list = append(ps.list, p)
	ps.mu.Unlock()
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// stop ends one process and its group: SIGTERM, then SIGKILL after a grace period.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	pgid := p.pid()
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// The group may hold children that outlived their parent (nginx workers): end them too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// stopAll stops every process started, newest first.
func (ps *procs) stopAll() {
	ps.stopping.Lock()
	defer ps.stopping.Unlock()
	ps.mu.Lock()
	list := ps.list
	ps.list = nil
	ps.mu.Unlock()
	var wg sync.WaitGroup
	for i := len(list) - 1; i >= 0; i-- {
		wg.Go(list[i].stop)
	}
	wg.Wait()
}

// logTail returns the last lines of a process's log, for error messages.
func (ps *procs) logTail(name string) string {
	b, err := os.ReadFile(filepath.Join(ps.logDir, name+".log"))
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, "\n")
}

// firstLine starts a process whose first stdout line is its URL (the simulator, goproxy) and returns it.
func (ps *procs) startWithURL(ctx context.Context, name, cpu string, env []string, bin string, args ...string) (*proc, string, error) {
	pr, pw := io.Pipe()
	p, err := ps.start(name, cpu, env, pw, bin, args...)
	if err != nil {
		return nil, "", err
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, pr) // keep draining so the process never blocks on stdout
	}()
	go func() { <-p.done; pw.Close() }()
	select {
	case url, ok := <-lines:
		if ok && strings.HasPrefix(url, "http://") {
			return p, url, nil
		}
		return nil, "", fmt.Errorf("%s did not print its URL: %s", name, ps.logTail(name))
	case <-time.After(15 * time.Second):
		return nil, "", fmt.Errorf("%s did not print its URL within 15s", name)
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
}

// freePort returns a loopback address that was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitHTTP polls url until it answers want, the process ends or the time is up.
func waitHTTP(ctx context.Context, p *proc, url string, want int, within time.Duration) error {
	deadline := time.Now().Add(within)
	client := &http.Client{Timeout: time.Second}
	var last string
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited: %v", p.name, p.err)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == want {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s: %s did not answer %d within %s (last: %s)", p.name, url, want, within, last)
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100 on every Linux
// architecture Go supports except alpha and ia64.
const clockTicks = 100

// cpuSeconds is the CPU time (user + system) process pid and its threads have used.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime and stime (fields 14 and 15) from a /proc/PID/stat line; the command
// name (field 2) is in parentheses and may hold spaces, so fields are counted after the last ')'.
func parseStatCPU(stat string) (float64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat line")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 13 {
		return 0, errors.New("short /proc stat line")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed utime/stime in /proc stat line")
	}
	return float64(ut+st) / clockTicks, nil
}

// cpuSecondsTree is cpuSeconds of pid plus its direct children (nginx's worker).
func cpuSecondsTree(pid int) (float64, error) {
	total, err := cpuSeconds(pid)
	if err != nil {
		return 0, err
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return total, nil // no children file in this kernel: the process alone
	}
	for _, f := range strings.Fields(string(b)) {
		if child, err := strconv.Atoi(f); err == nil {
			if c, err := cpuSeconds(child); err == nil {
				total += c
			}
		}
	}
	return total, nil
}

// cpuBusySeconds is the time CPU cpu (e.g. "0") has spent busy, whoever ran on it, from /proc/stat.
func cpuBusySeconds(cpu string) (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return parseCPUBusy(string(b), "cpu"+cpu)
}

// parseCPUBusy sums user, nice, system, irq, softirq and steal of one cpuN line of /proc/stat.
func parseCPUBusy(stat, name string) (float64, error) {
	for line := range strings.SplitSeq(stat, "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || f[0] != name {
			continue
		}
		var busy uint64
		for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system [idle iowait] irq softirq steal
			v, err := strconv.ParseUint(f[i], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/stat %s: %w", name, err)
			}
			busy += v
		}
		return float64(busy) / clockTicks, nil
	}
	return 0, fmt.Errorf("no %s line in /proc/stat", name)
}

// procStatus returns fields of /proc/PID/status in MiB (VmRSS, RssAnon, RssFile...).
func procStatus(pid int, fields ...string) (map[string]float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, rest, ok := strings.Cut(line, ":")
		if !ok || !slices.Contains(fields, k) {
			continue
		}
		if f := strings.Fields(rest); len(f) > 0 {
			if kb, err := strconv.ParseFloat(f[0], 64); err == nil {
				out[k] = kb / 1024
			}
		}
	}
	return out, nil
}

// rssMiB is process pid's resident set (VmRSS) in MiB.
func rssMiB(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseVmRSS(string(b))
}

// parseVmRSS reads VmRSS (kB) from /proc/PID/status and returns MiB.
func parseVmRSS(status string) (float64, error) {
	for line := range strings.SplitSeq(status, "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 1 {
			break
		}
		kb, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, err
		}
		return kb / 1024, nil
	}
	return 0, errors.New("no VmRSS in /proc status")
}
