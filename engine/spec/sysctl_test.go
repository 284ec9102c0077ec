package spec

import (
	"errors"
	"maps"
	"testing"

	"github.com/skiff-project/skiff/engine/config"

	"github.com/skiff-project/skiff/network"
)

func TestParseSysctls(t *testing.T) {
	for _, bad := range []string{"foo", "=1", "vm.swappiness=1", "net.ipv4/../../etc/x=1", "net..x=1", ".net.x=1", "net=1"} {
		if _, err := parseSysctls("--sysctl", []string{bad}); !errors.Is(err, config.ErrBadOption) {
			t.Errorf("%q: %v, want a bad option", bad, err)
		}
	}
	got, err := parseSysctls("--sysctl", []string{"net.ipv4.ping_group_range=0 0", "kernel.shmmax=1", "fs.mqueue.msg_max=20", "kernel.domainname=x", "net.ipv4.conf.eth0.rp_filter=2"})
	if err != nil || got["net.ipv4.ping_group_range"] != "0 0" || len(got) != 5 {
		t.Fatalf("good sysctls: %v %v", got, err)
	}
}

func TestTrialName(t *testing.T) {
	for in, want := range map[string]string{
		"net.ipv4.conf.eth0.rp_filter":  "net.ipv4.conf.default.rp_filter",
		"net.ipv6.neigh.ens3.base_time": "net.ipv6.neigh.default.base_time",
		"net.ipv4.conf.all.rp_filter":   "net.ipv4.conf.all.rp_filter",
		"net.ipv4.ping_group_range":     "net.ipv4.ping_group_range",
	} {
		if got := trialName(in); got != want {
			t.Errorf("trialName(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestDefaultSysctlsByNetwork: the defaults go to a container with a
// network namespace of its own only, and never over the user's value.
func TestDefaultSysctlsByNetwork(t *testing.T) {
	if config.ContainersConf().DefaultSysctls != nil {
		t.Skip("a containers.conf on this machine sets default_sysctls")
	}
	for _, c := range []struct {
		network string
		user    []string
		want    map[string]string
	}{
		{network.ModePasta, nil, map[string]string{"net.ipv4.ping_group_range": "0 0"}},
		{network.ModeNone, nil, map[string]string{"net.ipv4.ping_group_range": "0 0"}},
		{network.ModeHost, nil, nil},
		{"container:0123", nil, nil},
		{network.ModeHost, []string{"kernel.shmmax=4096"}, map[string]string{"kernel.shmmax": "4096"}},
		{network.ModePasta, []string{"net.ipv4.ping_group_range=1 1"}, map[string]string{"net.ipv4.ping_group_range": "1 1"}},
	} {
		cfg := config.ContainerConfig{Network: c.network}
		if err := ResolveSysctls(c.user, &cfg); err != nil {
			t.Fatalf("%s %v: %v", c.network, c.user, err)
		}
		if !maps.Equal(cfg.Security.Sysctls, c.want) {
			t.Errorf("%s %v: %v, want %v", c.network, c.user, cfg.Security.Sysctls, c.want)
		}
	}
	cfg := config.ContainerConfig{Network: network.ModeHost}
	if err := ResolveSysctls([]string{"net.ipv4.ip_forward=1"}, &cfg); !errors.Is(err, config.ErrBadOption) {
		t.Fatalf("a net.* sysctl with --network host: %v", err)
	}
}
