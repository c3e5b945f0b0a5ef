//go:build !linux

package main

import "os/exec"

// dieWithParent is a no-op where the kernel offers no parent-death signal; the benchmark is
// meant for Linux (it reads memory from /proc) but still compiles elsewhere.
func dieWithParent(*exec.Cmd) {}
