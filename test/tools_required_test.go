package test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// requiredPrograms is every program skiff, the helpers it starts, and the
// e2e tests execute, with the Debian package that has it. test/setup.sh
// must install each package: a fresh Debian 12 machine has nothing else.
var requiredPrograms = []struct {
	name, pkg, why string
}{
	{"newuidmap", "uidmap", "rootless: maps the user namespace"},
	{"newgidmap", "uidmap", "rootless: maps the user namespace"},
	{"crun", "crun", "engine: the default OCI runtime"},
	{"runc", "runc", "engine: --runtime runc"},
	{"catatonit", "catatonit", "engine: run --init"},
	{"pasta", "passt", "network: the default rootless network"},
	{"slirp4netns", "slirp4netns", "network: --network slirp4netns"},
	{"netavark", "netavark", "network: user-defined networks"},
	{"aardvark-dns", "aardvark-dns", "netavark: DNS on user-defined networks"},
	{"iptables", "iptables", "netavark 1.4: runs it on every setup and teardown"},
	{"ip6tables", "iptables", "netavark 1.4: IPv6 networks"},
	{"systemctl", "systemd", "engine: auto-update restarts units"},
	{"systemd-analyze", "systemd", "tests: verify generated units"},
	{"docker-registry", "docker-registry", "tests: the local registries"},
	{"htpasswd", "apache2-utils", "tests: the auth registry"},
	{"openssl", "openssl", "tests: the auth registry's certificate"},
	{"busybox", "busybox-static", "tests: the test images and host-side clients"},
	{"ip", "iproute2", "tests: network namespaces"},
	{"pkill", "procps", "bench: ends a user's processes"},
	{"script", "bsdutils", "tests: a pseudo-terminal"},
	{"diff", "diffutils", "tests: cp round trips"},
	{"tar", "tar", "tests and bench"},
	{"stty", "coreutils", "tests: terminal size"},
}

// podmanHelperDirs is where distributions put netavark and aardvark-dns
// (network.helperBinary looks there before PATH).
var podmanHelperDirs = []string{"/usr/local/libexec/podman", "/usr/local/lib/podman", "/usr/libexec/podman", "/usr/lib/podman"}

// TestRequiredProgramsInstalled fails, never skips, when a program skiff or
// its tests run is missing, or when test/setup.sh does not install its
// package: CI on a clean machine catches it here rather than as an empty
// "netavark setup: exit status 1" in an unrelated test.
func TestRequiredProgramsInstalled(t *testing.T) {
	script, err := os.ReadFile("setup.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^pkgs=\(([^)]*)\)`).FindSubmatch(script)
	if m == nil {
		t.Fatal("test/setup.sh has no pkgs=(...) list")
	}
	installed := strings.Fields(string(m[1]))
	// The e2e tests run skiff with this PATH (harness_test.go).
	path := "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
	for _, p := range requiredPrograms {
		if !slices.Contains(installed, p.pkg) {
			t.Errorf("test/setup.sh does not install %s, which has %s (%s)", p.pkg, p.name, p.why)
		}
		if where := findProgram(p.name, path); where == "" {
			t.Errorf("%s is missing (%s): apt-get install %s, or run test/setup.sh", p.name, p.why, p.pkg)
		}
	}
	for _, helper := range []string{"newuidmap", "newgidmap"} {
		if where := findProgram(helper, path); where != "" {
			if st, err := os.Stat(where); err == nil && st.Mode()&(os.ModeSetuid|os.ModeSetgid) == 0 && !hasFileCaps(where) {
				t.Errorf("%s is neither setuid nor has file capabilities: apt-get install --reinstall uidmap", where)
			}
		}
	}
}

func findProgram(name, path string) string {
	dirs := filepath.SplitList(path)
	if name == "netavark" || name == "aardvark-dns" {
		dirs = append(slices.Clone(podmanHelperDirs), dirs...)
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

func hasFileCaps(path string) bool {
	buf := make([]byte, 64)
	n, err := syscall.Getxattr(path, "security.capability", buf)
	return err == nil && n > 0
}
