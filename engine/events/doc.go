// Package events owns skiff's per-user events log: the docker-shaped event
// record, appending it from many short-lived processes at once, rotating the
// log at a size limit, and reading it back (a time range, docker's filters,
// and following new events) without a daemon.
//
// It imports nothing of skiff's: the command line, the API server and the
// engine's verbs use it, and the C monitor writes the same files by the
// protocol below.
//
// # Files
//
// The log at PATH (containers.conf events_logfile_path) is a set of
// generation files PATH.1, PATH.2, … and a symbolic link PATH whose target
// is the base name of the current generation ("events.log.7"). Each file
// holds one JSON object a line, in docker's shape (see Event). A generation
// file keeps its name for its whole life: files are created under their
// final name and never renamed, so a generation number names one file.
//
// # Appending (the protocol, also for monitor.c)
//
//  1. open(PATH, O_WRONLY|O_APPEND) (following the link).
//  2. flock(fd, LOCK_EX).
//  3. stat(PATH) and compare its inode with fstat(fd)'s (taken once after
//     the open): if they differ, PATH was switched to a newer generation
//     between 1 and 2: unlock, close and start again.
//  4. Stamp the event's time and write the whole line, "\n" included, with
//     one write(2).
//  5. If the file has now reached MaxSize/2, rotate, still under the lock:
//     create PATH.(max+1) with O_EXCL, where max is the largest generation
//     present; point a fresh symlink PATH.new-PID at it (first removing any
//     PATH.new-* a rotation that died left) and rename(2) it over PATH;
//     remove the generations older than the one just retired.
//  6. Unlock (and close, or keep fd for the next append).
//
// An append with the file kept open costs four system calls (flock, stat,
// write, flock); a short-lived process adds open, fstat and close. No
// fsync: after a crash of the machine the log may end in a torn line, which
// readers skip.
//
// Every append takes the lock exclusively, not shared with rotation alone:
// measured with 100 writer processes on 2 cores, shared appends starved the
// rotation's exclusive lock (a generation meant to retire at 8 KB reached
// 2.5 MB), and appending under the shared lock while the file was due made
// it overshoot threefold; exclusive appends were about 40% slower in that
// contrived contention and are otherwise as cheap. They buy two exact
// properties: a generation ends within one line of MaxSize/2, and lines are
// in the order of their time stamps. The lock is held for a stat and a
// write. A process stopped (SIGSTOP) while it holds it holds up other
// appends until it continues, as with any lock.
//
// # Why no event is lost, repeated or torn
//
// Frozen files. A generation file receives writes only while it is PATH's
// target: a writer writes only after checking, under the file's lock, that
// the file is the target, and the switch of PATH to a newer generation
// happens under the lock of the file it retires, so a writer that checks
// after the switch writes nowhere. The check cannot be fooled by inode reuse, since the writer
// holds the file open. So once a reader sees that PATH points elsewhere,
// the file it holds is complete, forever.
//
// Appends. Every append is one write(2) under the lock, with O_APPEND as
// well (which alone serialises appends on a local filesystem), so lines
// never interleave. A writer retries only before it has written, so an
// event is written at most once; a failed or short write is reported to
// the caller and the partial line is closed with "\n" so that it spoils no
// other line.
//
// Reading. A reader walks generations in increasing order, reading each file
// from its start (or from the position found for Since) and each byte once.
// It moves from generation g to g+1 only after it has seen PATH point
// elsewhere than g and has read g to its end once more after that: by the
// frozen-file argument it then has every line g will ever hold. Lines of g
// were all written before the switch that retired g, and lines of g+1 after
// it, so the walk reads the events in the order they were written.
// Generation numbers only grow: a rotation picks max+1 before its rename,
// and until then it is alone (the next one needs the lock of the file this
// one is about to make current). A generation file that never became the
// target (made by a creator that lost a race) is empty and passed over.
//
// Retention is the only loss: rotation removes generations older than the
// one it retires, so the log holds at most MaxSize bytes and at least half
// of that (podman too keeps the newest half when its file exceeds
// events_logfile_max_size). A reader opens the generations ahead of its own
// as it learns of them, which protects them from removal; one that still
// finds its next generation removed (it fell more than a whole generation
// behind the writers) gets ErrFellBehind rather than a silent gap.
//
// # Time order and --since
//
// An event's time is stamped under the lock right before its write, so the
// lines of the log are in time order as long as the wall clock does not go
// back. The reader tolerates a clock set back by up to orderSlack (1 s): to
// start at Since it bisects each file on line boundaries and moves its
// start past a line only when that line is older than Since-orderSlack,
// which proves every earlier line older than Since; from there it compares
// every line with Since exactly. Until is checked exactly on every line, and
// a scan stops at the first line newer than Until+orderSlack. A clock set
// back by more than that can hide events near the step from a time range
// query; it cannot repeat them.
//
// # Following
//
// A follower waits on inotify (a watch on the log's directory, woken by
// writes to and creation of the log's files) and, as a safety net, re-checks
// the log every second; where inotify is unavailable it polls every 100 ms.
//
// # References
//
//   - docker events: https://docs.docker.com/reference/cli/docker/system/events/
//     (docker/cli docs/reference/commandline/system_events.md) for --since,
//     --until, --filter and --format.
//   - moby daemon/events/filter.go (Filter.Include) for how each filter
//     matches; moby api/types/filters (ExactMatch, FuzzyMatch, MatchKVList).
//   - moby api/types/time/timestamp.go (GetTimestamp, ParseTimestamps) for
//     the time values --since and --until accept.
//   - moby daemon/events/events.go (Log, loadBufferedEvents) and
//     api/server/router/system (getEvents) for the time range and when the
//     stream ends; docker/cli cli/command/system/events.go for the default
//     output line.
//   - podman-events(1) for --stream and the filters podman adds (pod), and
//     containers.conf(5) for events_logfile_path and events_logfile_max_size
//     (0 means no limit).
package events
