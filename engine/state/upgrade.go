package state

import "database/sql"

// Records in an older form are rewritten once, when the database is
// opened, so that the code reads one form only.

// legacyStopTimeout is where records before c51ca38 kept --stop-timeout:
// Security.StopTimeout, the seconds plus one (0 meant the default).
const legacyStopTimeout = `json_extract(config, '$.Security.StopTimeout')`

// upgradeStopTimeouts moves --stop-timeout of the records that kept it the
// old way to Security.StopTimeoutSeconds, as given. One statement: a
// concurrent opener's own rewrite finds nothing left to do (its WHERE is
// read in the same write). The look first is a read, so that the opens
// of a database with nothing to rewrite (all but the first) take no write
// lock.
func upgradeStopTimeouts(db *sql.DB) error {
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM containers WHERE ` + legacyStopTimeout + ` IS NOT NULL`).Scan(&n); err != nil || n == 0 {
		return err
	}
	_, err := db.Exec(`UPDATE containers SET config = json_remove(
		CASE WHEN ` + legacyStopTimeout + ` > 0 AND json_extract(config, '$.Security.StopTimeoutSeconds') IS NULL
			THEN json_set(config, '$.Security.StopTimeoutSeconds', ` + legacyStopTimeout + ` - 1)
			ELSE config END,
		'$.Security.StopTimeout')
		WHERE ` + legacyStopTimeout + ` IS NOT NULL`)
	return err
}
