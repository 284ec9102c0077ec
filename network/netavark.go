package network

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Network is a user-defined network as netavark describes one (and podman's
// network inspect prints it): a bridge with an IPv4 subnet, and a DNS
// server (aardvark-dns) on its gateway address when DNSEnabled.
type Network struct {
	Name             string    `json:"name"`
	ID               string    `json:"id"`
	Driver           string    `json:"driver"`
	NetworkInterface string    `json:"network_interface"`
	Created          time.Time `json:"created"`
	Subnets          []Subnet  `json:"subnets"`
	IPv6Enabled      bool      `json:"ipv6_enabled"`
	// Internal: the containers on it have no way out but the bridge.
	Internal    bool              `json:"internal"`
	DNSEnabled  bool              `json:"dns_enabled"`
	Labels      map[string]string `json:"labels,omitempty"`
	Options     map[string]string `json:"options,omitempty"`
	IPAMOptions map[string]string `json:"ipam_options"`
}

// Subnet is one of a network's address ranges.
type Subnet struct {
	Subnet  string `json:"subnet"`
	Gateway string `json:"gateway"`
}

// Attachment is how one container is on one network.
type Attachment struct {
	IP        string
	Aliases   []string
	Interface string
}

// Hub is the user's network namespace for the bridges of user-defined
// networks, shared by the containers on them: each container keeps a
// namespace of its own (with pasta for the way out and published ports,
// which then see the client's real address) and gets a veth on each of its
// networks' bridges from netavark; aardvark-dns answers on each bridge's
// gateway with the names and aliases of the containers on it. The hub
// exists while a container is attached: the last one's detach removes it,
// and aardvark-dns exits when its last entry goes.
type Hub struct {
	Dir string
	// Outbound connects the hub's namespace to the host (pasta or
	// slirp4netns), so that aardvark-dns can ask the host's resolvers about
	// other names; nil leaves the hub without a way out.
	Outbound func(netns, pidfile string) error
}

func (h Hub) netns() string   { return filepath.Join(h.Dir, "netns") }
func (h Hub) pidfile() string { return filepath.Join(h.Dir, "outbound.pid") }
func (h Hub) users() string   { return filepath.Join(h.Dir, "users") }
func (h Hub) config() string  { return filepath.Join(h.Dir, "netavark") }

// lock serialises the hub's setup and teardown between skiff processes.
func (h Hub) lock() (func(), error) {
	if err := os.MkdirAll(h.Dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(h.Dir, "lock"), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// ensure makes the hub's namespace if there is none.
func (h Hub) ensure() error {
	var st unix.Statfs_t
	if unix.Statfs(h.netns(), &st) == nil && st.Type == unix.NSFS_MAGIC {
		return nil
	}
	RemoveNetns(h.netns())
	_ = os.RemoveAll(h.users())
	_ = os.RemoveAll(h.config())
	for _, d := range []string{h.users(), h.config()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	if err := CreateNetns(h.netns()); err != nil {
		return err
	}
	if h.Outbound != nil {
		if err := h.Outbound(h.netns(), h.pidfile()); err != nil {
			RemoveNetns(h.netns())
			return fmt.Errorf("connecting the networks' namespace: %w", err)
		}
	}
	return nil
}

// Attach puts the container whose namespace is netns on the networks.
func (h Hub) Attach(id, name, netns string, nets []Network, atts []Attachment) error {
	unlock, err := h.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := h.ensure(); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(h.users(), id), nil, 0o600); err != nil {
		return err
	}
	if err := h.netavark("setup", id, name, netns, nets, atts); err != nil {
		_ = h.netavark("teardown", id, name, netns, nets, atts)
		h.release(id)
		return err
	}
	return nil
}

// Detach takes the container off the networks; the last container's
// detach removes the hub. Call it while netns still exists.
func (h Hub) Detach(id, name, netns string, nets []Network, atts []Attachment) error {
	if _, err := os.Stat(filepath.Join(h.users(), id)); err != nil {
		return nil // never attached, or the hub is gone
	}
	unlock, err := h.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if len(nets) > 0 {
		err = h.netavark("teardown", id, name, netns, nets, atts)
	}
	h.release(id)
	return err
}

// Disconnect takes the container off some of its networks and keeps it on
// the hub.
func (h Hub) Disconnect(id, name, netns string, nets []Network, atts []Attachment) error {
	unlock, err := h.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return h.netavark("teardown", id, name, netns, nets, atts)
}

// release forgets a container; with none left, the hub goes.
func (h Hub) release(id string) {
	_ = os.Remove(filepath.Join(h.users(), id))
	if left, _ := os.ReadDir(h.users()); len(left) > 0 {
		return
	}
	StopHelper(h.pidfile(), false)
	// aardvark-dns exits when netavark removes its last entry; one a
	// failed teardown left is ended here.
	if data, err := os.ReadFile(filepath.Join(h.config(), "aardvark-dns", "aardvark.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 {
			if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.HasPrefix(string(comm), "aardvark") {
				_ = unix.Kill(pid, unix.SIGTERM)
			}
		}
	}
	RemoveNetns(h.netns())
}

// netavarkOptions is what netavark reads on its standard input.
type netavarkOptions struct {
	ContainerID   string                        `json:"container_id"`
	ContainerName string                        `json:"container_name"`
	Networks      map[string]netavarkAttachment `json:"networks"`
	NetworkInfo   map[string]Network            `json:"network_info"`
	PortMappings  []struct{}                    `json:"port_mappings"`
}

type netavarkAttachment struct {
	StaticIPs     []string `json:"static_ips"`
	Aliases       []string `json:"aliases"`
	InterfaceName string   `json:"interface_name"`
}

// netavark runs netavark in the hub's namespace, where it makes the
// bridges (and starts aardvark-dns), with the container's namespace as its
// argument. The networks are marked internal for netavark: the container's
// way out is its own pasta, not the bridge, so netavark adds no default
// route and no firewall rules.
func (h Hub) netavark(op, id, name, netns string, nets []Network, atts []Attachment) error {
	bin, err := helperBinary("netavark")
	if err != nil {
		return err
	}
	o := netavarkOptions{ContainerID: id, ContainerName: name, Networks: map[string]netavarkAttachment{}, NetworkInfo: map[string]Network{}}
	for i, n := range nets {
		n.Internal = true
		o.NetworkInfo[n.Name] = n
		o.Networks[n.Name] = netavarkAttachment{StaticIPs: []string{atts[i].IP}, Aliases: atts[i].Aliases, InterfaceName: atts[i].Interface}
	}
	input, err := json.Marshal(o)
	if err != nil {
		return err
	}
	args := []string{"--config", h.config(), "--rootless", "true"}
	if aardvark, err := helperBinary("aardvark-dns"); err == nil {
		args = append(args, "--aardvark-binary", aardvark)
	}
	cmd := exec.Command(bin, append(args, op, netns)...)
	cmd.Stdin = bytes.NewReader(input)
	// netavark tells why it failed as {"error": "..."} on its standard
	// output, and logs on its standard error.
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := runInNetns(h.netns(), cmd); err != nil {
		msg := helperText(stdout.Bytes(), stderr.Bytes())
		if _, lerr := exec.LookPath("iptables"); lerr != nil {
			// Debian's netavark 1.4 runs iptables, which its package does
			// not pull in; without it, it says only "No such file or directory".
			msg = strings.TrimPrefix(msg+"; iptables, which netavark runs, is not in PATH (apt-get install iptables)", "; ")
		}
		if msg != "" {
			return fmt.Errorf("netavark %s: %s (%v)", op, msg, err)
		}
		return fmt.Errorf("netavark %s: %w", op, err)
	}
	return nil
}

// runInNetns runs cmd with the network namespace at path: it is forked
// from a thread that joined the namespace and never serves another
// goroutine (LockOSThread, not undone).
func runInNetns(path string, cmd *exec.Cmd) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(path)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("joining the networks' namespace: %w", err)
			return
		}
		errc <- cmd.Run()
	}()
	return <-errc
}

// ErrNoNetavark means netavark, which user-defined networks need, is not
// installed.
var ErrNoNetavark = errors.New("netavark is not installed (apt-get install netavark aardvark-dns)")

// helperBinary finds one of podman's network helpers where distributions
// put them.
func helperBinary(name string) (string, error) {
	for _, dir := range []string{"/usr/local/libexec/podman", "/usr/local/lib/podman", "/usr/libexec/podman", "/usr/lib/podman"} {
		p := filepath.Join(dir, name)
		if unix.Access(p, unix.X_OK) == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if name == "netavark" {
		return "", ErrNoNetavark
	}
	return "", fmt.Errorf("%s is not installed", name)
}

// NetavarkAvailable tells whether user-defined networks can be set up.
func NetavarkAvailable() error {
	_, err := helperBinary("netavark")
	return err
}
