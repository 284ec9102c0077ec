package rootless

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// IDMap is one contiguous range of an id mapping, as in /proc/PID/uid_map.
type IDMap struct {
	ContainerID uint32 `json:"ContainerID"`
	HostID      uint32 `json:"HostID"`
	Size        uint32 `json:"Size"`
}

// SubIDFiles are the files subordinate ranges are read from; tests may point
// them elsewhere.
var SubIDFiles = struct{ UID, GID string }{"/etc/subuid", "/etc/subgid"}

// readSubIDs returns the ranges file grants to the user (matched by name or by
// numeric id), in file order.
func readSubIDs(file, user string, id int) ([]IDMap, error) {
	f, err := os.Open(file)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	defer f.Close()
	var ranges []IDMap
	idStr := strconv.Itoa(id)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, ":")
		if len(parts) != 3 || (parts[0] != user && parts[0] != idStr) {
			continue
		}
		start, err1 := strconv.ParseUint(parts[1], 10, 32)
		size, err2 := strconv.ParseUint(parts[2], 10, 32)
		if err1 != nil || err2 != nil || size == 0 {
			continue
		}
		ranges = append(ranges, IDMap{HostID: uint32(start), Size: uint32(size)})
	}
	return ranges, sc.Err()
}

// Mappings returns the uid and gid maps for the user namespace of user
// (uid, gid): the user itself as 0, then every subordinate range, stacked.
func Mappings(user string, uid, gid int) (uids, gids []IDMap, err error) {
	sub, err := readSubIDs(SubIDFiles.UID, user, uid)
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", SubIDFiles.UID, err)
	}
	if len(sub) == 0 {
		return nil, nil, fmt.Errorf("%w: user %q has no entry in %s; add one as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s",
			ErrNoSubIDs, user, SubIDFiles.UID, user)
	}
	subg, err := readSubIDs(SubIDFiles.GID, user, uid)
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", SubIDFiles.GID, err)
	}
	if len(subg) == 0 {
		return nil, nil, fmt.Errorf("%w: user %q has no entry in %s; add one as root: usermod --add-subgids 100000-165535 %s",
			ErrNoSubIDs, user, SubIDFiles.GID, user)
	}
	return stack(uint32(uid), sub), stack(uint32(gid), subg), nil
}

func stack(self uint32, sub []IDMap) []IDMap {
	out := []IDMap{{ContainerID: 0, HostID: self, Size: 1}}
	next := uint32(1)
	for _, r := range sub {
		out = append(out, IDMap{ContainerID: next, HostID: r.HostID, Size: r.Size})
		next += r.Size
	}
	return out
}

// Total is the number of ids a mapping covers.
func Total(m []IDMap) uint64 {
	var n uint64
	for _, r := range m {
		n += uint64(r.Size)
	}
	return n
}

// CurrentMappings reads the uid and gid maps of the calling process.
func CurrentMappings() (uids, gids []IDMap, err error) {
	if uids, err = readProcMap("/proc/self/uid_map"); err != nil {
		return nil, nil, err
	}
	if gids, err = readProcMap("/proc/self/gid_map"); err != nil {
		return nil, nil, err
	}
	return uids, gids, nil
}

func readProcMap(path string) ([]IDMap, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []IDMap
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		c, _ := strconv.ParseUint(f[0], 10, 32)
		h, _ := strconv.ParseUint(f[1], 10, 32)
		s, _ := strconv.ParseUint(f[2], 10, 32)
		out = append(out, IDMap{ContainerID: uint32(c), HostID: uint32(h), Size: uint32(s)})
	}
	return out, nil
}

// MappedIDs is how many ids the current user namespace maps (65536 when
// they cannot be read).
func MappedIDs() uint32 {
	uids, _, err := CurrentMappings()
	if err != nil || len(uids) == 0 {
		return 65536
	}
	return uint32(Total(uids))
}
