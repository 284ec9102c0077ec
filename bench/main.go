// Command bench measures skiff side by side with podman (Debian's 4.3.1,
// runc, native overlay) as the same unprivileged user, against the same
// local registry and images, and prints medians and ratios. Runs of the two
// engines alternate so that machine noise hits both alike.
//
//	go run ./bench pull [-n 7]
//	go run ./bench build [-n 7]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const registry = "127.0.0.1:5000"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench pull|build|run|create|ps|mem|net|netuser|all [-n N] [-count N] [-user NAME] [-skiff PATH]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	n := fs.Int("n", 7, "runs per engine")
	userName := fs.String("user", "skifftest", "unprivileged user both engines run as")
	skiff := fs.String("skiff", "bin/skiff", "skiff binary")
	image := fs.String("image", registry+"/skiff/multilayer:latest", "image to pull")
	count := fs.Int("count", 0, "containers for create and ps (default 500 and 1000)")
	diskRun := fs.Bool("disk-runtime-dir", false, "keep the runtime directories on disk, not on a tmpfs as logind's /run/user/UID")
	_ = fs.Parse(os.Args[2:])
	b, err := newBench(*userName, *skiff, !*diskRun)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	defer b.cleanup()
	switch os.Args[1] {
	case "pull":
		err = b.pull(*image, *n)
	case "build":
		err = b.build(*n)
	case "run":
		err = b.runLatency(*n)
	case "create":
		err = b.createMany(*count)
	case "ps":
		err = b.psMany(*count)
	case "mem":
		err = b.memory()
	case "net":
		err = b.network(*n)
	case "netuser":
		err = b.userNetwork(*n)
	case "all":
		for _, f := range []func() error{
			func() error { return b.runLatency(*n) },
			b.memory,
			func() error { return b.createMany(500) },
			func() error { return b.psMany(1000) },
		} {
			if err = f(); err != nil {
				break
			}
		}
	default:
		err = fmt.Errorf("unknown benchmark %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// bench holds one private HOME per engine for the benchmark user.
type bench struct {
	u        *user.User
	uid, gid int
	root     string
	skiff    string
	runroots []string
	tmpfs    []string // runtime directories mounted as tmpfs
	lastUser time.Duration
	lastSys  time.Duration
}

func newBench(name, skiffPath string, tmpfsRuntime bool) (*bench, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("run as root: the benchmark switches to the unprivileged user")
	}
	if _, err := exec.LookPath("podman"); err != nil {
		return nil, fmt.Errorf("podman is not installed: apt-get install podman")
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("user %s: run test/setup.sh first", name)
	}
	abs, err := filepath.Abs(skiffPath)
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("/var/tmp", "skiff-bench-")
	if err != nil {
		return nil, err
	}
	b := &bench{u: u, root: root}
	b.uid, _ = strconv.Atoi(u.Uid)
	b.gid, _ = strconv.Atoi(u.Gid)
	// The binary must be reachable by the user.
	b.skiff = filepath.Join(root, "skiff")
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("reading %s (make build): %w", abs, err)
	}
	if err := os.WriteFile(b.skiff, data, 0o755); err != nil {
		return nil, err
	}
	registries := `unqualified-search-registries = ["` + registry + `"]
[[registry]]
location = "` + registry + `"
insecure = true
`
	files := map[string]string{
		"home/.config/containers/registries.conf": registries,
		// No systemd here: podman's defaults (systemd cgroup manager,
		// journald events) time out; these are what this host supports.
		"home/.config/containers/containers.conf": "[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n[containers]\nlog_driver = \"k8s-file\"\n",
		"home/.config/containers/storage.conf":    "[storage]\ndriver = \"overlay\"\n",
	}
	for rel, content := range files {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	// skiff reads storage.conf too; give it its own config home so both use
	// their defaults (overlay) and their own store.
	if err := os.MkdirAll(filepath.Join(root, "home/.config-skiff/containers"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(root, "home/.config-skiff/containers/registries.conf"), []byte(registries), 0o644); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(root, "stores"), 0o700); err != nil {
		return nil, err
	}
	// Runtime dirs stay short: conmon's attach socket lives there, and a
	// socket path longer than 108 bytes makes podman wait 20 s for its
	// conmon timeout.
	for _, name := range []string{"skiff", "podman"} {
		d := b.runtimeDir(name)
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
		b.runroots = append(b.runroots, d)
		// A user's runtime directory is a tmpfs (logind mounts one at
		// /run/user/UID), where both engines keep their run roots.
		if tmpfsRuntime {
			opts := fmt.Sprintf("mode=0700,uid=%d,gid=%d,size=256m", b.uid, b.gid)
			if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", d).CombinedOutput(); err != nil {
				return nil, fmt.Errorf("a tmpfs for %s: %v: %s", d, err, out)
			}
			b.tmpfs = append(b.tmpfs, d)
		}
		if err := os.Chown(d, b.uid, b.gid); err != nil {
			return nil, err
		}
	}
	if err := filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			err = os.Lchown(p, b.uid, b.gid)
		}
		return err
	}); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *bench) runtimeDir(engine string) string {
	return fmt.Sprintf("/tmp/skb%d-%s", os.Getpid(), engine[:1])
}

