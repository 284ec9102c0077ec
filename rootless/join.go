package rootless

/*
// join.c holds the constructors that join or make a namespace for a copy
// of skiff before Go starts; enter.c the fast way in for the first process.
extern int skiff_joined;
extern char skiff_join_error[64];
extern int skiff_fast_entered;
extern unsigned long long skiff_fast_uid, skiff_fast_gid, skiff_fast_uids, skiff_fast_gids;
const char *skiff_fast_command(int i);
*/
import "C"

import (
	"fmt"
	"os"
	"strconv"
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
	if C.skiff_fast_entered == 1 {
		// What Reexec passes to the copy it starts: the constructor could
		// not set it where Go reads the environment.
		os.Setenv(envUID, strconv.FormatUint(uint64(C.skiff_fast_uid), 10))
		os.Setenv(envGID, strconv.FormatUint(uint64(C.skiff_fast_gid), 10))
		os.Setenv(envInside, "1")
		os.Setenv("_SKIFF_EXPECT_IDS", fmt.Sprintf("%d:%d", uint64(C.skiff_fast_uids), uint64(C.skiff_fast_gids)))
	}
}

// FastEntered reports whether this process entered the namespace itself,
// in its constructor (enter.c); it is then a holder until Leave.
func FastEntered() bool { return C.skiff_fast_entered == 1 }

// Leave drops this process's holder record when it entered the namespace
// itself; call it just before exiting.
func Leave() {
	if FastEntered() {
		UnregisterHolder(os.Getpid())
	}
}

// FastCommands are the top-level commands whose first process enters the
// namespace in its constructor.
func FastCommands() []string {
	var names []string
	for i := 0; ; i++ {
		c := C.skiff_fast_command(C.int(i))
		if c == nil {
			return names
		}
		names = append(names, C.GoString(c))
	}
}
