package engine

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
	"golang.org/x/sys/unix"

	"github.com/skiff-project/skiff/network"
)

// ContainerRecord is what the state database keeps of one container.
type ContainerRecord struct {
	ID         string
	Name       string
	Image      string // as the user named it
	ImageID    string
	Created    time.Time
	State      string // created, running, exited
	Pid        int
	ExitCode   int
	StartedAt  time.Time
	FinishedAt time.Time
	MonitorPid int
	// RestartCount is how often the restart policy restarted it;
	// UserStopped, that stop ended it, so the policy leaves it be.
	RestartCount int
	UserStopped  bool
	Config       ContainerConfig
	// madeVolumes are the named volumes the Create that returned the
	// record made on first use (RemoveCreated removes them); not stored.
	madeVolumes []string
}

// ContainerConfig is the container's configuration, kept as JSON. No list
// or map field is omitted when empty (a test walks them all): what create
// resolved comes back from the database as it was, an empty list as empty
// and not as nil, which means "the defaults" (no capability at all is not
// the default set; no pasta option is not skiff's default options).
type ContainerConfig struct {
	Cmd        []string          `json:"Cmd"`
	Entrypoint []string          `json:"Entrypoint"`
	Env        []string          `json:"Env"`
	Labels     map[string]string `json:"Labels"`
	WorkingDir string            `json:"WorkingDir"`
	User       string            `json:"User"`
	Hostname   string            `json:"Hostname"`
	Tty        bool              `json:"Tty"`
	OpenStdin  bool              `json:"OpenStdin"`
	AutoRemove bool              `json:"AutoRemove"`
	StopSignal string            `json:"StopSignal"`
	Network    string            `json:"NetworkMode"`
	// Networks are the user-defined networks the container is on.
	Networks []NetworkAttachment `json:"Networks"`
	Runtime  string              `json:"Runtime"`
	Mounts   []Mount             `json:"Mounts"`
	ReadOnly bool                `json:"ReadonlyRootfs,omitempty"`
	// ReadOnlyTmpfs puts tmpfs on /tmp, /var/tmp and /run of a read-only
	// container, as podman does by default.
	ReadOnlyTmpfs bool                  `json:"ReadOnlyTmpfs,omitempty"`
	Security      Security              `json:"Security"`
	Restart       Restart               `json:"RestartPolicy"`
	Ports         []network.PortMapping `json:"Ports"`
	DNS           []string              `json:"Dns"`
	DNSSearch     []string              `json:"DnsSearch"`
	AddHosts      []string              `json:"ExtraHosts"`
	SdNotify      string                `json:"SdNotifyMode,omitempty"`
	// PastaOptions are pasta's options (--network pasta:OPTS, or
	// containers.conf's pasta_options); nil: skiff's defaults.
	PastaOptions  []string `json:"PastaOptions"`
	CreateCommand []string `json:"CreateCommand"`
}

// State is the per-user state database: SQLite in WAL mode, with a busy
// timeout and a full sync on commit. Names are unique by a constraint.
type State struct {
	db  *sql.DB
	dir string
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

// OpenState opens (creating when needed) the database in dir.
func OpenState(dir string) (*State, error) {
	if err := os.MkdirAll(filepath.Join(dir, "locks"), 0o700); err != nil {
		return nil, err
	}
	dsn := "file:" + filepath.Join(dir, "state.db") +
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
	return &State{db: db, dir: dir}, nil
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

var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// CheckName refuses names docker refuses.
func CheckName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("%w %q: use letters, digits, '_', '.' and '-', starting with a letter or digit", ErrBadName, name)
	}
	return nil
}

// Add inserts a new container. A taken name fails with ErrNameInUse: the
// UNIQUE constraint decides, never a read before the write.
//
// The container's network attachments get their addresses, and a --userns
// auto container its range of ids, in the same transaction.
func (s *State) Add(ctx context.Context, r *ContainerRecord) error {
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
		return fmt.Errorf("%w: %q (remove it with skiff rm, or use --replace)", ErrNameInUse, r.Name)
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
func (s *State) Update(ctx context.Context, r *ContainerRecord) error {
	_, err := s.db.ExecContext(ctx, `UPDATE containers SET state = ?, pid = ?, exit_code = ?, started_at = ?, finished_at = ?, monitor_pid = ?, restart_count = ? WHERE id = ?`,
		r.State, r.Pid, r.ExitCode, unixNano(r.StartedAt), unixNano(r.FinishedAt), r.MonitorPid, r.RestartCount, r.ID)
	return err
}

// Rename changes a container's name; a taken name fails with ErrNameInUse.
func (s *State) Rename(ctx context.Context, id, name string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE containers SET name = ? WHERE id = ?`, name, id)
	var serr sqlite3.Error
	if errors.As(err, &serr) && serr.ExtendedCode == sqlite3.ErrConstraintUnique {
		return fmt.Errorf("%w: %q", ErrNameInUse, name)
	}
	return err
}

// SetUserStopped records whether stop ended the container.
func (s *State) SetUserStopped(ctx context.Context, id string, stopped bool) error {
	_, err := s.db.ExecContext(ctx, `UPDATE containers SET user_stopped = ? WHERE id = ?`, btoi(stopped), id)
	return err
}

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

const selectRecord = `SELECT id, name, image, image_id, created, state, pid, exit_code, started_at, finished_at, monitor_pid, restart_count, user_stopped, config FROM containers`

func scanRecord(sc interface{ Scan(...any) error }) (*ContainerRecord, error) {
	var r ContainerRecord
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
func (s *State) List(ctx context.Context) ([]*ContainerRecord, error) {
	return queryAll(ctx, s.db, scanRecord, selectRecord+` ORDER BY created DESC`)
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

// Lookup finds a container by exact name, full id, or unique id prefix.
func (s *State) Lookup(ctx context.Context, nameOrID string) (*ContainerRecord, error) {
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
			return nil, fmt.Errorf("%w: %s matches several containers; give more of the id", ErrAmbiguousID, nameOrID)
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrNoSuchContainer, nameOrID)
}

// ContainerLock is a held per-container lock. The kernel releases it when
// the process that holds it dies, so there is no lock table to leak.
type ContainerLock struct{ f *os.File }

// Lock takes the container's lock, waiting for it.
func (s *State) Lock(id string) (*ContainerLock, error) {
	f, err := os.OpenFile(filepath.Join(s.dir, "locks", id), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return &ContainerLock{f: f}, nil
}

// Unlock releases the lock.
func (l *ContainerLock) Unlock() {
	if l != nil && l.f != nil {
		_ = unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
		l.f.Close()
	}
}

// RemoveLockFile drops the lock file of a removed container.
func (s *State) RemoveLockFile(id string) { _ = os.Remove(filepath.Join(s.dir, "locks", id)) }
