//go:build unix && !linux

package promsource

import "syscall"

// prometheusSysProcAttr puts Prometheus in a process group of its own, so that stopping it cannot
// miss a child. Only Linux can also tie its life to the test binary's.
func prometheusSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
