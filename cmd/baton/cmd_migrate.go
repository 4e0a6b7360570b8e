package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/baton-run/baton/models/store"
)

func cmdMigrate(ctx context.Context, e *env, args []string) (err error) {
	s := newSettings("migrate [flags]", "Applies every database migration that has not been applied yet, then exits.", e.getenv, e.stderr)
	dbs := addDBSettings(s)
	rest, err := s.parse(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError("migrate takes no arguments, got %q", rest[0])
	}
	st, url, err := openStore(ctx, dbs)
	if err != nil {
		return err
	}
	defer closeStore(st, &err)
	fmt.Fprintf(e.stdout, "database %s is up to date\n", redactURL(url))
	return nil
}

// openStore opens (and migrates) the database the settings name.
func openStore(ctx context.Context, dbs *dbSettings) (*store.Store, string, error) {
	url, err := dbs.url()
	if err != nil {
		return nil, "", err
	}
	st, err := store.Open(ctx, url)
	if err != nil {
		return nil, "", fmt.Errorf("open database %s: %w", redactURL(url), err)
	}
	return st, url, nil
}

// closeStore closes st at the end of a command and reports a failure to
// close (which may mean a write was lost) through *err.
func closeStore(st io.Closer, err *error) { *err = errors.Join(*err, st.Close()) }
