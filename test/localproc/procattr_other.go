//go:build !linux

package localproc

import "syscall"

// childSysProcAttr puts a child in a process group of its own (no parent-death signal outside
// Linux: stop the group before exiting).
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
