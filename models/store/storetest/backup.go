package storetest

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/baton-run/baton/migrations"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// exerciseBackup: on SQLite a backup is a database holding what was
// committed, never overwrites a file, and restores into a fresh place; on
// PostgreSQL it points at pg_dump.
func exerciseBackup(t *testing.T, st *store.Store) {
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "sub", "baton-backup.db")
	mustUser(t, st, "ana", models.RoleDesigner)
	err := st.Backup(ctx, file)
	if st.Dialect() == "postgres" {
		wantErr(t, err, models.Invalid, "backup on postgres", "pg_dump", "docs/operations.md#backups")
		return
	}
	must(t, err, "backup")
	if err := st.ReadGorm().Exec("CREATE TABLE after_backup (a int)").Error; err == nil {
		t.Error("a reader connection accepts writes after the backup: it must be read-only again")
	}
	wantErr(t, st.Backup(ctx, file), models.Conflict, "backup over an existing file", "already exists")

	wantErr(t, store.RestoreSQLite(ctx, file, file), models.Conflict, "restore over an existing file", "already exists")
	wantErr(t, store.RestoreSQLite(ctx, filepath.Join(dir, "none.db"), filepath.Join(dir, "x.db")), models.NotFound, "restore of a missing file")
	// A backup made by a newer build is refused, like a newer database.
	newer := filepath.Join(dir, "newer.db")
	must(t, st.Backup(ctx, newer), "second backup")
	db, err := sql.Open("sqlite", newer)
	must(t, err, "open the second backup")
	_, err = db.ExecContext(ctx, "INSERT INTO goose_db_version (version_id, is_applied) VALUES (99999, true)")
	must(t, errors.Join(err, db.Close()), "mark the second backup newer")
	err = store.RestoreSQLite(ctx, newer, filepath.Join(dir, "elsewhere", "baton.db"))
	if !errors.Is(err, migrations.ErrSchemaTooNew) || !strings.Contains(err.Error(), "schema is at version 99999") {
		t.Errorf("restore of a newer backup = %v, want ErrSchemaTooNew", err)
	}

	restored := filepath.Join(dir, "fresh", "baton.db")
	must(t, store.RestoreSQLite(ctx, file, restored), "restore")
	rs, err := store.Open(ctx, "sqlite:"+restored)
	must(t, err, "open the restored database")
	defer func() { _ = rs.Close() }()
	u, err := rs.UserByName(ctx, "ana")
	must(t, err, "user in the restored database")
	if !strings.EqualFold(string(u.Roles[0]), "designer") {
		t.Errorf("restored user roles = %v", u.Roles)
	}
}
