package spec

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/engine/state"
	"github.com/skiff-project/skiff/rootless"
)

// TestDroppedCapabilitiesStayDropped: --cap-drop ALL is stored as no
// capability, read back from the state database as none, and the spec
// has none in any set; without flags the defaults stay.
func TestDroppedCapabilitiesStayDropped(t *testing.T) {
	caps, err := CapabilitySet(nil, []string{"all"}, false)
	if err != nil || caps == nil || len(caps) != 0 {
		t.Fatalf("--cap-drop ALL: %#v, %v", caps, err)
	}
	st, err := state.Open(rootless.StatePaths{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	rec := &config.ContainerRecord{ID: "0123456789ab", Name: "dropped", Image: "img", ImageID: "x", Created: time.Now(), State: config.StateCreated,
		Config: config.ContainerConfig{Security: config.Security{Caps: caps}}}
	if err := st.Add(ctx, rec); err != nil {
		t.Fatal(err)
	}
	got, err := st.Lookup(ctx, "dropped")
	if err != nil {
		t.Fatal(err)
	}
	if got.Config.Security.Caps == nil {
		t.Fatal("no capability came back as nil: the defaults")
	}
	for _, c := range []struct {
		caps []string
		want []string
	}{{got.Config.Security.Caps, []string{}}, {nil, DefaultCapabilities}} {
		spec, err := New(Options{Args: []string{"true"}})
		if err != nil {
			t.Fatal(err)
		}
		cfg := config.ContainerConfig{Security: config.Security{Caps: c.caps}}
		if err := Apply(spec, &cfg); err != nil {
			t.Fatal(err)
		}
		p := spec.Process.Capabilities
		for _, set := range [][]string{p.Bounding, p.Effective, p.Permitted} {
			if !slices.Equal(set, c.want) && !(len(set) == 0 && len(c.want) == 0) {
				t.Fatalf("caps %#v: a set of the spec is %v, want %v", c.caps, set, c.want)
			}
		}
	}
}
