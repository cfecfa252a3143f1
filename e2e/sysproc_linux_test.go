//go:build linux

package e2e_test

import "syscall"

// sysProcAttr puts a child in its own process group, and has the kernel
// kill it if the test binary dies without cleaning up (a panic, a -timeout).
// Pdeathsig fires when the thread that started the child exits; Go keeps
// its threads unless a goroutine locked one, which this package never does.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
