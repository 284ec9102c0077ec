package network

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Network modes.
const (
	ModeNone  = "none"
	ModeHost  = "host"
	ModePasta = "pasta"
)

// ErrBadNetwork means a network option is invalid; ErrPortInUse, that a
// published host port is taken.
var (
	ErrBadNetwork = errors.New("invalid network option")
	ErrPortInUse  = errors.New("port already in use")
)

// PortMapping is one published port.
type PortMapping struct {
	HostIP        string `json:"HostIp"`
	HostPort      uint16 `json:"HostPort"`
	ContainerPort uint16 `json:"ContainerPort"`
	Protocol      string `json:"Protocol"` // tcp or udp
}

// String is docker's way: 80/tcp -> 0.0.0.0:8080.
func (p PortMapping) String() string {
	ip := p.HostIP
	if ip == "" {
		ip = "0.0.0.0"
	}
	return fmt.Sprintf("%d/%s -> %s", p.ContainerPort, p.Protocol, net.JoinHostPort(ip, strconv.Itoa(int(p.HostPort))))
}

// ParsePublish reads -p: [[IP:]HOST_PORT:]CONTAINER_PORT[/PROTO], with
// ranges (8080-8082:80-82). A missing host port is chosen at start.
func ParsePublish(spec string) ([]PortMapping, error) {
	bad := func(why string) ([]PortMapping, error) {
		return nil, fmt.Errorf("%w: -p %s: %s", ErrBadNetwork, spec, why)
	}
	body, proto, _ := strings.Cut(spec, "/")
	if proto == "" {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" {
		return bad("the protocol must be tcp or udp")
	}
	var ip, host, ctr string
	if i := strings.LastIndex(body, ":"); i >= 0 {
		ctr = body[i+1:]
		rest := body[:i]
		if j := strings.LastIndex(rest, ":"); j >= 0 {
			ip, host = strings.Trim(rest[:j], "[]"), rest[j+1:]
		} else {
			host = rest
		}
	} else {
		ctr = body
	}
	if ip != "" && net.ParseIP(ip) == nil {
		return bad(fmt.Sprintf("%q is not an IP address", ip))
	}
	cLo, cHi, err := portRange(ctr)
	if err != nil {
		return bad(err.Error())
	}
	hLo, hHi := uint16(0), uint16(0)
	if host != "" {
		if hLo, hHi, err = portRange(host); err != nil {
			return bad(err.Error())
		}
		if hHi-hLo != cHi-cLo {
			return bad("the host and container ranges differ in size")
		}
	}
	var out []PortMapping
	for i := uint16(0); i <= cHi-cLo; i++ {
		m := PortMapping{HostIP: ip, ContainerPort: cLo + i, Protocol: proto}
		if hLo != 0 {
			m.HostPort = hLo + i
		}
		out = append(out, m)
	}
	return out, nil
}

func portRange(s string) (uint16, uint16, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := strconv.ParseUint(lo, 10, 16)
	if err != nil || a == 0 {
		return 0, 0, fmt.Errorf("%q is not a port", s)
	}
	b := a
	if isRange {
		if b, err = strconv.ParseUint(hi, 10, 16); err != nil || b < a {
			return 0, 0, fmt.Errorf("%q is not a port range", s)
		}
	}
	return uint16(a), uint16(b), nil
}

// AssignPorts picks free host ports for mappings without one, and checks
// that the others are free; an address in use is refused here, before any
// container or helper exists.
func AssignPorts(ports []PortMapping) ([]PortMapping, error) {
	out := slices.Clone(ports)
	for i := range out {
		p := &out[i]
		addr := net.JoinHostPort(p.HostIP, strconv.Itoa(int(p.HostPort)))
		var port int
		if p.Protocol == "udp" {
			c, err := net.ListenPacket("udp", addr)
			if err != nil {
				return nil, fmt.Errorf("%w: udp %s: %v", ErrPortInUse, addr, unwrapSyscall(err))
			}
			port = c.LocalAddr().(*net.UDPAddr).Port
			c.Close()
		} else {
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return nil, fmt.Errorf("%w: tcp %s: %v", ErrPortInUse, addr, unwrapSyscall(err))
			}
			port = l.Addr().(*net.TCPAddr).Port
			l.Close()
		}
		p.HostPort = uint16(port)
	}
	return out, nil
}

