//go:build unix && !linux

package managerbench

import "syscall"

// childSysProcAttr puts a child in a process group of its own, so that stopping it cannot miss a
// grandchild. Only Linux can also tie its life to the bench's.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
