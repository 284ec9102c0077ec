package rootless

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	envInside = "_SKIFF_USERNS"
	envUID    = "_CONTAINERS_ROOTLESS_UID"
	envGID    = "_CONTAINERS_ROOTLESS_GID"
)

// InNamespace reports whether this process is the copy of skiff that runs
// inside the user's namespace, new or joined.
func InNamespace() bool {
	if os.Geteuid() != 0 {
		return false
	}
	joined, _ := Joined()
	return joined || os.Getenv(envInside) != ""
}

// NeedsNamespace reports whether a command that touches storage must first
// enter a user namespace: true for an unprivileged user not yet inside one.
func NeedsNamespace() bool { return os.Geteuid() != 0 && !InNamespace() }

// Preflight checks everything entering the namespace needs and returns the
// mappings to use, or an error that names the fix.
func Preflight() (uids, gids []IDMap, err error) {
	u, err := user.Current()
	if err != nil {
		return nil, nil, fmt.Errorf("looking up the current user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if uids, gids, err = Mappings(u.Username, uid, gid); err != nil {
		return nil, nil, err
	}
	for _, helper := range []string{"newuidmap", "newgidmap"} {
		path, err := exec.LookPath(helper)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %s not found in PATH; install it as root: apt-get install uidmap", ErrNoIDMapHelper, helper)
		}
		if st, err := os.Stat(path); err == nil && st.Mode()&(os.ModeSetuid|os.ModeSetgid) == 0 && !hasFileCaps(path) {
			return nil, nil, fmt.Errorf("%w: %s is neither setuid nor has file capabilities; reinstall it: apt-get install --reinstall uidmap", ErrNoIDMapHelper, path)
		}
	}
	return uids, gids, nil
}

func hasFileCaps(path string) bool {
	buf := make([]byte, 64)
	n, err := syscall.Getxattr(path, "security.capability", buf)
	return err == nil && n > 0
}

