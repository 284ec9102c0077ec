package rootless

/*
// join.c holds the constructor that joins a namespace before Go starts.
extern int skiff_joined;
extern char skiff_join_error[64];
*/
import "C"

import (
	"fmt"
	"os"
)

// Joined reports whether this process joined an existing namespace in its
// constructor, and the error of a join that failed.
func Joined() (bool, error) {
	if msg := C.GoString(&C.skiff_join_error[0]); msg != "" {
		return false, fmt.Errorf("joining the user namespace: %s", msg)
	}
	return C.skiff_joined == 1, nil
}

// The constructors have used these; children (layer extractors, runtimes,
// monitors) must not see them, or they would join again with whatever
// their descriptors 3 and 4 are.
func init() {
	os.Unsetenv("_SKIFF_JOIN_FDS")
	os.Unsetenv("_SKIFF_JOIN_INO")
	os.Unsetenv("_SKIFF_MAP_SYNC")
}
