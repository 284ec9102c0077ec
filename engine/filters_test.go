package engine

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/network"
)

// TestFilterErrors: a bad --filter is an ErrBadOption whose message names
// the flag, as the commands said it before the filters moved here.
func TestFilterErrors(t *testing.T) {
	for _, c := range []struct {
		parse func([]string) error
		in    string
		msg   string
	}{
		{func(f []string) error { _, err := ParseVolumeFilters(f); return err }, "name", `invalid --filter "name": want KEY=VALUE`},
		{func(f []string) error { _, err := ParseVolumeFilters(f); return err }, "dangling=maybe", `invalid --filter dangling=maybe: use true or false`},
		{func(f []string) error { _, err := ParseVolumeFilters(f); return err }, "color=red", `invalid --filter "color=red": use name, label, driver or dangling`},
		{func(f []string) error { _, err := ParseNetworkFilters(f); return err }, "color=red", `invalid --filter "color=red": use name, id, label or driver`},
		{func(f []string) error { _, err := ParseNetworkFilters(f); return err }, "id", `invalid --filter "id": want KEY=VALUE`},
		{func(f []string) error { _, err := ParsePruneFilters(f); return err }, "until=1h", `invalid --filter "until=1h": use label=KEY[=VALUE]`},
		{func(f []string) error { _, err := ParsePruneFilters(f); return err }, "label=", `invalid --filter "label=": use label=KEY[=VALUE]`},
		{func(f []string) error { _, err := ParseContainerPruneFilters(f, time.Now()); return err }, "until=soon", `invalid --filter until=soon: a duration (1h) or an RFC 3339 time`},
		{func(f []string) error { _, err := ParseContainerPruneFilters(f, time.Now()); return err }, "name=x", `invalid --filter "name=x": use label=KEY[=VALUE] or until=DURATION`},
	} {
		err := c.parse([]string{c.in})
		if err == nil || err.Error() != c.msg || !errors.Is(err, config.ErrBadOption) {
			t.Errorf("%s: %v, want %q (an ErrBadOption)", c.in, err, c.msg)
		}
	}
}

func TestContainerPruneUntil(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 0, 0, 0, time.UTC)
	f, err := ParseContainerPruneFilters([]string{"until=90m", "label=a=b", "label=c"}, now)
	if err != nil || !f.Until.Equal(now.Add(-90*time.Minute)) || !reflect.DeepEqual(f.Labels, []string{"a=b", "c"}) {
		t.Fatalf("%+v %v", f, err)
	}
	f, err = ParseContainerPruneFilters([]string{"until=2024-12-31T00:00:00Z"}, now)
	if err != nil || !f.Until.Equal(time.Date(2024, 12, 31, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("%+v %v", f, err)
	}
}

func TestNetworkFilters(t *testing.T) {
	nets := []*network.Network{
		{Name: "front", ID: "abc123", Driver: "bridge", Labels: map[string]string{"team": "qa"}},
		{Name: "back", ID: "def456", Driver: "bridge"},
	}
	for _, c := range []struct {
		filters []string
		want    []string
	}{
		{nil, []string{"front", "back"}},
		{[]string{"name=ro"}, []string{"front"}},
		{[]string{"id=def"}, []string{"back"}},
		{[]string{"id=abc", "name=back"}, nil},
		{[]string{"label=team=qa"}, []string{"front"}},
		{[]string{"label=team=dev"}, nil},
		{[]string{"driver=bridge"}, []string{"front", "back"}},
	} {
		f, err := ParseNetworkFilters(c.filters)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, n := range nets {
			if f.match(n) {
				got = append(got, n.Name)
			}
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%v: %v, want %v", c.filters, got, c.want)
		}
	}
}