// Reexec runs this same command again inside the user's namespace — the
// one a running container's monitor keeps alive, or else a new user + mount
// namespace that maps the user to 0 and the subordinate ranges above it —
// waits for it and returns its exit status. Signals that ask the command to
// end are passed on; if this process is killed, the kernel kills the copy.
func Reexec(args []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	uids, gids, err := Preflight()
	if err != nil {
		return 0, err
	}
	runDir, err := RuntimeDir()
	if err != nil {
		return 0, err
	}
	dir, err := nsDir()
	if err != nil {
		return 0, err
	}
	unlock, err := nsLock(dir)
	if err != nil {
		return 0, err
	}
	env := append(os.Environ(),
		fmt.Sprintf("%s=%d", envUID, os.Getuid()),
		fmt.Sprintf("%s=%d", envGID, os.Getgid()),
		"XDG_RUNTIME_DIR="+runDir,
		fmt.Sprintf("_SKIFF_EXPECT_IDS=%d:%d", Total(uids), Total(gids)),
	)
	inherited := inheritedFiles()
	for try := 0; ; try++ {
		live, busy := liveHolders(dir)
		for _, h := range live {
			cmd, mnt, err := joinCommand(h, args, env, inherited)
			if err != nil {
				continue // it ended meanwhile: try the next one
			}
			cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
			err = cmd.Start()
			closeJoinFiles(cmd, len(inherited))
			if err != nil {
				unlock()
				return 0, fmt.Errorf("joining the user namespace: %w", err)
			}
			// Every process in the namespace is a holder while it runs, so
			// that the namespace is found as long as anything lives in it;
			// its record goes before it is reaped, while its PID is its own.
			registered := waitJoined(cmd.Process.Pid, h.Inode, mnt) && RegisterHolder(cmd.Process.Pid) == nil
			unlock()
			return waitForwarding(cmd, func() {
				if registered {
					UnregisterHolder(cmd.Process.Pid)
				}
			})
		}
		// A holder between namespaces is gone or in within moments; only
		// when none lives is a new namespace made.
		if !busy || try >= 50 {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	defer unlock()
	return runInNewNamespace(args, env, uids, gids, inherited, stdin, stdout, stderr, unlock)
}

// inheritedFDs are the descriptors above stderr that the caller gave this
// process: those without close-on-exec (Go opens its own with it), with
// their flags, in order.
func inheritedFDs() (fds, flags []int) {
	entries, _ := os.ReadDir("/proc/self/fd")
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < 3 {
			continue
		}
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || fl&unix.FD_CLOEXEC != 0 {
			continue
		}
		fds, flags = append(fds, fd), append(flags, fl)
	}
	return fds, flags
}

// inheritedFiles are the inherited descriptors at their numbers, for the
// copy in the namespace; nil where none is.
func inheritedFiles() []*os.File {
	fds, _ := inheritedFDs()
	var files []*os.File
	for _, fd := range fds {
		for len(files) < fd-2 {
			files = append(files, nil)
		}
		files[fd-3] = os.NewFile(uintptr(fd), strconv.Itoa(fd))
	}
	return files
}

// closeJoinFiles closes the descriptors cmd got beyond the inherited ones.
func closeJoinFiles(cmd *exec.Cmd, inherited int) {
	for _, f := range cmd.ExtraFiles[inherited:] {
		f.Close()
	}
}

// joinCommand prepares a copy of skiff that joins h's namespaces in its
// constructor (join.c), through descriptors opened and checked here and
// placed after the inherited ones; it returns the mount namespace's inode.
func joinCommand(h Holder, args, env []string, inherited []*os.File) (*exec.Cmd, uint64, error) {
	userNS, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", h.Pid))
	if err != nil {
		return nil, 0, err
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(userNS.Fd()), &st); err != nil || st.Ino != h.Inode {
		userNS.Close()
		return nil, 0, fmt.Errorf("holder %d is gone", h.Pid)
	}
	mntNS, err := os.Open(fmt.Sprintf("/proc/%d/ns/mnt", h.Pid))
	if err != nil {
		userNS.Close()
		return nil, 0, err
	}
	owner, ok := nsOwner(mntNS)
	if err := syscall.Fstat(int(mntNS.Fd()), &st); err != nil || !ok || owner != h.Inode || (h.Mnt != 0 && st.Ino != h.Mnt) {
		userNS.Close()
		mntNS.Close()
		return nil, 0, fmt.Errorf("holder %d has no mount namespace of its own", h.Pid)
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = args
	n := len(inherited)
	cmd.ExtraFiles = append(append([]*os.File{}, inherited...), userNS, mntNS)
	cmd.Env = append(env, fmt.Sprintf("_SKIFF_JOIN_FDS=%d,%d", 3+n, 4+n), fmt.Sprintf("_SKIFF_JOIN_INO=%d", h.Inode))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd, st.Ino, nil
}

// runInNewNamespace creates the user's namespace with the copy of skiff as
// its first process, records that copy as a holder, and then lets others in.
// The copy is cloned straight into a new user and mount namespace and
// waits in its constructor (join.c) until newuidmap and newgidmap, run side
// by side, have written its maps.
func runInNewNamespace(args, env []string, uids, gids []IDMap, inherited []*os.File, stdin io.Reader, stdout, stderr io.Writer, unlock func()) (int, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	parent, child := os.NewFile(uintptr(fds[0]), "sync"), os.NewFile(uintptr(fds[1]), "sync")
	defer parent.Close()
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = args
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.Env = append(env, envInside+"=1", fmt.Sprintf("_SKIFF_MAP_SYNC=%d", 3+len(inherited)))
	cmd.ExtraFiles = append(append([]*os.File{}, inherited...), child)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	child.Close()
	if err != nil {
		return 0, fmt.Errorf("entering the user namespace: %w", err)
	}
	pid := cmd.Process.Pid
	buf := make([]byte, 1)
	if _, err := parent.Read(buf); err != nil {
		_ = cmd.Wait() // it said why on stderr
		return 0, &exitError{125}
	}
	if err := writeMaps(pid, uids, gids); err != nil {
		parent.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return 0, err
	}
	// The child made its namespace and waits: nothing of it has used the
	// namespace's directory yet.
	if l, err := UserLayout(); err == nil {
		l.RetireNamespaceDir(UserNSInode(pid))
	}
	_, _ = parent.Write([]byte{'g'})
	saveIDMaps(uids, gids)
	registered := waitJoined(pid, UserNSInode(pid), 0) && RegisterHolder(pid) == nil
	unlock()
	return waitForwarding(cmd, func() {
		if registered {
			UnregisterHolder(pid)
		}
	})
}

// exitError is a status already explained on stderr.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// writeMaps runs newuidmap and newgidmap for pid at the same time.
func writeMaps(pid int, uids, gids []IDMap) error {
	run := func(helper string, m []IDMap) error {
		args := []string{strconv.Itoa(pid)}
		for _, r := range m {
			args = append(args, strconv.FormatUint(uint64(r.ContainerID), 10), strconv.FormatUint(uint64(r.HostID), 10), strconv.FormatUint(uint64(r.Size), 10))
		}
		out, err := exec.Command(helper, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: %s failed: %v: %s (check the ranges of this user in /etc/subuid and /etc/subgid)",
				ErrNoIDMapHelper, helper, err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	errc := make(chan error, 1)
	go func() { errc <- run("newgidmap", gids) }()
	uerr := run("newuidmap", uids)
	return errors.Join(uerr, <-errc)
}

// saveIDMaps records the helpers' command lines that just worked, for the
// constructor that enters the namespace without a second process
// (enter.c); they hold while /etc/subuid and /etc/subgid are unchanged.
func saveIDMaps(uids, gids []IDMap) {
	dir, err := nsDir()
	if err != nil {
		return
	}
	var b strings.Builder
	b.WriteString("skiff-idmaps 1\n")
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		var st unix.Stat_t
		if unix.Stat(f, &st) != nil {
			st = unix.Stat_t{}
		}
		fmt.Fprintf(&b, "%d %d %d %d %d\n", st.Dev, st.Ino, st.Size, st.Mtim.Sec, st.Mtim.Nsec)
	}
	for _, h := range []struct {
		name string
		m    []IDMap
	}{{"newuidmap", uids}, {"newgidmap", gids}} {
		path, err := exec.LookPath(h.name)
		if err != nil {
			return
		}
		b.WriteString(path)
		for _, r := range h.m {
			fmt.Fprintf(&b, " %d %d %d", r.ContainerID, r.HostID, r.Size)
		}
		b.WriteString("\n")
	}
	tmp := filepath.Join(dir, ".idmaps.tmp")
	if os.WriteFile(tmp, []byte(b.String()), 0o600) == nil {
		_ = os.Rename(tmp, filepath.Join(dir, "idmaps"))
	}
}

// waitJoined waits until pid is in the user namespace user and in a mount
// namespace of its own (mnt, when known): registered before it is, it
// would be a holder that others cannot join.
func waitJoined(pid int, user, mnt uint64) bool {
	host := nsInode(os.Getpid(), "mnt")
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		u, m := UserNSInode(pid), nsInode(pid, "mnt")
		switch {
		case u == 0 || m == 0:
			return false
		case u == user && m != host && (mnt == 0 || m == mnt):
			return true
		}
		time.Sleep(200 * time.Microsecond)
	}
	return false
}

// nsOwner is the inode of the user namespace that owns the namespace f.
func nsOwner(f *os.File) (uint64, bool) {
	fd, err := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_USERNS)
	if err != nil {
		return 0, false
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, false
	}
	return st.Ino, true
}

// waitForwarding passes end signals to cmd and returns its exit status;
// beforeReap runs once cmd has ended, while its PID cannot be reused.
func waitForwarding(cmd *exec.Cmd, beforeReap func()) (int, error) {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case s := <-sigs:
				_ = cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	var info unix.Siginfo
	for unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil) == unix.EINTR {
	}
	beforeReap()
	if err := cmd.Wait(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return 128 + int(ws.Signal()), nil
			}
			return exitErr.ExitCode(), nil
		}
		return 0, err
	}
	return 0, nil
}