func (b *bench) cleanup() {
	// podman leaves its pause process; end everything the user runs.
	_ = exec.Command("pkill", "-KILL", "-u", b.u.Uid).Run()
	time.Sleep(200 * time.Millisecond)
	for _, d := range b.tmpfs {
		_ = exec.Command("umount", "-l", d).Run()
	}
	_ = os.RemoveAll(b.root)
	for _, r := range b.runroots {
		_ = os.RemoveAll(r)
	}
}

// quiesce waits (up to 3 s) until the user runs nothing but podman's pause
// process: what a run leaves working after it returned (podman's conmon
// and its `podman container cleanup`, skiff's monitor handing over) must
// not be charged to the next run, of the other engine.
func (b *bench) quiesce() {
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if !b.userBusy() {
			return
		}
	}
}

// userBusy tells whether a process of the user's other than podman's
// pause process (catatonit) runs.
func (b *bench) userBusy() bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, p := range procs {
		st, err := os.Stat(filepath.Dir(p))
		if err != nil {
			continue
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); !ok || int(sys.Uid) != b.uid {
			continue
		}
		comm, err := os.ReadFile(p)
		if err != nil || strings.TrimSpace(string(comm)) == "catatonit" {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "stat"))
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			continue // ended, waiting to be reaped
		}
		return true
	}
	return false
}

// engine is how to invoke one of the two engines.
type engine struct {
	name string
	argv []string
	env  []string
}

func (b *bench) engines() []engine {
	home := filepath.Join(b.root, "home")
	base := []string{"HOME=" + home, "USER=" + b.u.Username, "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG=C.UTF-8"}
	return []engine{
		{"skiff", []string{b.skiff}, append(append([]string{}, base...),
			"XDG_RUNTIME_DIR="+b.runtimeDir("skiff"), "XDG_CONFIG_HOME="+filepath.Join(home, ".config-skiff"))},
		{"podman", []string{"/usr/bin/podman"}, append(append([]string{}, base...),
			"XDG_RUNTIME_DIR="+b.runtimeDir("podman"))},
	}
}

// command is the engine with args as the user; its stderr goes to the
// buffer.
func (b *bench) command(e engine, stderr *bytes.Buffer, args ...string) *exec.Cmd {
	cmd := exec.Command(e.argv[0], append(e.argv[1:], args...)...)
	cmd.Env = e.env
	cmd.Dir = b.root
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(b.uid), Gid: uint32(b.gid)}}
	cmd.Stderr = stderr
	return cmd
}

