package engine

import "syscall"

func killPid(pid, sig int) error { return syscall.Kill(pid, syscall.Signal(sig)) }
