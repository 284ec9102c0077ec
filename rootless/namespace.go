package rootless

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"strconv"
	"syscall"

	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"go.podman.io/storage/pkg/unshare"
)

const (
	envInside = "_SKIFF_USERNS"
	envUID    = "_CONTAINERS_ROOTLESS_UID"
	envGID    = "_CONTAINERS_ROOTLESS_GID"
)

// InNamespace reports whether this process is the copy of skiff that runs
// inside the user's namespace.
func InNamespace() bool { return os.Getenv(envInside) != "" && os.Geteuid() == 0 }

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

// Reexec runs this same command again inside a new user + mount namespace
// that maps the user to 0 and the subordinate ranges above it, waits for it
// and returns its exit status. Signals that ask the command to end are passed
// on; if this process is killed, the kernel kills the copy too.
func Reexec(args []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	uids, gids, err := Preflight()
	if err != nil {
		return 0, err
	}
	runDir, err := RuntimeDir()
	if err != nil {
		return 0, err
	}
	// unshare logs through logrus when newuidmap fails and falls back to a
	// one-id mapping; skiff checks the mapping itself inside (VerifyMappings).
	logrus.SetOutput(io.Discard)

	cmd := unshare.Command(args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.Env = append(os.Environ(),
		envInside+"=1",
		fmt.Sprintf("%s=%d", envUID, os.Getuid()),
		fmt.Sprintf("%s=%d", envGID, os.Getgid()),
		"XDG_RUNTIME_DIR="+runDir,
		fmt.Sprintf("_SKIFF_EXPECT_IDS=%d:%d", Total(uids), Total(gids)),
	)
	cmd.UnshareFlags = syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS
	cmd.UseNewuidmap, cmd.UseNewgidmap = true, true
	cmd.UidMappings, cmd.GidMappings = toSpec(uids), toSpec(gids)
	cmd.GidMappingsEnableSetgroups = true
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}

	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	cmd.Hook = func(int) error {
		go func() {
			for s := range sigs {
				_ = cmd.Process.Signal(s)
			}
		}()
		return nil
	}
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return 128 + int(ws.Signal()), nil
			}
			return exitErr.ExitCode(), nil
		}
		return 0, fmt.Errorf("entering the user namespace: %w", err)
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

func toSpec(m []IDMap) []specs.LinuxIDMapping {
	out := make([]specs.LinuxIDMapping, len(m))
	for i, r := range m {
		out[i] = specs.LinuxIDMapping{ContainerID: r.ContainerID, HostID: r.HostID, Size: r.Size}
	}
	return out
}
