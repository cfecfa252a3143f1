//go:build !linux

package deploytest

import "syscall"

// dieWithParent: only Linux can tie a child's life to its parent's; the
// test's cleanups stop the binaries elsewhere.
func dieWithParent() *syscall.SysProcAttr { return nil }
