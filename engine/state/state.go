// Package state is the engine's database: one SQLite file per store (WAL,
// a busy timeout, a full sync on commit) with the records of containers,
// volumes, networks and the addresses given on them, and the per-container
// file locks. Whatever must be decided together with a record (a name, an
// address, a --userns auto range) is decided in the transaction that
// writes it, never by a read before the write.
package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
	"github.com/skiff-project/skiff/rootless"
)

// State is the per-user state database: SQLite in WAL mode, with a busy
// timeout and a full sync on commit. Names are unique by a constraint.
type State struct {
	db    *sql.DB
	paths rootless.StatePaths
}

const schema = `
CREATE TABLE IF NOT EXISTS containers (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	image       TEXT NOT NULL,
	image_id    TEXT NOT NULL,
	created     INTEGER NOT NULL,
	state       TEXT NOT NULL,
	pid         INTEGER NOT NULL DEFAULT 0,
	exit_code   INTEGER NOT NULL DEFAULT 0,
	started_at  INTEGER NOT NULL DEFAULT 0,
	finished_at INTEGER NOT NULL DEFAULT 0,
	monitor_pid INTEGER NOT NULL DEFAULT 0,
	config      TEXT NOT NULL,
	restart_count INTEGER NOT NULL DEFAULT 0,
	user_stopped  INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS volumes (
	name      TEXT PRIMARY KEY,
	created   INTEGER NOT NULL,
	labels    TEXT NOT NULL,
	options   TEXT NOT NULL,
	anonymous INTEGER NOT NULL DEFAULT 0
);`

// Open opens (creating when needed) the database of the state at p.
func Open(p rootless.StatePaths) (*State, error) {
	if err := os.MkdirAll(p.Locks(), 0o700); err != nil {
		return nil, err
	}
	dsn := "file:" + p.DB() +
		"?_journal_mode=WAL&_busy_timeout=60000&_synchronous=FULL&_txlock=immediate"
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening the state database: %w", err)
	}
	db.SetMaxOpenConns(1)
	// Switching a new database to WAL takes an exclusive lock that SQLite's
	// busy handler does not wait for: when many commands open a new database
	// at once, wait here.
	for attempt := 0; ; attempt++ {
		_, err = db.Exec(schema + networkSchema)
		var serr sqlite3.Error
		if err == nil || !errors.As(err, &serr) || (serr.Code != sqlite3.ErrBusy && serr.Code != sqlite3.ErrLocked) || attempt == 500 {
			break
		}
		time.Sleep(time.Duration(5+attempt%20) * time.Millisecond)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("creating the state database: %w", err)
	}
	if err := addColumns(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("upgrading the state database: %w", err)
	}
	if err := upgradeStopTimeouts(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("upgrading the state database: %w", err)
	}
	return &State{db: db, paths: p}, nil
}

// addColumns adds, in place and once, the columns that came after the
// first release; a concurrent opener that added one first is fine.
func addColumns(db *sql.DB) error {
	rows, err := db.Query(`SELECT name FROM pragma_table_info('containers')`)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		have[name] = true
	}
	rows.Close()
	for _, col := range []string{"restart_count INTEGER NOT NULL DEFAULT 0", "user_stopped INTEGER NOT NULL DEFAULT 0"} {
		name, _, _ := strings.Cut(col, " ")
		if have[name] {
			continue
		}
		if _, err := db.Exec("ALTER TABLE containers ADD COLUMN " + col); err != nil && !strings.Contains(err.Error(), "duplicate column") {
			return err
		}
	}
	return nil
}

// Close closes the database.
func (s *State) Close() error { return s.db.Close() }

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// queryAll runs a query and scans every row with scan.
func queryAll[T any](ctx context.Context, db queryer, scan func(interface{ Scan(...any) error }) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// tx runs fn in one write transaction (begun immediate: writers wait for
// each other, so what fn reads stays true until it commits).
func (s *State) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
