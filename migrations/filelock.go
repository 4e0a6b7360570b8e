package migrations

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gofrs/flock"
)

// lockRetry is how often a waiting migrator tries the lock again.
const lockRetry = 20 * time.Millisecond

// lockSQLite serialises SQLite migrations between processes, and returns the
// function that releases the lock. goose has no SQLite locker, and a lock
// inside the database cannot work: SQLite cannot nest transactions on the
// migrating connection, and a second connection holding the write lock
// would block the migration itself. So the lock is an OS file lock
// (gofrs/flock: flock on Unix, LockFileEx on Windows) on "<db>-migrate.lock"
// beside the database file. The OS drops it when the process dies, so a crash never leaves a
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
	lock := flock.New(path + "-migrate.lock")
	ok, err := lock.TryLockContext(ctx, lockRetry)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("migrations: waiting for another process to finish migrating %s: %w", path, ctx.Err())
		}
		return nil, fmt.Errorf("migrations: lock %s: %w", lock.Path(), err)
	}
	if !ok {
		return nil, fmt.Errorf("migrations: could not lock %s", lock.Path())
	}
	return lock.Unlock, nil
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

// LockServe takes the lock that makes a SQLite database serve one process
// at a time: an OS file lock on "<db>-serve.lock", held until unlock (or
// the process's death). A second `baton serve` on the same file gets a
// clear error instead of two engines resuming the same runs. An in-memory
// database needs no lock. PostgreSQL databases are shared by instances
// through leases instead (engine.LeaseConfig).
func LockServe(ctx context.Context, db *sql.DB) (unlock func() error, err error) {
	path, err := sqliteMainFile(ctx, db)
	if err != nil {
		return nil, err
	}
	if path == "" {
		return func() error { return nil }, nil
	}
	lock := flock.New(path + "-serve.lock")
	ok, err := lock.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", lock.Path(), err)
	}
	if !ok {
		return nil, fmt.Errorf("another baton serve is already running on the SQLite database %s: SQLite serves one instance only "+
			"(stop the other one, or move to PostgreSQL to run several instances; see docs/operations.md)", path)
	}
	return lock.Unlock, nil
}