// run runs the engine with args as the user and returns the wall time; the
// CPU times (the process and every child it reaped) go to lastUser and
// lastSys.
func (b *bench) run(e engine, args ...string) (time.Duration, error) {
	var stderr bytes.Buffer
	cmd := b.command(e, &stderr, args...)
	cmd.Stdout = io.Discard
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if cmd.ProcessState != nil {
		b.lastUser, b.lastSys = cmd.ProcessState.UserTime(), cmd.ProcessState.SystemTime()
	}
	if err != nil {
		return d, fmt.Errorf("%s %s: %v: %s", e.name, strings.Join(args, " "), err, stderr.String())
	}
	return d, nil
}

// output runs the engine like run and returns its standard output.
func (b *bench) output(e engine, args ...string) (string, error) {
	var stderr bytes.Buffer
	out, err := b.command(e, &stderr, args...).Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", e.name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// pull times a cold pull of image. Each run gets a fresh store (warmed with
// the small busybox image first, untimed), so no run follows a removal: ext4
// is slow to allocate inodes next to ones deleted seconds before, and an
// rmi between runs would measure that rather than the engines.
func (b *bench) pull(image string, n int) error {
	engines := b.engines()
	warm := registry + "/skiff/busybox:latest"
	times, user, sys := map[string][]time.Duration{}, map[string][]time.Duration{}, map[string][]time.Duration{}
	// ext4 treats inodes freed in the last dirty_expire interval (30 s) as
	// "recently deleted" and scans past them: let deletions made before the
	// benchmark (tests, an earlier run's clean-up) age out first.
	fmt.Println("waiting 35s for earlier deletions to age out of ext4's inode allocator...")
	time.Sleep(35 * time.Second)
	for i := 0; i < n; i++ {
		for _, e := range engines {
			store := filepath.Join(b.root, "stores", fmt.Sprintf("%s-%d", e.name, i))
			// podman refuses a runroot longer than 50 characters.
			runroot := fmt.Sprintf("/tmp/skb%d-%s%d", os.Getpid(), e.name, i)
			b.runroots = append(b.runroots, runroot)
			flags := []string{"--root", store, "--runroot", runroot}
			if _, err := b.run(e, append(flags, "pull", "-q", warm)...); err != nil {
				return err
			}
			// Flush what earlier runs left dirty, so that no run pays for
			// another's writeback.
			syscall.Sync()
			w0 := diskWrites()
			d, err := b.run(e, append(flags, "pull", "-q", image)...)
			if err != nil {
				return err
			}
			times[e.name] = append(times[e.name], d)
			user[e.name] = append(user[e.name], b.lastUser)
			sys[e.name] = append(sys[e.name], b.lastSys)
			syscall.Sync()
			if os.Getenv("BENCH_VERBOSE") != "" {
				fmt.Printf("  %s run %d: %.2fs, %d MB written\n", e.name, i, d.Seconds(), (diskWrites()-w0)/2048)
			}
		}
	}
	report("pull "+image+", wall time", engines, times)
	report("pull "+image+", user CPU time", engines, user)
	report("pull "+image+", system CPU time", engines, sys)
	return nil
}

func report(what string, engines []engine, times map[string][]time.Duration) {
	fmt.Printf("%s (%d runs each)\n", what, len(times[engines[0].name]))
	for _, e := range engines {
		fmt.Printf("  %-10s median %8.3fs  runs %v\n", e.name, median(times[e.name]).Seconds(), round(times[e.name]))
	}
	ratio := median(times["skiff"]).Seconds() / median(times["podman"]).Seconds()
	fmt.Printf("  ratio skiff/podman: %.2f\n", ratio)
}

func round(ds []time.Duration) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = fmt.Sprintf("%.3f", d.Seconds())
	}
	return out
}

// diskWrites is the number of sectors written to all disks so far.
func diskWrites() int64 {
	data, err := os.ReadFile("/proc/diskstats")
	if err != nil {
		return 0
	}
	var total int64
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 9 && !strings.HasPrefix(f[2], "loop") && !strings.ContainsAny(f[2][len(f[2])-1:], "0123456789") {
			n, _ := strconv.ParseInt(f[9], 10, 64)
			total += n
		}
	}
	return total
}
