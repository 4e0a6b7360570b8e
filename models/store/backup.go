package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/baton-run/baton/migrations"
	"github.com/baton-run/baton/models"
)

// PostgresBackupHelp is what `baton backup` and `baton restore` answer on
// PostgreSQL, whose own tools do the job better than Baton could.
const PostgresBackupHelp = "baton backup copies the embedded SQLite database; for PostgreSQL use its own tools: " +
	"pg_dump --format=custom --file=baton.dump \"$BATON_DATABASE_URL\" (consistent while Baton runs), and " +
	"pg_restore --clean --if-exists --no-owner --dbname=\"$BATON_DATABASE_URL\" baton.dump with every instance stopped " +
	"(see docs/operations.md#backups)"

// Backup writes a consistent copy of the SQLite database to path while the
// server keeps running: VACUUM INTO reads one snapshot (WAL lets writers go
// on meanwhile) and writes a compact, self-contained database file, with no
// WAL beside it. The copy is written under a temporary name and renamed into
// place once complete and synced, so path never holds half a backup. It
// returns Conflict when path exists (a backup never overwrites) and Invalid
// on PostgreSQL.
func (s *Store) Backup(ctx context.Context, path string) error {
	if s.dialect != migrations.SQLite {
		return models.Errorf(models.Invalid, "%s", PostgresBackupHelp)
	}
	if _, err := os.Lstat(path); err == nil {
		return models.Errorf(models.Conflict, "%s already exists: a backup never overwrites a file; choose a new name", path)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("store: backup: create %s: %w", dir, err)
	}
	tmp := filepath.Join(dir, "."+filepath.Base(path)+".partial-"+randomSuffix())
	if err := s.vacuumInto(ctx, tmp); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("store: backup to %s: %w", path, err)
	}
	if err := syncFile(tmp); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("store: backup to %s: %w", path, err)
	}
	// Link, not rename: a file that appeared at path meanwhile is kept.
	if err := os.Link(tmp, path); err != nil {
		_ = os.Remove(tmp)
		if errors.Is(err, os.ErrExist) {
			return models.Errorf(models.Conflict, "%s already exists: a backup never overwrites a file; choose a new name", path)
		}
		return fmt.Errorf("store: backup to %s: %w", path, err)
	}
	_ = os.Remove(tmp)
	return syncDir(dir)
}

// vacuumInto runs VACUUM INTO on a reader connection, so the snapshot does
// not hold the single writer and runs keep committing while the copy is
// made. Readers are query_only, which refuses VACUUM INTO even though it
// writes only the new file; the connection is let write for this one
// statement and discarded if it cannot be made read-only again.
func (s *Store) vacuumInto(ctx context.Context, file string) (err error) {
	conn, err := s.readDB.Conn(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA query_only=1"); rerr != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		err = errors.Join(err, conn.Close())
	}()
	if _, err := conn.ExecContext(ctx, "PRAGMA query_only=0"); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "VACUUM INTO ?", file)
	return err
}

// RestoreSQLite installs the backup file from as the SQLite database at to,
// which must not exist yet (stop Baton and move the old database away
// first). The backup is checked before anything is written: it must be an
// SQLite database that passes integrity_check and whose schema this build
// knows (an older build refuses a newer backup, as it refuses a newer
// database). It is copied under a temporary name and renamed into place.
// Open then applies any migrations the backup lacks.
func RestoreSQLite(ctx context.Context, from, to string) error {
	if _, err := os.Lstat(to); err == nil {
		return models.Errorf(models.Conflict, "%s already exists: stop Baton and move the old database (and its -wal and -shm files) away before restoring over it", to)
	}
	for _, side := range []string{"-wal", "-shm"} {
		if _, err := os.Lstat(to + side); err == nil {
			return models.Errorf(models.Conflict, "%s exists: remove it (it belongs to the database that was moved away) before restoring", to+side)
		}
	}
	if err := checkBackup(ctx, from); err != nil {
		return err
	}
	dir := filepath.Dir(to)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("store: restore: create %s: %w", dir, err)
	}
	tmp := filepath.Join(dir, "."+filepath.Base(to)+".partial-"+randomSuffix())
	if err := copyFile(from, tmp); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("store: restore %s: %w", from, err)
	}
	if err := os.Link(tmp, to); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("store: restore %s to %s: %w", from, to, err)
	}
	_ = os.Remove(tmp)
	return syncDir(dir)
}

// checkBackup opens the backup read-only and checks it.
func checkBackup(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return models.Errorf(models.NotFound, "backup %s: %v", path, err)
	}
	head := make([]byte, 16)
	_, err = io.ReadFull(f, head)
	_ = f.Close()
	if err != nil || string(head) != "SQLite format 3\x00" {
		return models.Errorf(models.Invalid, "%s is not an SQLite database (a file made by baton backup)", path)
	}
	db, err := sql.Open("sqlite", path+"?_pragma=query_only(1)")
	if err != nil {
		return fmt.Errorf("store: open backup %s: %w", path, err)
	}
	defer func() { _ = db.Close() }()
	var ok string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&ok); err != nil {
		return models.Errorf(models.Invalid, "backup %s cannot be read: %v", path, err)
	}
	if ok != "ok" {
		return models.Errorf(models.Invalid, "backup %s is damaged: integrity_check says %s", path, ok)
	}
	var v sql.NullInt64
	if err := db.QueryRowContext(ctx, "SELECT max(version_id) FROM goose_db_version").Scan(&v); err != nil {
		return models.Errorf(models.Invalid, "%s is not a Baton database: %v", path, err)
	}
	known, err := migrations.Latest(migrations.SQLite)
	if err != nil {
		return err
	}
	if v.Int64 > known {
		return fmt.Errorf("backup %s: %w", path, &migrations.SchemaTooNewError{Database: v.Int64, Known: known})
	}
	return nil
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func copyFile(from, to string) (err error) {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, out.Close()) }()
	if _, err := io.Copy(out, in); err != nil {
		return err
	}
	return out.Sync()
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

// syncDir makes a rename or link in dir durable; where directories cannot
// be synced (Windows) it does nothing.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: open %s to sync it: %w", dir, err)
	}
	_ = d.Sync() // fails on Windows, where there is nothing to sync
	return d.Close()
}
