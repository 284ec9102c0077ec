package oci

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"go.podman.io/storage/pkg/ioutils"
	"golang.org/x/sys/unix"
)

// crun compiles the seccomp profile with libseccomp for every container,
// about 10 ms of each start for the default profile (three architectures
// of it). Given the compiled program as the annotation below, it loads
// that instead. skiff keeps the program crun itself compiled, once per
// profile, runtime binary and kernel, in the user's runtime directory (a
// tmpfs: a new kernel boots with an empty cache).
const seccompBPFAnnotation = "run.oci.seccomp_bpf_data"

// crunSpecVersion is the runtime-spec version a configuration for crun
// claims: crun 1.8 refuses 1.2 and later outright, while nothing skiff
// writes needs more than 1.1 (the configuration is otherwise the same).
const crunSpecVersion = "1.1.0"

// FitConfig fits a configuration to the runtime that will read it: for
// crun, the spec version it takes and the compiled seccomp program, kept
// in seccompCache.
func FitConfig(ctx context.Context, runtime, seccompCache string, spec *specs.Spec) {
	if !IsCrun(runtime) {
		return
	}
	spec.Version = crunSpecVersion
	precompileSeccomp(ctx, runtime, seccompCache, spec)
}

// precompileSeccomp adds to spec the compiled form of its seccomp profile
// for crun. Any failure leaves the spec as it was: crun then compiles the
// profile itself, as it always can.
func precompileSeccomp(ctx context.Context, runtime, dir string, spec *specs.Spec) {
	if spec.Linux == nil || spec.Linux.Seccomp == nil {
		return
	}
	defer phase("seccomp program", time.Now())
	key, err := seccompKey(runtime, spec.Linux.Seccomp)
	if err != nil {
		return
	}
	path := filepath.Join(dir, key+".bpf")
	prog, err := os.ReadFile(path)
	if err != nil {
		if prog, err = compileSeccomp(ctx, runtime, dir, spec.Linux.Seccomp); err != nil {
			slog.Debug("seccomp profile not precompiled", "err", err)
			return
		}
		_ = ioutils.AtomicWriteFileWithOpts(path, prog, 0o600, &ioutils.AtomicFileWriterOptions{NoSync: true})
	}
	if !validBPF(prog) {
		_ = os.Remove(path)
		return
	}
	if spec.Annotations == nil {
		spec.Annotations = map[string]string{}
	}
	spec.Annotations[seccompBPFAnnotation] = base64.StdEncoding.EncodeToString(prog)
}

// seccompKey names a compiled profile: the profile itself, the runtime
// binary that compiled it (and its libseccomp with it) and the kernel
// (libseccomp asks it which actions it supports).
func seccompKey(runtime string, profile *specs.LinuxSeccomp) (string, error) {
	data, err := json.Marshal(profile)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(runtime)
	if err != nil {
		return "", err
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%d\x00%s\x00%s\x00", runtime, st.Size(), st.ModTime().UnixNano(),
		unix.ByteSliceToString(uts.Release[:]), unix.ByteSliceToString(uts.Version[:]))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

// validBPF checks the shape of a classic BPF program: whole instructions,
// no more than the kernel takes (BPF_MAXINSNS).
func validBPF(prog []byte) bool {
	return len(prog) > 0 && len(prog)%8 == 0 && len(prog)/8 <= 4096
}

// compileSeccomp has crun compile profile: it creates, and never starts, a
// container with nothing but that profile, whose state keeps the program
// crun loads into it (seccomp.bpf, which `crun exec` reads too).
//
// crun create runs as the first process of a PID namespace of its own, so
// the container's init it leaves waiting is killed by the kernel the moment
// crun exits, and crun dies with this process (a parent-death signal): no
// kill in any window leaves anything running. Only the directory can stay,
// and the next compile removes it.
func compileSeccomp(ctx context.Context, runtime, cacheDir string, profile *specs.LinuxSeccomp) ([]byte, error) {
	if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		return nil, err
	}
	SweepSeccompCompiles(cacheDir)
	dir, err := os.MkdirTemp(cacheDir, "compile-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	// The lock says the compile is alive (the kernel drops it with this
	// process), so a sweep leaves its directory alone.
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return nil, err
	}
	// crun wants /dev in the root and the command to exist, run or not.
	if err := os.MkdirAll(filepath.Join(dir, "rootfs", "dev"), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "rootfs", "never-started"), nil, 0o700); err != nil {
		return nil, err
	}
	spec := specs.Spec{
		Version: crunSpecVersion,
		Root:    &specs.Root{Path: "rootfs"},
		Process: &specs.Process{Args: []string{"/never-started"}, Cwd: "/"},
		// crun wants at least one mount.
		Mounts: []specs.Mount{{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs"}},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.PIDNamespace}},
			Seccomp:    profile,
		},
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o600); err != nil {
		return nil, err
	}
	root := filepath.Join(dir, "state")
	// The runtime's output goes to a file: the created init would keep a
	// pipe open until the namespace ends.
	out, err := os.Create(filepath.Join(dir, "out"))
	if err != nil {
		return nil, err
	}
	defer out.Close()
	cmd := exec.CommandContext(ctx, runtime, "--root", root, "create", "--bundle", dir, seccompCompileID)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		msg, _ := os.ReadFile(out.Name())
		return nil, fmt.Errorf("crun create: %v: %s", err, bytes.TrimSpace(msg))
	}
	return os.ReadFile(filepath.Join(root, seccompCompileID, "seccomp.bpf"))
}

// seccompCompileID names the container a compile creates and never starts.
const seccompCompileID = "seccomp-compile"

// SweepSeccompCompiles removes the directories of compiles killed half
// way. A compile holds the flock of its directory's lock file for its whole
// life, so one whose lock is free lost its owner.
func SweepSeccompCompiles(cacheDir string) {
	entries, err := os.ReadDir(cacheDir)
	if err != nil {
		return
	}
	for _, en := range entries {
		if !strings.HasPrefix(en.Name(), "compile-") {
			continue
		}
		dir := filepath.Join(cacheDir, en.Name())
		lock, err := os.Open(filepath.Join(dir, "lock"))
		if err != nil {
			// Made but not locked yet, or left before it was: only an
			// old one is a leftover.
			if info, ierr := en.Info(); ierr != nil || time.Since(info.ModTime()) < time.Minute {
				continue
			}
		} else if unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
			lock.Close()
			continue // alive
		}
		_ = os.RemoveAll(dir)
		if lock != nil {
			lock.Close()
		}
	}
}

// phase logs how long a step took, at debug level.
func phase(name string, start time.Time) {
	slog.Debug("phase", "step", name, "took", time.Since(start).Round(10*time.Microsecond))
}
