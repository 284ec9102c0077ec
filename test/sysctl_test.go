package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// dgramPingSource pings an IPv4 address once as iputils' ping does without
// CAP_NET_RAW: an ICMP echo socket (SOCK_DGRAM, IPPROTO_ICMP), which the
// kernel grants to the groups of net.ipv4.ping_group_range. (busybox's
// ping applet knows raw sockets only, so it needs CAP_NET_RAW whatever the
// sysctl says.)
const dgramPingSource = `package main

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

func main() {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, syscall.IPPROTO_ICMP)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ping: socket:", err)
		os.Exit(2)
	}
	var to syscall.SockaddrInet4
	copy(to.Addr[:], net.ParseIP(os.Args[1]).To4())
	// An echo request; the kernel sets the identifier and the checksum.
	if err := syscall.Sendto(fd, []byte{8, 0, 0, 0, 0, 0, 0, 1, 's', 'k', 'i', 'f', 'f'}, 0, &to); err != nil {
		fmt.Fprintln(os.Stderr, "ping: sendto:", err)
		os.Exit(1)
	}
	tv := syscall.Timeval{Sec: 3}
	syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	buf := make([]byte, 1500)
	n, _, err := syscall.Recvfrom(fd, buf, 0)
	if err != nil || n < 8 || buf[0] != 0 {
		fmt.Fprintln(os.Stderr, "ping: no echo reply:", err)
		os.Exit(1)
	}
	fmt.Println("echo reply from", os.Args[1])
}
`

// dgramPing builds the ping above, for a bind mount into containers.
func dgramPing(t *testing.T, e *env) string {
	t.Helper()
	dir := filepath.Join(e.root, "work", "dping-src")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte(dgramPingSource), 0o644)
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module dping\n\ngo 1.21\n"), 0o644)
	build := exec.Command("go", "build", "-o", "dping", ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the ping: %v\n%s", err, out)
	}
	e.chownAll()
	return filepath.Join(dir, "dping")
}

