package state

import (
	"context"
	"fmt"
	"slices"

	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/rootless"
)

// freeRange finds size ids of skiff's namespace, above 0, that no other
// --userns auto container (of recs) uses.
func freeRange(recs []*config.ContainerRecord, size, total uint32) (uint32, error) {
	var used []config.IDMapping
	for _, r := range recs {
		if r.Config.Security.Userns == "auto" {
			used = append(used, r.Config.Security.UIDMap...)
		}
	}
	slices.SortFunc(used, func(a, b config.IDMapping) int { return int(a.HostID) - int(b.HostID) })
	start := uint32(1)
	for _, u := range used {
		if start+size <= u.HostID {
			break
		}
		if u.HostID+u.Size > start {
			start = u.HostID + u.Size
		}
	}
	if start+size > total {
		return 0, fmt.Errorf("%w: --userns auto: no %d free ids left in the %d this user's namespace maps", config.ErrBadOption, size, total)
	}
	return start, nil
}

// allocateAutoRange chooses an auto container's range among those of the
// containers recorded (tx is the transaction that records it).
func allocateAutoRange(ctx context.Context, tx queryer, s *config.Security) error {
	if s.Userns != "auto" || len(s.UIDMap) != 1 || s.UIDMap[0].HostID != 0 {
		return nil
	}
	recs, err := queryAll(ctx, tx, scanRecord, selectRecord)
	if err != nil {
		return err
	}
	start, err := freeRange(recs, s.UIDMap[0].Size, rootless.MappedIDs())
	if err != nil {
		return err
	}
	s.UIDMap = []config.IDMapping{{ContainerID: 0, HostID: start, Size: s.UIDMap[0].Size}}
	s.GIDMap = s.UIDMap
	return nil
}