// VerifyMappings checks, inside the namespace, that newuidmap and newgidmap
// installed the whole range rather than the one-id fallback.
func VerifyMappings() error {
	want := os.Getenv("_SKIFF_EXPECT_IDS")
	if want == "" {
		return nil
	}
	uids, gids, err := CurrentMappings()
	if err != nil {
		return err
	}
	got := fmt.Sprintf("%d:%d", Total(uids), Total(gids))
	if got != want {
		return fmt.Errorf("%w: the user namespace maps %s uids:gids instead of %s; newuidmap/newgidmap refused the ranges in /etc/subuid and /etc/subgid (overlapping or not granted to this user?)",
			ErrNoIDMapHelper, got, want)
	}
	return nil
}

// KeepInheritedFromChildren marks every descriptor above stderr that the
// caller gave this process close-on-exec, once it is in the namespace: the
// command itself may still use them (`export -o /dev/fd/5`), but nothing it
// starts and leaves running (a monitor, pasta, a runtime) holds a script's
// pipe open, which would keep `$(skiff run -d …)` or a test harness's
// descriptor 3 waiting for as long as the container runs.
func KeepInheritedFromChildren() {
	fds, flags := inheritedFDs()
	for i, fd := range fds {
		_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags[i]|unix.FD_CLOEXEC)
	}
}
