package localcluster

import "syscall"

// processGroup starts a component in its own process group, killed when the process
// that started it dies (Linux's parent-death signal), so that no component outlives a
// crashed `ballast dev` or test.
func processGroup() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
