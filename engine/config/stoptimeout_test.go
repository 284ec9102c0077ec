package config

import (
	"encoding/json"
	"testing"
)

// TestStopTimeoutRecords: --stop-timeout is kept as given (0 too); a
// record from before, which kept the seconds plus one, is rewritten by the
// state database (engine/state, TestStopTimeoutUpgrade).
func TestStopTimeoutRecords(t *testing.T) {
	for _, c := range []struct {
		record string
		want   int
		set    bool
	}{
		{`{}`, 0, false},
		{`{"StopTimeoutSeconds":5}`, 5, true},
		{`{"StopTimeoutSeconds":0}`, 0, true},
	} {
		var s Security
		if err := json.Unmarshal([]byte(c.record), &s); err != nil {
			t.Fatal(err)
		}
		if got, set := s.StopTimeoutSeconds(); got != c.want || set != c.set {
			t.Errorf("%s: %d %v, want %d %v", c.record, got, set, c.want, c.set)
		}
	}
	var s Security
	five := 5
	s.StopTimeout = &five
	out, _ := json.Marshal(s)
	var back Security
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if got, _ := back.StopTimeoutSeconds(); got != 5 {
		t.Fatalf("round trip of 5 gives %d (%s)", got, out)
	}
}
