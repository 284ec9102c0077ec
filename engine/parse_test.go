package engine

import (
	"errors"
	"reflect"
	"syscall"
	"testing"

	"github.com/skiff-project/skiff/engine/config"
)

// TestParseNetwork: --network becomes a mode, or networks, once; create
// takes it as parsed.
func TestParseNetwork(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want NetworkChoice
	}{
		{nil, NetworkChoice{}},
		{[]string{""}, NetworkChoice{}},
		{[]string{"private"}, NetworkChoice{}},
		{[]string{"bridge"}, NetworkChoice{}},
		{[]string{"none"}, NetworkChoice{Mode: "none"}},
		{[]string{"host"}, NetworkChoice{Mode: "host"}},
		{[]string{"slirp4netns"}, NetworkChoice{Mode: "slirp4netns"}},
		{[]string{"pasta"}, NetworkChoice{Mode: "pasta"}},
		{[]string{"pasta:"}, NetworkChoice{Mode: "pasta", PastaOptions: []string{}}},
		{[]string{"pasta:-T,8080,,-U"}, NetworkChoice{Mode: "pasta", PastaOptions: []string{"-T", "8080", "-U"}}},
		{[]string{"container:web"}, NetworkChoice{Mode: modeContainer, Container: "web"}},
		{[]string{"front"}, NetworkChoice{Networks: []string{"front"}}},
		{[]string{"front,back"}, NetworkChoice{Networks: []string{"front", "back"}}},
		{[]string{"front", "back,side"}, NetworkChoice{Networks: []string{"front", "back", "side"}}},
	} {
		got, err := ParseNetwork(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: %+v %v, want %+v", c.in, got, err, c.want)
		}
	}
	for _, bad := range [][]string{{"container:"}, {"bad name"}, {"front,"}, {"front,none"}, {"host", "host"}, {"pasta", "front"}, {"pasta:-T", "front"}, {"container:a", "b"}} {
		if _, err := ParseNetwork(bad); !errors.Is(err, config.ErrBadOption) {
			t.Errorf("%q: %v, want an ErrBadOption", bad, err)
		}
	}
}

func TestParsePullPolicyAndSdNotify(t *testing.T) {
	for in, want := range map[string]PullPolicy{"": PullMissing, "missing": PullMissing, "always": PullAlways, "never": PullNever} {
		if got, err := ParsePullPolicy(in); err != nil || got != want {
			t.Errorf("--pull %q: %v %v", in, got, err)
		}
	}
	if _, err := ParsePullPolicy("sometimes"); err == nil || err.Error() != `invalid option: --pull "sometimes": use always, missing or never` {
		t.Errorf("--pull sometimes: %v", err)
	}
	for _, in := range []string{"", "container", "conmon", "ignore"} {
		if got, err := ParseSdNotify(in); err != nil || string(got) != in {
			t.Errorf("--sdnotify %q: %v %v", in, got, err)
		}
	}
	if _, err := ParseSdNotify("loud"); !errors.Is(err, config.ErrBadOption) {
		t.Errorf("--sdnotify loud: %v", err)
	}
}

// TestParseSignal: by name, with or without SIG, or by number, and as the
// runtime's kill is given it.
func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{"": syscall.SIGTERM, "KILL": syscall.SIGKILL, "sigusr1": syscall.SIGUSR1, "SIGHUP": syscall.SIGHUP, "15": syscall.SIGTERM, "40": syscall.Signal(40), "RTMIN+1": syscall.Signal(35)} {
		if got, err := ParseSignal(in); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"0", "65", "BOGUS", "-1"} {
		if _, err := ParseSignal(bad); !errors.Is(err, config.ErrBadOption) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	for sig, want := range map[syscall.Signal]string{syscall.SIGKILL: "KILL", syscall.SIGTERM: "TERM", syscall.Signal(40): "40"} {
		if got := signalArg(sig); got != want {
			t.Errorf("signalArg(%d) = %q, want %q", sig, got, want)
		}
	}
}
