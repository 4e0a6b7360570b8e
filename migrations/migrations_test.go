package migrations_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	_ "github.com/glebarez/go-sqlite"  // "sqlite" driver
	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver
	"github.com/pressly/goose/v3"

	"github.com/baton-run/baton/migrations"
	"github.com/baton-run/baton/models/store/storetest"
)

var fileName = regexp.MustCompile(`^(\d{5})_([a-z0-9_]+)\.sql$`)

// TestParity: both dialects hold the same versions with the same names, and
// every file has goose's Up and Down sections.
func TestParity(t *testing.T) {
	t.Parallel()
	names := map[string][]string{}
	for _, d := range []string{migrations.SQLite, migrations.Postgres} {
		fsys, err := migrations.FS(d)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := fs.ReadDir(fsys, ".")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !fileName.MatchString(e.Name()) {
				t.Errorf("%s/%s: want NNNNN_name.sql", d, e.Name())
				continue
			}
			names[d] = append(names[d], e.Name())
			body, err := fs.ReadFile(fsys, e.Name())
			if err != nil {
				t.Fatal(err)
			}
			for _, section := range []string{"-- +goose Up", "-- +goose Down"} {
				if !strings.Contains(string(body), section) {
					t.Errorf("%s/%s has no %q section", d, e.Name(), section)
				}
			}
		}
	}
	if len(names[migrations.SQLite]) == 0 {
		t.Fatal("no migrations embedded")
	}
	if !slices.Equal(names[migrations.SQLite], names[migrations.Postgres]) {
		t.Errorf("dialects differ:\n sqlite:   %v\n postgres: %v", names[migrations.SQLite], names[migrations.Postgres])
	}
	for i, n := range names[migrations.SQLite] {
		if want := fmt.Sprintf("%05d_", i+1); !strings.HasPrefix(n, want) {
			t.Errorf("migration %s: versions must run 1, 2, 3… without gaps; want prefix %s", n, want)
		}
	}
}

func TestUnknownDialect(t *testing.T) {
	t.Parallel()
	if _, err := migrations.FS("mysql"); err == nil {
		t.Error("FS(mysql) succeeded")
	}
	if err := migrations.Up(context.Background(), nil, "mysql"); err == nil || !strings.Contains(err.Error(), "unknown dialect") {
		t.Errorf("Up(mysql) = %v, want an unknown dialect error", err)
	}
	if _, err := migrations.Version(context.Background(), nil, "mysql"); err == nil {
		t.Error("Version(mysql) succeeded")
	}
}

type database struct {
	dialect string
	open    func(t *testing.T) *sql.DB // a fresh empty database; each call on one test opens the same one
}