// TestDefaultSysctlsLetRootPing: a container with a network namespace of
// its own gets net.ipv4.ping_group_range=0 0, podman's default_sysctls, so
// its root pings without CAP_NET_RAW; not with --network host (the host's
// namespace), nor where the user's --sysctl or containers.conf's
// default_sysctls say otherwise. A bad --sysctl is one line, exit 125, and
// no container.
func TestDefaultSysctlsLetRootPing(t *testing.T) {
	e := runEnv(t)
	ping := dgramPing(t, e)
	ranges := func(args ...string) string {
		t.Helper()
		return strings.Join(strings.Fields(e.ok(append(append([]string{"run", "--rm"}, args...), busybox, "cat", "/proc/sys/net/ipv4/ping_group_range")...)), " ")
	}
	for _, args := range [][]string{nil, {"--network", "none"}, {"--userns", "auto"}, {"--runtime", "runc"}} {
		if got := ranges(args...); got != "0 0" {
			t.Fatalf("run %v: ping_group_range %q, want 0 0", args, got)
		}
		run := append(append([]string{"run", "--rm", "-v", ping + ":/dping:ro"}, args...), busybox, "/dping", "127.0.0.1")
		if out := e.ok(run...); out != "echo reply from 127.0.0.1\n" {
			t.Fatalf("ping in a container (%v): %q", args, out)
		}
	}
	// Set again at each start, in the namespace each start makes.
	e.ok("run", "-d", "--name", "again", busybox, "tail", "-f", "/dev/null")
	for round := 0; round < 2; round++ {
		if got := strings.Join(strings.Fields(e.ok("exec", "again", "cat", "/proc/sys/net/ipv4/ping_group_range")), " "); got != "0 0" {
			t.Fatalf("after %d restarts: ping_group_range %q", round, got)
		}
		e.ok("restart", "-t", "0", "again")
	}
	e.ok("rm", "-f", "again")
	// The kernel's own value (no group, "1 0" of the host's ids) reads
	// as the overflow ids in the user's namespace.
	unset := ranges("--network", "host")
	if unset == "0 0" || unset == "" {
		t.Fatalf("--network host: the host's ping_group_range was set: %q", unset)
	}
	// The user's own value wins; the other defaults stay.
	if got := ranges("--sysctl", "net.ipv4.ping_group_range=1 1"); got != "1 1" {
		t.Fatalf("--sysctl net.ipv4.ping_group_range=1 1: %q", got)
	}
	if got := e.ok("run", "--rm", "--sysctl", "net.ipv4.ip_forward=1", busybox, "cat", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv4/ping_group_range"); strings.Join(strings.Fields(got), " ") != "1 0 0" {
		t.Fatalf("--sysctl net.ipv4.ip_forward=1 beside the default: %q", got)
	}
	// A container sharing another's network namespace gets no default of
	// its own for it.
	e.ok("run", "-d", "--name", "netowner", "--sysctl", "net.ipv4.ping_group_range=1 1", busybox, "tail", "-f", "/dev/null")
	if got := strings.Join(strings.Fields(e.ok("run", "--rm", "--network", "container:netowner", busybox, "cat", "/proc/sys/net/ipv4/ping_group_range")), " "); got != "1 1" {
		t.Fatalf("--network container: rewrote its owner's ping_group_range: %q", got)
	}
	e.ok("rm", "-f", "netowner")
	// containers.conf's default_sysctls replace skiff's; [] is none.
	e.writeFile("home/.config/containers/containers.conf", "[containers]\ndefault_sysctls = [\"net.ipv4.ip_forward=1\"]\n")
	if got := e.ok("run", "--rm", busybox, "cat", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv4/ping_group_range"); strings.Join(strings.Fields(got), " ") != "1 "+unset {
		t.Fatalf("containers.conf default_sysctls = [ip_forward=1]: %q", got)
	}
	e.writeFile("home/.config/containers/containers.conf", "[containers]\ndefault_sysctls = []\n")
	if got := ranges(); got != unset {
		t.Fatalf("containers.conf default_sysctls = []: ping_group_range %q", got)
	}
	e.writeFile("home/.config/containers/containers.conf", "[containers]\ndefault_sysctls = [\"net.ipv4.nosuch=1\"]\n")
	e.fails(125, `^Error: .*default_sysctls net.ipv4.nosuch=1: .*no such sysctl`, "run", "--rm", busybox, "true")
	os.Remove(filepath.Join(e.home, ".config/containers/containers.conf"))

	// Bad input: one line, exit 125, no container made, for run and create.
	before := e.ok("ps", "-a", "-q", "--no-trunc")
	for _, c := range []struct {
		sysctl, re string
	}{
		{"net.ipv4.nosuch=1", `--sysctl net.ipv4.nosuch=1: .*no such sysctl`},
		{"foo", `--sysctl "foo": want NAME=VALUE`},
		{"net.ipv4.ping_group_range=0 99999999", `--sysctl net.ipv4.ping_group_range=0 99999999: the kernel refuses the value`},
		{"net.ipv4.ip_forward=yes", `--sysctl net.ipv4.ip_forward=yes: the kernel refuses the value`},
		{"vm.swappiness=1", `not a namespaced sysctl`},
		{"net.ipv4/../../../../etc/x=1", `not a dotted sysctl name`},
	} {
		for _, verb := range []string{"run", "create"} {
			e.fails(125, `^Error: .*`+c.re, verb, "--sysctl", c.sysctl, busybox, "true")
		}
	}
	e.fails(125, `--network host`, "run", "--network", "host", "--sysctl", "net.ipv4.ip_forward=1", busybox, "true")
	// A per-interface sysctl names the container's own interface, which
	// the trial has not: its value is tried on the defaults for one.
	iface := ""
	for _, name := range strings.Fields(e.ok("run", "--rm", busybox, "ls", "/sys/class/net")) {
		if name != "lo" {
			iface = name
		}
	}
	if got := e.ok("run", "--rm", "--sysctl", "net.ipv4.conf."+iface+".rp_filter=2", busybox, "cat", "/proc/sys/net/ipv4/conf/"+iface+"/rp_filter"); iface == "" || got != "2\n" {
		t.Fatalf("--sysctl net.ipv4.conf.%s.rp_filter=2: %q", iface, got)
	}
	if after := e.ok("ps", "-a", "-q", "--no-trunc"); after != before {
		t.Fatalf("bad --sysctl changed the containers:\nbefore %q\nafter  %q", before, after)
	}
	waitNoProcesses(t, e)
}