func unwrapSyscall(err error) error {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err
	}
	return err
}

// CreateNetns makes a network namespace, owned by the calling process's
// user namespace, and keeps it bound at path.
func CreateNetns(path string) error {
	errc := make(chan error, 1)
	go func() {
		// The thread that enters the new namespace is never given back to
		// the scheduler: it ends with this goroutine (LockOSThread).
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("creating a network namespace: %w", err)
			return
		}
		errc <- BindNetns(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), path)
	}()
	return <-errc
}

// BindNetns keeps the network namespace at src (a /proc/PID/ns/net) bound
// at path, as CreateNetns keeps its own.
func BindNetns(src, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	if err := unix.Mount(src, path, "", unix.MS_BIND, ""); err != nil {
		os.Remove(path)
		return fmt.Errorf("keeping the network namespace: %w", err)
	}
	return nil
}

// RemoveNetns releases a namespace CreateNetns made; pasta, watching the
// file, ends with it.
func RemoveNetns(path string) {
	_ = unix.Unmount(path, unix.MNT_DETACH)
	_ = os.Remove(path)
}

// DefaultPastaOptions are pasta's options unless the user gives some:
// IPv4 only, as docker's default bridge and podman 4's slirp4netns have it.
// pasta's IPv6 buffers are a third of its memory (RSS 30 MB with IPv6,
// 20 MB without, measured); --network pasta:OPTIONS or containers.conf's
// pasta_options (without -4) turn IPv6 on.
var DefaultPastaOptions = []string{"--ipv4-only"}

// Helper describes the helper process that connects a network namespace
// to the host.
type Helper struct {
	Netns, Pidfile string
	// Userns, when set, is the user namespace that owns Netns (a
	// container's own), which the helper joins to configure it.
	Userns string
	Ports  []PortMapping
	// PastaOptions are the user's options for pasta (nil:
	// DefaultPastaOptions).
	PastaOptions []string
}

// openUserns opens the user namespace that owns the network namespace, to
// be passed to the helper as a descriptor: a container's init is not
// dumpable, so a helper that dropped its capabilities may not open its
// /proc/PID/ns/user itself.
func (h Helper) openUserns() (*os.File, error) {
	if h.Userns == "" {
		return nil, nil
	}
	f, err := os.Open(h.Userns)
	if err != nil {
		return nil, fmt.Errorf("the container's user namespace: %w", err)
	}
	return f, nil
}

// StartPasta connects the namespace to the host with pasta, forwarding the
// published ports, and returns once pasta has configured it and gone to
// the background (its pid in the pid file).
func StartPasta(h Helper) error {
	path, err := exec.LookPath("pasta")
	if err != nil {
		return fmt.Errorf("%w: pasta is not installed (apt-get install passt); use --network none", ErrBadNetwork)
	}
	options := h.PastaOptions
	if options == nil {
		options = DefaultPastaOptions
	}
	args := append([]string{"--config-net", "--netns", h.Netns, "--pid", h.Pidfile, "--quiet", "-T", "none", "-U", "none"}, options...)
	userns, err := h.openUserns()
	if err != nil {
		return err
	}
	if userns != nil {
		defer userns.Close()
		args = append(args, "--userns", "/proc/self/fd/3")
	}
	ports := h.Ports
	var tcp, udp []string
	for _, p := range ports {
		spec := fmt.Sprintf("%d:%d", p.HostPort, p.ContainerPort)
		if p.HostIP != "" && p.HostIP != "0.0.0.0" && p.HostIP != "::" {
			spec = p.HostIP + "/" + spec
		}
		if p.Protocol == "udp" {
			udp = append(udp, spec)
		} else {
			tcp = append(tcp, spec)
		}
	}
	for flag, specs := range map[string][]string{"-t": tcp, "-u": udp} {
		if len(specs) == 0 {
			args = append(args, flag, "none")
		}
		for _, s := range specs {
			args = append(args, flag, s)
		}
	}
	cmd := exec.Command(path, args...)
	if userns != nil {
		cmd.ExtraFiles = []*os.File{userns}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := helperText(stdout.Bytes(), stderr.Bytes())
		if strings.Contains(msg, "bind") || strings.Contains(msg, "in use") {
			return fmt.Errorf("%w: pasta: %s", ErrPortInUse, msg)
		}
		if msg == "" {
			return fmt.Errorf("starting pasta: %w", err)
		}
		return fmt.Errorf("starting pasta: %s (%v)", msg, err)
	}
	return nil
}

