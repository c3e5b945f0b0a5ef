//go:build linux

package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel send the server SIGTERM if loadgen dies without stopping it
// (a panic in a worker goroutine skips main's deferred clean-up), so no orphan keeps the
// port and the benchmark database busy.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
