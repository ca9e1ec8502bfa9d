//go:build !linux

package localcluster

import "syscall"

// processGroup starts a component in its own process group. Without Linux's
// parent-death signal, a component outlives a `ballast dev` that is killed outright
// (Ctrl-C and errors still stop every group).
func processGroup() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