// StopHelper ends the pasta or slirp4netns of pidfile, if it still runs
// (and is one: PIDs are reused). With wait, it returns once the helper is
// gone, and with it the host ports it held; its exit takes 20-40 ms (the
// kernel unregisters its tap device), which a helper without published
// ports is not waited for.
func StopHelper(pidfile string, wait bool) {
	data, err := os.ReadFile(pidfile)
	if err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 {
			if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && (strings.HasPrefix(string(comm), "pas") || strings.HasPrefix(string(comm), "slirp4netns")) {
				_ = syscall.Kill(pid, syscall.SIGTERM)
				for i := 0; wait && i < 200 && syscall.Kill(pid, 0) == nil && !zombie(pid); i++ {
					time.Sleep(2 * time.Millisecond)
				}
			}
		}
	}
	_ = os.Remove(pidfile)
	_ = os.Remove(apiSocket(pidfile))
}

// HelperPid tells whether pidfile holds a helper's pid yet.
func HelperPid(pidfile string) bool {
	data, err := os.ReadFile(pidfile)
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	return err == nil && pid > 0
}

// StopHelpersOf ends every pasta or slirp4netns of the user's that was
// started for the namespace at netns, found by its command line: a helper
// whose starter was killed before it wrote its pid file has no other
// trace. It scans until three passes in a row find none (a helper forks
// as it daemonizes, and re-executes itself as it starts).
func StopHelpersOf(netns string) {
	want := []byte("\x00" + netns + "\x00")
	for pass, quiet := 0, 0; pass < 100 && quiet < 3; pass++ {
		found := false
		entries, _ := os.ReadDir("/proc")
		for _, ent := range entries {
			pid, err := strconv.Atoi(ent.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
			if err != nil || !(strings.HasPrefix(string(comm), "pas") || strings.HasPrefix(string(comm), "slirp4netns")) || zombie(pid) {
				continue
			}
			if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && bytes.Contains(cmdline, want) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				found = true
			}
		}
		if quiet++; found {
			quiet = 0
		}
		time.Sleep(3 * time.Millisecond)
	}
}

func zombie(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// Gateway is the host's default IPv4 gateway: what pasta gives the
// container as its gateway and maps to the host's loopback, so it is what
// host.containers.internal names.
func Gateway() string {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 2 && fields[1] == "00000000" && fields[2] != "00000000" {
			b, err := hex.DecodeString(fields[2])
			if err == nil && len(b) == 4 {
				return net.IPv4(b[3], b[2], b[1], b[0]).String()
			}
		}
	}
	return ""
}

// HostAddress is the IPv4 address of the host's interface on the default
// gateway's network, which pasta gives the container too.
func HostAddress() string {
	gw := net.ParseIP(Gateway())
	addrs, err := net.InterfaceAddrs()
	if gw == nil || err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.Contains(gw) {
			return n.IP.String()
		}
	}
	return ""
}
