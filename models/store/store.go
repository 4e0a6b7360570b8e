// Package store is Baton's persistence: one GORM implementation of every
// query, for SQLite (the embedded default) and PostgreSQL.
//
// Every method takes a context first and returns *models.Error codes:
// models.NotFound when a row is absent, models.Conflict on a unique
// violation, models.Invalid for arguments that cannot be stored; anything
// else is wrapped (and so reads as models.Internal). Times go in and come out
// in UTC, truncated to microseconds, the precision PostgreSQL keeps.
package store

import (
	"context"
	"crypto/cipher"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/baton-run/baton/migrations"
	"github.com/baton-run/baton/models"
)

// Store reads and writes Baton's data. It is safe for concurrent use.
//
// On SQLite it holds two connection pools on one file: a single writer
// connection, so that writers from this process queue in Go instead of
// fighting over the file lock, and a pool of read-only connections, which WAL
// lets read while the writer writes. On PostgreSQL both are the same pool.
type Store struct {
	dialect string
	db      *gorm.DB // writes, and reads that must see this transaction
	read    *gorm.DB // reads
	sqlDB   *sql.DB
	readDB  *sql.DB     // same as sqlDB on PostgreSQL
	secrets cipher.AEAD // nil until UseSecretsKey
}

// Open connects to the database named by url, creating an SQLite file and
// its folder when missing, and applies pending migrations.
//
// URLs: sqlite:///abs/path.db, sqlite://rel/path.db, sqlite:path.db,
// postgres://… and postgresql://….
func Open(ctx context.Context, url string) (*Store, error) {
	dialect, target, err := parseURL(url)
	if err != nil {
		return nil, err
	}
	var s *Store
	switch dialect {
	case migrations.SQLite:
		s, err = openSQLite(ctx, target)
	default:
		s, err = openPostgres(ctx, target)
	}
	if err != nil {
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// parseURL splits a database URL into a dialect and what its driver needs:
// a file path for SQLite, the URL itself for PostgreSQL.
func parseURL(url string) (dialect, target string, err error) {
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return migrations.Postgres, url, nil
	case strings.HasPrefix(url, "sqlite:"):
		path := strings.TrimPrefix(url, "sqlite:")
		// sqlite:///abs keeps its leading slash; sqlite://rel drops "//".
		path = strings.TrimPrefix(path, "//")
		switch {
		case path == "":
			return "", "", models.Errorf(models.Invalid, "database URL %q names no file: use sqlite:///abs/path.db or sqlite:path.db", url)
		case strings.ContainsAny(path, "?#"):
			return "", "", models.Errorf(models.Invalid, "database URL %q: SQLite URLs take no parameters, and the file name may not contain '?' or '#'", url)
		case path == ":memory:" || strings.HasPrefix(path, "file:"):
			return "", "", models.Errorf(models.Invalid, "database URL %q: name a file; an in-memory database cannot be shared by the writer and the readers", url)
		}
		return migrations.SQLite, filepath.Clean(path), nil
	}
	return "", "", models.Errorf(models.Invalid, "database URL %q: want sqlite:///abs/path.db, sqlite:rel/path.db or postgres://user:pass@host:5432/db", redact(url))
}

// redact hides a password in a URL that is about to appear in an error.
func redact(url string) string {
	at := strings.LastIndex(url, "@")
	scheme := strings.Index(url, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return url
	}
	userinfo := url[scheme+3 : at]
	if user, _, ok := strings.Cut(userinfo, ":"); ok {
		return url[:scheme+3] + user + ":xxxxx" + url[at:]
	}
	return url
}

func gormConfig() *gorm.Config {
	return &gorm.Config{
		// Map driver errors to gorm.ErrDuplicatedKey and friends, which
		// mapErr turns into models codes the same way on both dialects.
		TranslateError: true,
		// Each of our writes is one statement or an explicit transaction;
		// GORM's implicit transaction around every Create/Update only costs
		// two round trips (and on SQLite, an extra lock cycle).
		SkipDefaultTransaction: true,
		// "record not found" is an answer, not a log line.
		Logger:  logger.Discard,
		NowFunc: now,
	}
}

// now is the store's clock: UTC at the precision both databases keep.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// sqliteDSN is the one place that spells SQLite's settings; the driver
// (glebarez/go-sqlite, pure Go) runs each _pragma on every new connection.
//
//   - busy_timeout comes first so that every later pragma, and every
//     statement, waits for another process's lock instead of failing with
//     "database is locked".
//   - WAL (set once per file by enableWAL, and kept by the file) lets
//     readers work while one writer writes, and with
//     synchronous=NORMAL a commit is durable against a crash of the process
//     (the WAL is in the OS's page cache, which survives us); only a power
//     loss or OS crash can lose the last commits, never corrupt the file.
//   - foreign_keys is off by default in SQLite, per connection.
//   - _txlock=immediate makes BEGIN take the write lock at once: a deferred
//     transaction that reads and then writes can fail with SQLITE_BUSY
//     without waiting, because SQLite cannot let it upgrade its read lock.
//   - Readers are query_only so a write sent to the wrong pool fails loudly.
func sqliteDSN(path string, writer bool) string {
	q := "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)"
	if writer {
		q += "&_pragma=synchronous(NORMAL)&_txlock=immediate"
	} else {
		q += "&_pragma=query_only(1)"
	}
	return path + "?" + q
}

func openSQLite(ctx context.Context, path string) (*Store, error) {
	if errSQLiteLower != nil {
		return nil, fmt.Errorf("store: register the SQL function %s: %w", sqliteLower, errSQLiteLower)
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("store: create the folder of %s: %w", path, err)
		}
	}
	w, wdb, err := openGorm(ctx, sqlite.Open(sqliteDSN(path, true)))
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	// One writer: SQLite allows one at a time anyway, and queueing on
	// database/sql's pool is fair and cheap where spinning on busy_timeout
	// is neither.
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	// The file is in WAL mode before any reader opens.
	if err := enableWAL(ctx, wdb); err != nil {
		return nil, errors.Join(fmt.Errorf("store: open sqlite %s: %w", path, err), wdb.Close())
	}
	r, rdb, err := openGorm(ctx, sqlite.Open(sqliteDSN(path, false)))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("store: open sqlite %s for reading: %w", path, err), wdb.Close())
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	rdb.SetMaxOpenConns(readers)
	rdb.SetMaxIdleConns(readers)
	rdb.SetConnMaxIdleTime(5 * time.Minute)
	return &Store{dialect: migrations.SQLite, db: w, read: r, sqlDB: wdb, readDB: rdb}, nil
}

