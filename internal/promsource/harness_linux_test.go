package promsource

import "syscall"

// prometheusSysProcAttr puts Prometheus in a process group of its own, so that stopping it cannot
// miss a child, and has the kernel kill it if the test binary dies without running its cleanups
// (a test timeout panics past them), so that no server outlives the tests.
func prometheusSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
