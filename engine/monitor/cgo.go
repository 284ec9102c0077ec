// Package monitor owns skiff's small C processes and the files they share
// with the Go side: the per-container monitor (monitor.c, like conmon), the
// keeper of a detached exec's terminal (ptydrain.c), and the formats both
// sides read and write (the monitor's configuration, the exit file, the
// log's lines, the pid file). The C programs run in constructors, before
// (and instead of) the Go runtime, when the binary starts with
// _SKIFF_MONITOR or _SKIFF_PTYDRAIN set: any binary that links this
// package can become them.
package monitor

/*
#cgo CFLAGS: -Wall
#include <stdarg.h>
*/
import "C"
