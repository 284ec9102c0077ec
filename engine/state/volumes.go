package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mattn/go-sqlite3"
	"github.com/skiff-project/skiff/engine/config"
)

// AddVolume inserts a volume record; the name's uniqueness is the
// database's to decide.
func (s *State) AddVolume(ctx context.Context, v *config.Volume) error {
	labels, _ := json.Marshal(v.Labels)
	opts, _ := json.Marshal(v.Options)
	_, err := s.db.ExecContext(ctx, `INSERT INTO volumes (name, created, labels, options, anonymous) VALUES (?, ?, ?, ?, ?)`,
		v.Name, v.CreatedAt.UnixNano(), string(labels), string(opts), btoi(v.Anonymous))
	var serr sqlite3.Error
	if errors.As(err, &serr) && serr.ExtendedCode == sqlite3.ErrConstraintPrimaryKey {
		return fmt.Errorf("%w: %s", config.ErrVolumeExists, v.Name)
	}
	return err
}

// RemoveVolume deletes a volume record.
func (s *State) RemoveVolume(ctx context.Context, name string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM volumes WHERE name = ?`, name)
	return err
}

func scanVolume(sc interface{ Scan(...any) error }) (*config.Volume, error) {
	var v config.Volume
	var created int64
	var labels, opts string
	var anon int
	if err := sc.Scan(&v.Name, &created, &labels, &opts, &anon); err != nil {
		return nil, err
	}
	v.Driver, v.Scope, v.CreatedAt, v.Anonymous = "local", "local", time.Unix(0, created), anon == 1
	_ = json.Unmarshal([]byte(labels), &v.Labels)
	_ = json.Unmarshal([]byte(opts), &v.Options)
	return &v, nil
}

// LookupVolume finds a volume by exact name.
func (s *State) LookupVolume(ctx context.Context, name string) (*config.Volume, error) {
	v, err := scanVolume(s.db.QueryRowContext(ctx, `SELECT name, created, labels, options, anonymous FROM volumes WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", config.ErrNoSuchVolume, name)
	}
	return v, err
}

// ListVolumes returns every volume, by name.
func (s *State) ListVolumes(ctx context.Context) ([]*config.Volume, error) {
	return queryAll(ctx, s.db, scanVolume, `SELECT name, created, labels, options, anonymous FROM volumes ORDER BY name`)
}
