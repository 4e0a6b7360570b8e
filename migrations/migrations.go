// Package migrations holds Baton's versioned SQL schema, one folder per
// database dialect with the same numbered files in each, and applies it with
// goose. The store calls Up on every start, so it must be idempotent and safe
// when several processes start at once against one database.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Dialect names accepted by Up; they match the names of the folders.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// FS returns the migration files of one dialect, for tests and tools that
// want to list or read them.
func FS(dialect string) (fs.FS, error) {
	if dialect != SQLite && dialect != Postgres {
		return nil, fmt.Errorf("migrations: unknown dialect %q (want %q or %q)", dialect, SQLite, Postgres)
	}
	return fs.Sub(files, dialect)
}

// Up applies every pending migration of dialect ("sqlite" or "postgres") to
// db. Two callers migrating the same database at once are serialised: on
// PostgreSQL by goose's session-level advisory lock, on SQLite by an
// exclusive OS lock on a file beside the database file (see lockSQLite). The
// second caller then finds nothing left to do.
func Up(ctx context.Context, db *sql.DB, dialect string) (err error) {
	p, err := newProvider(db, dialect)
	if err != nil {
		return err
	}
	if dialect == SQLite {
		// The lock covers all of goose's Up, including the pending check
		// that goose runs outside its session locker, where two first
		// starts would race to create goose's version table.
		unlock, err := lockSQLite(ctx, db)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, unlock()) }()
	}
	if err := refuseNewerSchema(ctx, p, dialect); err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrations: apply %s migrations: %w", dialect, err)
	}
	return nil
}

// ErrSchemaTooNew is returned by Up when the database holds migrations this
// build does not know: a newer Baton upgraded it. goose would carry on and
// this build would then run against tables it does not understand, so Up
// refuses instead.
var ErrSchemaTooNew = errors.New("database schema is newer than this build")

// SchemaTooNewError says how far apart the database and the build are.
type SchemaTooNewError struct {
	Database, Known int64
}

func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("the database schema is at version %d, but this build of Baton knows versions up to %d: "+
		"a newer Baton has upgraded it. Run that newer version (or newer), or restore a backup taken before "+
		"the upgrade; Baton does not downgrade a schema (see docs/operations.md#upgrades)", e.Database, e.Known)
}

func (e *SchemaTooNewError) Is(target error) bool { return target == ErrSchemaTooNew }

func refuseNewerSchema(ctx context.Context, p *goose.Provider, dialect string) error {
	sources := p.ListSources()
	if len(sources) == 0 {
		return nil
	}
	known := sources[len(sources)-1].Version
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("migrations: read %s schema version: %w", dialect, err)
	}
	if v > known {
		return &SchemaTooNewError{Database: v, Known: known}
	}
	return nil
}

// Latest is the highest migration version this build holds for dialect.
func Latest(dialect string) (int64, error) {
	fsys, err := FS(dialect)
	if err != nil {
		return 0, err
	}
	ms, err := fs.Glob(fsys, "*.sql")
	if err != nil || len(ms) == 0 {
		return 0, fmt.Errorf("migrations: no %s migrations embedded", dialect)
	}
	var v int64
	if _, err := fmt.Sscanf(ms[len(ms)-1], "%05d_", &v); err != nil {
		return 0, fmt.Errorf("migrations: %s: %w", ms[len(ms)-1], err)
	}
	return v, nil
}

// Version returns the highest migration version applied to db, or 0 on a
// database that was never migrated.
func Version(ctx context.Context, db *sql.DB, dialect string) (int64, error) {
	p, err := newProvider(db, dialect)
	if err != nil {
		return 0, err
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrations: read %s schema version: %w", dialect, err)
	}
	return v, nil
}

func newProvider(db *sql.DB, dialect string) (*goose.Provider, error) {
	fsys, err := FS(dialect)
	if err != nil {
		return nil, err
	}
	// Only our embedded SQL files: nothing registered globally by some
	// other package may slip into Baton's schema.
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	gd := goose.DialectSQLite3 // locked by Up itself
	if dialect == Postgres {
		gd = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker(
			// Baton's own advisory-lock id, so another goose-managed app in
			// the same database never waits on us (the bytes of "baton").
			lock.WithLockID(0x626174_6f6e),
			// Retry every second rather than goose's default of five: the
			// waiting instance is a starting server. Give up after 5 min.
			lock.WithLockTimeout(1, 300),
		)
		if err != nil {
			return nil, fmt.Errorf("migrations: postgres locker: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(gd, db, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations: %s provider: %w", dialect, err)
	}
	return p, nil
}
