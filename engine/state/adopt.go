package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/skiff-project/skiff/engine/config"
)

// AdoptContainer copies the record r of the database old into s, with its
// addresses and the records of its networks, in one transaction (the
// caller holds r's lock in old and removes r there once its files moved).
func (s *State) AdoptContainer(ctx context.Context, old *State, r *config.ContainerRecord) error {
	type ip struct{ network, ip string }
	ips, err := queryAll(ctx, old.db, func(sc interface{ Scan(...any) error }) (ip, error) {
		var a ip
		return a, sc.Scan(&a.network, &a.ip)
	}, `SELECT network, ip FROM network_ips WHERE container = ?`, r.ID)
	if err != nil {
		return err
	}
	cfg, err := json.Marshal(r.Config)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, a := range r.Config.Networks {
			var id, conf string
			if err := old.db.QueryRowContext(ctx, `SELECT id, config FROM networks WHERE name = ?`, a.Name).Scan(&id, &conf); err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					continue
				}
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO networks (name, id, config) VALUES (?, ?, ?)`, a.Name, id, conf); err != nil {
				return err
			}
		}
		for _, a := range ips {
			if _, err := tx.ExecContext(ctx, `INSERT INTO network_ips (network, ip, container) VALUES (?, ?, ?)`, a.network, a.ip, r.ID); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO containers (id, name, image, image_id, created, state, pid, exit_code, started_at, finished_at, monitor_pid, restart_count, user_stopped, config) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.Name, r.Image, r.ImageID, r.Created.UnixNano(), r.State, r.Pid, r.ExitCode, unixNano(r.StartedAt), unixNano(r.FinishedAt), r.MonitorPid, r.RestartCount, btoi(r.UserStopped), string(cfg))
		return err
	})
}

// UserVersion is the database's user_version (PRAGMA), which the engine
// uses to mark one-time migrations done.
func (s *State) UserVersion(ctx context.Context) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v)
	return v, err
}

// SetUserVersion sets the database's user_version.
func (s *State) SetUserVersion(ctx context.Context, v int) error {
	_, err := s.db.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, v))
	return err
}

// CountContainers is the number of containers recorded.
func (s *State) CountContainers(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM containers`).Scan(&n)
	return n, err
}
