package deploytest

import "syscall"

// dieWithParent makes a started binary die with the test process, so a
// test that times out (and exits without running its cleanups) leaves no
// webhookd or fetcher behind.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
