package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/baton-run/baton/models/store"
)

func cmdBackup(ctx context.Context, e *env, args []string) (err error) {
	s := newSettings("backup [flags] FILE", "Writes a consistent copy of the SQLite database to FILE while Baton keeps running (VACUUM INTO).\n"+
		"FILE must not exist. For PostgreSQL it explains the pg_dump procedure instead.", e.getenv, e.stderr)
	dbs := addDBSettings(s)
	rest, err := s.parse(args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError("backup takes one FILE, the backup to write (e.g. baton backup baton-$(date +%%F).db)")
	}
	url, err := dbs.url()
	if err != nil {
		return err
	}
	if !strings.HasPrefix(url, "sqlite:") {
		return &exitError{code: 1, msg: store.PostgresBackupHelp}
	}
	st, _, err := openStore(ctx, dbs)
	if err != nil {
		return err
	}
	defer closeStore(st, &err)
	if err := st.Backup(ctx, rest[0]); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "backed up %s to %s\n", redactURL(url), rest[0])
	fmt.Fprintln(e.stdout, "keep a copy of the secrets key too (secrets.key in the data directory, or --secrets-key): the backup's secrets cannot be read without it")
	return nil
}

func cmdRestore(ctx context.Context, e *env, args []string) (err error) {
	s := newSettings("restore [flags] FILE", "Installs FILE, a backup made by baton backup, as the SQLite database (--db or --data-dir).\n"+
		"Stop Baton first; the database must not exist yet (move the old one away). Migrations the backup lacks are applied.", e.getenv, e.stderr)
	dbs := addDBSettings(s)
	rest, err := s.parse(args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError("restore takes one FILE, the backup to restore")
	}
	url, err := dbs.url()
	if err != nil {
		return err
	}
	if !strings.HasPrefix(url, "sqlite:") {
		return &exitError{code: 1, msg: store.PostgresBackupHelp}
	}
	path := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite:"), "//")
	if err := store.RestoreSQLite(ctx, rest[0], filepath.Clean(path)); err != nil {
		return err
	}
	st, _, err := openStore(ctx, dbs) // applies migrations the backup lacks
	if err != nil {
		return err
	}
	defer closeStore(st, &err)
	fmt.Fprintf(e.stdout, "restored %s to %s\n", rest[0], redactURL(url))
	return nil
}
