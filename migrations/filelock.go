package migrations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"time"
)

// lockRetry is how often a waiting migrator tries the lock again.
const lockRetry = 20 * time.Millisecond

// lockSQLite serialises SQLite migrations between processes, and returns the
// function that releases the lock. goose has no SQLite locker, and a lock
// inside the database cannot work: SQLite cannot nest transactions on the
// migrating connection, and a second connection holding the write lock
// would block the migration itself. So the lock is an OS file lock (flock on
// Unix, LockFileEx on Windows) on "<db>-migrate.lock" beside the database
// file. The OS drops it when the process dies, so a crash never leaves a
// stale lock. The lock file stays: deleting it while another process waits
// on it would let a third process lock a new file of the same name.
func lockSQLite(ctx context.Context, db *sql.DB) (unlock func() error, err error) {
	path, err := sqliteMainFile(ctx, db)
	if err != nil {
		return nil, err
	}
	if path == "" {
		// An in-memory or temporary database belongs to this process
		// alone: nobody else can migrate it.
		return func() error { return nil }, nil
	}
	f, err := os.OpenFile(path+"-migrate.lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("migrations: open lock file: %w", err)
	}
	for {
		ok, err := tryLockFile(f)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("migrations: lock %s: %w", f.Name(), err), f.Close())
		}
		if ok {
			// Closing the file would release the lock too; unlocking first
			// makes the release explicit and reports a failure.
			return func() error { return errors.Join(unlockFile(f), f.Close()) }, nil
		}
		select {
		case <-ctx.Done():
			return nil, errors.Join(fmt.Errorf("migrations: waiting for another process to finish migrating %s: %w", path, ctx.Err()), f.Close())
		case <-time.After(lockRetry):
		}
	}
}

// sqliteMainFile returns the path of the main database of db, or "" for an
// in-memory database.
func sqliteMainFile(ctx context.Context, db *sql.DB) (string, error) {
	var file sql.NullString
	err := db.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&file)
	if err != nil {
		return "", fmt.Errorf("migrations: find the sqlite database file: %w", err)
	}
	return file.String, nil
}
