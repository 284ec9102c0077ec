package monitor

// The C programs of this package (monitor.c, ptydrain.c) are built into
// every binary that links it; see the package doc.

/*
#cgo CFLAGS: -Wall
#include <stdarg.h>
*/
import "C"
