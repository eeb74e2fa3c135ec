package localproc

import "syscall"

// childSysProcAttr puts a child in a process group of its own and has the kernel kill it if the
// parent dies without stopping it.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
