package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/mattn/go-sqlite3"
	"github.com/skiff-project/skiff/engine/config"
)

// Add inserts a new container. A taken name fails with ErrNameInUse: the
// UNIQUE constraint decides, never a read before the write.
//
// The container's network attachments get their addresses, and a --userns
// auto container its range of ids, in the same transaction.
func (s *State) Add(ctx context.Context, r *config.ContainerRecord) error {
	// The copy gets the allocations; r only once they are committed.
	c := r.Config
	err := s.tx(ctx, func(tx *sql.Tx) error {
		c.Networks = nil
		for _, a := range r.Config.Networks {
			if err := allocate(ctx, tx, r.ID, &a, c.Networks, firstInterface(c.Network)); err != nil {
				return err
			}
			c.Networks = append(c.Networks, a)
		}
		c.Security.UIDMap, c.Security.GIDMap = r.Config.Security.UIDMap, r.Config.Security.GIDMap
		if err := allocateAutoRange(ctx, tx, &c.Security); err != nil {
			return err
		}
		cfg, err := json.Marshal(c)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO containers (id, name, image, image_id, created, state, config) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.Name, r.Image, r.ImageID, r.Created.UnixNano(), r.State, string(cfg))
		return err
	})
	if err == nil {
		r.Config = c
	}
	var serr sqlite3.Error
	if errors.As(err, &serr) && serr.ExtendedCode == sqlite3.ErrConstraintUnique && strings.Contains(serr.Error(), "containers.name") {
		return fmt.Errorf("%w: %q (remove it with skiff rm, or use --replace)", config.ErrNameInUse, r.Name)
	}
	return err
}

// Remove deletes a container's record.
func (s *State) Remove(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM network_ips WHERE container = ?`, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM containers WHERE id = ?`, id)
		return err
	})
}

// Update writes the mutable fields of a record, all but UserStopped, which
// only SetUserStopped writes (under the container's lock), so that a
// monitor's update never undoes a stop.
func (s *State) Update(ctx context.Context, r *config.ContainerRecord) error {
	_, err := s.db.ExecContext(ctx, `UPDATE containers SET state = ?, pid = ?, exit_code = ?, started_at = ?, finished_at = ?, monitor_pid = ?, restart_count = ? WHERE id = ?`,
		r.State, r.Pid, r.ExitCode, unixNano(r.StartedAt), unixNano(r.FinishedAt), r.MonitorPid, r.RestartCount, r.ID)
	return err
}

// Rename changes a container's name; a taken name fails with ErrNameInUse.
func (s *State) Rename(ctx context.Context, id, name string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE containers SET name = ? WHERE id = ?`, name, id)
	var serr sqlite3.Error
	if errors.As(err, &serr) && serr.ExtendedCode == sqlite3.ErrConstraintUnique {
		return fmt.Errorf("%w: %q", config.ErrNameInUse, name)
	}
	return err
}

// SetUserStopped records whether stop ended the container.
func (s *State) SetUserStopped(ctx context.Context, id string, stopped bool) error {
	_, err := s.db.ExecContext(ctx, `UPDATE containers SET user_stopped = ? WHERE id = ?`, btoi(stopped), id)
	return err
}

const selectRecord = `SELECT id, name, image, image_id, created, state, pid, exit_code, started_at, finished_at, monitor_pid, restart_count, user_stopped, config FROM containers`

func scanRecord(sc interface{ Scan(...any) error }) (*config.ContainerRecord, error) {
	var r config.ContainerRecord
	var created, started, finished int64
	var cfg string
	var stopped int
	if err := sc.Scan(&r.ID, &r.Name, &r.Image, &r.ImageID, &created, &r.State, &r.Pid, &r.ExitCode, &started, &finished, &r.MonitorPid, &r.RestartCount, &stopped, &cfg); err != nil {
		return nil, err
	}
	r.UserStopped = stopped == 1
	r.Created, r.StartedAt, r.FinishedAt = fromNano(created), fromNano(started), fromNano(finished)
	if err := json.Unmarshal([]byte(cfg), &r.Config); err != nil {
		return nil, err
	}
	return &r, nil
}

// List returns every container, newest first.
func (s *State) List(ctx context.Context) ([]*config.ContainerRecord, error) {
	return queryAll(ctx, s.db, scanRecord, selectRecord+` ORDER BY created DESC`)
}

// Lookup finds a container by exact name, full id, or unique id prefix.
func (s *State) Lookup(ctx context.Context, nameOrID string) (*config.ContainerRecord, error) {
	r, err := scanRecord(s.db.QueryRowContext(ctx, selectRecord+` WHERE name = ? OR id = ?`, nameOrID, nameOrID))
	if err == nil {
		return r, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	// As docker: any unique prefix of an id, one character too.
	if nameOrID != "" && strings.Trim(nameOrID, "0123456789abcdef") == "" {
		found, err := queryAll(ctx, s.db, scanRecord, selectRecord+` WHERE id LIKE ? LIMIT 2`, nameOrID+"%")
		if err != nil {
			return nil, err
		}
		switch len(found) {
		case 1:
			return found[0], nil
		case 2:
			return nil, fmt.Errorf("%w: %s matches several containers; give more of the id", config.ErrAmbiguousID, nameOrID)
		}
	}
	return nil, fmt.Errorf("%w: %s", config.ErrNoSuchContainer, nameOrID)
}

func setConfig(ctx context.Context, tx *sql.Tx, rec *config.ContainerRecord) error {
	cfg, err := json.Marshal(rec.Config)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE containers SET config = ? WHERE id = ?`, string(cfg), rec.ID)
	return err
}