// enableWAL switches the database file to WAL, which the file remembers.
// It is not a DSN pragma because switching needs an exclusive lock, and two
// processes opening a fresh file at once can deadlock on it: SQLite then
// answers SQLITE_BUSY at once instead of waiting out busy_timeout, so this
// retries for as long as busy_timeout would have waited.
func enableWAL(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(10 * time.Second)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode)
		if err == nil {
			if !strings.EqualFold(mode, "wal") {
				return fmt.Errorf("cannot switch to WAL: journal mode is %q", mode)
			}
			return nil
		}
		if !isBusy(err) || time.Now().After(deadline) {
			return fmt.Errorf("switch to WAL: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("switch to WAL: %w", ctx.Err())
		case <-time.After(wait):
		}
	}
}

// PostgreSQL pool limits: enough connections for the engine's writer and
// the web requests of one instance, few enough that several instances stay
// well under the server's default max_connections of 100.
const (
	pgMaxOpen     = 20
	pgMaxIdle     = 10
	pgMaxIdleTime = 5 * time.Minute
	pgMaxLifetime = time.Hour
)

func openPostgres(ctx context.Context, url string) (*Store, error) {
	g, db, err := openGorm(ctx, postgres.Open(url))
	if err != nil {
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	db.SetMaxOpenConns(pgMaxOpen)
	db.SetMaxIdleConns(pgMaxIdle)
	db.SetConnMaxIdleTime(pgMaxIdleTime)
	db.SetConnMaxLifetime(pgMaxLifetime)
	if err := db.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("store: connect to postgres: %w", err), db.Close())
	}
	return &Store{dialect: migrations.Postgres, db: g, read: g, sqlDB: db, readDB: db}, nil
}

func openGorm(_ context.Context, d gorm.Dialector) (*gorm.DB, *sql.DB, error) {
	g, err := gorm.Open(d, gormConfig())
	if err != nil {
		return nil, nil, err
	}
	db, err := g.DB()
	if err != nil {
		return nil, nil, err
	}
	return g, db, nil
}

// Close closes every connection.
func (s *Store) Close() error {
	if s.readDB == s.sqlDB {
		return s.sqlDB.Close()
	}
	return errors.Join(s.readDB.Close(), s.sqlDB.Close())
}

// Dialect returns "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect }

// Ping checks that the database answers, for health checks.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.sqlDB.PingContext(ctx); err != nil {
		return models.Errorf(models.Unavailable, "the database does not answer: %v", err)
	}
	return nil
}

// SQLDB returns the write pool, for Prometheus' DB-stats collector.
func (s *Store) SQLDB() *sql.DB { return s.sqlDB }

// Migrate applies pending migrations. Open calls it; it is idempotent, and
// safe when two processes run it on one database at once.
func (s *Store) Migrate(ctx context.Context) error {
	return migrations.Up(ctx, s.sqlDB, s.dialect)
}

// Gorm returns the write handle. It is meant for this package's own files
// (the engine's run queries live beside these) and for tests: other packages
// should call Store methods so that both dialects stay covered by the
// conformance suite. On SQLite it is the single writer connection, so a
// query on it inside a transaction opened on it deadlocks: use the tx. Also
// on SQLite, times are stored and compared as text, which orders correctly
// only when every time is in UTC: pass times through utc() (UTC, whole
// microseconds), as the methods of this package do.
func (s *Store) Gorm() *gorm.DB { return s.db }

// ReadGorm returns the read handle, with the same caveats as Gorm. On SQLite
// its connections are read-only and do not see uncommitted writes; on
// PostgreSQL it is the same pool as Gorm.
func (s *Store) ReadGorm() *gorm.DB { return s.read }
