package spec

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/skiff-project/skiff/test/specvalidate"
)

func testSpecOptions(t *testing.T) Options {
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	return Options{Rootfs: rootfs, Args: []string{"sh", "-c", "true"}, Env: []string{"PATH=/bin", "A=b=c"}, Hostname: "box"}
}

// TestSpecPassesRuntimeToolsValidation runs every check of
// `oci-runtime-tool validate`; the JSON schema check, which the tool fetches
// from the internet, runs against the schema files of the runtime-spec
// module on disk.
func TestSpecPassesRuntimeToolsValidation(t *testing.T) {
	o := testSpecOptions(t)
	spec, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	spec.Root.Path = "rootfs"
	specvalidate.Check(t, spec, filepath.Dir(o.Rootfs))
}

func TestSpecSecurityDefaults(t *testing.T) {
	spec, err := New(testSpecOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	caps := spec.Process.Capabilities
	for _, set := range [][]string{caps.Bounding, caps.Effective, caps.Permitted} {
		if !slices.Equal(set, DefaultCapabilities) {
			t.Fatalf("capabilities %v, want %v", set, DefaultCapabilities)
		}
	}
	if spec.Linux.Seccomp == nil || len(spec.Linux.Seccomp.Syscalls) == 0 {
		t.Fatal("no seccomp profile")
	}
	if !slices.Contains(spec.Linux.MaskedPaths, "/proc/kcore") || !slices.Contains(spec.Linux.ReadonlyPaths, "/proc/sys") {
		t.Fatalf("masked %v readonly %v", spec.Linux.MaskedPaths, spec.Linux.ReadonlyPaths)
	}
	if spec.Linux.Resources != nil || spec.Linux.CgroupsPath != "" {
		t.Fatal("rootless specs carry no cgroup settings")
	}
	if got := spec.Process.Env; !slices.Contains(got, "A=b=c") {
		t.Fatalf("env %v", got)
	}
	if _, err := New(Options{}); err == nil {
		t.Fatal("a spec without a command must be refused")
	}
}

// TestSeccompArchitecturesThisKernelRuns: the profile keeps the native and
// the 32-bit x86 ABI, and x32 exactly when the kernel runs x32 code, which
// a probe independent of kernelHasX32 (an x32 uname) tells.
func TestSeccompArchitecturesThisKernelRuns(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("x86-64 only")
	}
	spec, err := New(testSpecOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	arches := spec.Linux.Seccomp.Architectures
	if !slices.Contains(arches, specs.ArchX86_64) || !slices.Contains(arches, specs.ArchX86) {
		t.Fatalf("architectures %v lack the native or the i386 ABI", arches)
	}
	var uts unix.Utsname
	_, _, errno := unix.RawSyscall(0x40000000|unix.SYS_UNAME, uintptr(unsafe.Pointer(&uts)), 0, 0)
	if x32 := errno == 0; slices.Contains(arches, specs.ArchX32) != x32 {
		t.Fatalf("architectures %v, kernel runs x32: %v", arches, x32)
	}
}

// A terminal starts with the caller's size: runc sizes the pty before the
// container's process runs.
func TestSpecConsoleSize(t *testing.T) {
	o := testSpecOptions(t)
	o.Terminal, o.ConsoleSize = true, &specs.Box{Height: 33, Width: 99}
	spec, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if cs := spec.Process.ConsoleSize; cs == nil || cs.Height != 33 || cs.Width != 99 {
		t.Fatalf("consoleSize: %+v", cs)
	}
	o.Terminal = false
	if spec, err = New(o); err != nil || spec.Process.ConsoleSize != nil {
		t.Fatalf("no terminal, consoleSize %+v (%v)", spec.Process.ConsoleSize, err)
	}
}
