package managerbench

import "syscall"

// childSysProcAttr puts a child in a process group of its own, so that stopping it cannot miss a
// grandchild, and has the kernel kill it if the bench dies without stopping it.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
