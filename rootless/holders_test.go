package rootless

import "testing"

// TestHolderRecords: a record names the user and the mount namespace; the
// records of older skiffs (user namespace only) are still read.
func TestHolderRecords(t *testing.T) {
	for _, c := range []struct {
		data string
		want Holder
		ok   bool
	}{
		{"4026532182 4026532259", Holder{Pid: 7, Inode: 4026532182, Mnt: 4026532259}, true},
		{"4026532182\n", Holder{Pid: 7, Inode: 4026532182}, true},
		{"", Holder{}, false},
		{"0 5", Holder{}, false},
		{"x 5", Holder{}, false},
		{"1 2 3", Holder{}, false},
	} {
		got, ok := ParseHolderRecord(7, c.data)
		if ok != c.ok || got != c.want {
			t.Errorf("ParseHolderRecord(%q) = %+v, %v; want %+v, %v", c.data, got, ok, c.want, c.ok)
		}
		if ok && c.want.Mnt != 0 {
			if back, _ := ParseHolderRecord(7, holderRecord(got)); back != got {
				t.Errorf("holderRecord(%+v) reads back as %+v", got, back)
			}
		}
	}
}
