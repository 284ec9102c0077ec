package engine

// monitor.c holds the per-container monitor, which runs before (and
// instead of) the Go runtime when the binary starts with _SKIFF_MONITOR.

/*
#cgo CFLAGS: -Wall
#include <stdarg.h>
*/
import "C"