// databases returns one fresh database per dialect available.
func databases(t *testing.T) []database {
	dbs := []database{{migrations.SQLite, func() func(*testing.T) *sql.DB {
		path := filepath.Join(t.TempDir(), "m.db")
		return func(t *testing.T) *sql.DB {
			return openSQL(t, "sqlite", path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
		}
	}()}}
	for _, d := range storetest.Databases(t) {
		if d.Name == "postgres" {
			url := storetest.CreatePostgresDatabase(t)
			dbs = append(dbs, database{migrations.Postgres, func(t *testing.T) *sql.DB { return openSQL(t, "pgx", url) }})
		}
	}
	return dbs
}

func openSQL(t *testing.T, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

// TestUpDownUp applies everything, checks the version, rolls every migration
// back (proving the Down sections run), and applies them again.
func TestUpDownUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, d := range databases(t) {
		t.Run(d.dialect, func(t *testing.T) {
			db := d.open(t)
			v, err := migrations.Version(ctx, db, d.dialect)
			if err != nil || v != 0 {
				t.Fatalf("fresh database: version %d, %v; want 0", v, err)
			}
			if err := migrations.Up(ctx, db, d.dialect); err != nil {
				t.Fatalf("up: %v", err)
			}
			if err := migrations.Up(ctx, db, d.dialect); err != nil {
				t.Fatalf("second up (should be a no-op): %v", err)
			}
			fsys, _ := migrations.FS(d.dialect)
			entries, _ := fs.ReadDir(fsys, ".")
			latest := int64(len(entries))
			if v, err := migrations.Version(ctx, db, d.dialect); err != nil || v != latest {
				t.Fatalf("after up: version %d, %v; want %d", v, err, latest)
			}
			gd := goose.DialectSQLite3
			if d.dialect == migrations.Postgres {
				gd = goose.DialectPostgres
			}
			p, err := goose.NewProvider(gd, db, fsys, goose.WithDisableGlobalRegistry(true))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.DownTo(ctx, 0); err != nil {
				t.Fatalf("down to 0: %v", err)
			}
			var n int
			if err := db.QueryRowContext(ctx, "SELECT count(*) FROM goose_db_version WHERE version_id > 0").Scan(&n); err != nil || n != 0 {
				t.Fatalf("after down: %d versions recorded, %v", n, err)
			}
			if err := migrations.Up(ctx, db, d.dialect); err != nil {
				t.Fatalf("up after down: %v", err)
			}
		})
	}
}

// TestNewerSchemaRefused: a database that a newer build migrated past what
// this build knows is refused with a message saying what to do, and left as
// it was.
func TestNewerSchemaRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, d := range databases(t) {
		t.Run(d.dialect, func(t *testing.T) {
			db := d.open(t)
			if err := migrations.Up(ctx, db, d.dialect); err != nil {
				t.Fatal(err)
			}
			known, err := migrations.Version(ctx, db, d.dialect)
			if err != nil {
				t.Fatal(err)
			}
			// What a newer build's next migration leaves behind.
			q := "INSERT INTO goose_db_version (version_id, is_applied) VALUES (99999, true)"
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
			err = migrations.Up(ctx, db, d.dialect)
			if !errors.Is(err, migrations.ErrSchemaTooNew) {
				t.Fatalf("Up on a newer schema = %v, want ErrSchemaTooNew", err)
			}
			want := fmt.Sprintf("the database schema is at version 99999, but this build of Baton knows versions up to %d: a newer Baton has upgraded it", known)
			if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "restore a backup") {
				t.Errorf("message = %q, want it to contain %q and say what to do", err, want)
			}
			if v, _ := migrations.Version(ctx, db, d.dialect); v != 99999 {
				t.Errorf("version after the refusal = %d, want 99999 untouched", v)
			}
		})
	}
}

// TestConcurrentUp starts several migrations of one fresh database at once,
// each on its own pool as separate processes would be: all must succeed and
// each migration must be applied once.
func TestConcurrentUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, d := range databases(t) {
		t.Run(d.dialect, func(t *testing.T) {
			const n = 4
			dbs := make([]*sql.DB, n)
			for i := range dbs {
				dbs[i] = d.open(t)
			}
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i, db := range dbs {
				wg.Go(func() { errs[i] = migrations.Up(ctx, db, d.dialect) })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("migrator %d: %v", i, err)
				}
			}
			assertAppliedOnce(t, dbs[0])
		})
	}
}

func assertAppliedOnce(t *testing.T, db *sql.DB) {
	t.Helper()
	rows, err := db.Query("SELECT version_id, count(*) FROM goose_db_version GROUP BY version_id")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := rows.Close(); err != nil {
			t.Error(err)
		}
	}()
	for rows.Next() {
		var v, c int64
		if err := rows.Scan(&v, &c); err != nil {
			t.Fatal(err)
		}
		if c != 1 {
			t.Errorf("version %d recorded %d times", v, c)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// helperEnv makes the test binary a migrating child process.
const helperEnv = "BATON_MIGRATIONS_HELPER_DB"

func TestMain(m *testing.M) {
	if path := os.Getenv(helperEnv); path != "" {
		db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
		if err == nil {
			err = migrations.Up(context.Background(), db, migrations.SQLite)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestConcurrentUpProcesses migrates one SQLite file from several real
// processes started at once.
func TestConcurrentUpProcesses(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "procs.db")
	const n = 4
	cmds := make([]*exec.Cmd, n)
	outs := make([]strings.Builder, n)
	for i := range cmds {
		cmds[i] = exec.Command(os.Args[0], "-test.run=^$")
		cmds[i].Env = append(os.Environ(), helperEnv+"="+path)
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
	}
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Errorf("process %d: %v\n%s", i, err, outs[i].String())
		}
	}
	db := openSQL(t, "sqlite", path)
	assertAppliedOnce(t, db)
	if v, err := migrations.Version(context.Background(), db, migrations.SQLite); err != nil || v < 1 {
		t.Errorf("after concurrent processes: version %d, %v", v, err)
	}
}
