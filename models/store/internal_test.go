package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/baton-run/baton/models"
)

func TestJSONColumn(t *testing.T) {
	t.Parallel()
	v, err := NewJSON(map[string]int{"a": 1}).Value()
	if err != nil || v != `{"a":1}` {
		t.Errorf("Value = %#v, %v; want the JSON text as a string", v, err)
	}
	if _, err := NewJSON(make(chan int)).Value(); err == nil {
		t.Error("Value of an unencodable type succeeded")
	}
	var j JSON[[]string]
	for _, src := range []any{`["x","y"]`, []byte(`["x","y"]`)} {
		if err := j.Scan(src); err != nil || len(j.V) != 2 || j.V[1] != "y" {
			t.Errorf("Scan(%T) = %v, %v", src, j.V, err)
		}
	}
	if err := j.Scan(nil); err != nil || j.V != nil {
		t.Errorf("Scan(nil) = %v, %v; want the zero value", j.V, err)
	}
	if err := j.Scan(42); err == nil {
		t.Error("Scan(int) succeeded")
	}
	if err := j.Scan(`{"not":"a list"}`); err == nil {
		t.Error("Scan of the wrong JSON shape succeeded")
	}
}

func TestMapErr(t *testing.T) {
	t.Parallel()
	if mapErr(nil, "x") != nil {
		t.Error("mapErr(nil) != nil")
	}
	own := models.Errorf(models.Invalid, "mine")
	if got := mapErr(own, "x"); got != own { //nolint:errorlint // the very same error must come back, not a wrapper
		t.Errorf("a models.Error was rewrapped: %v", got)
	}
	for _, c := range []struct {
		err  error
		code models.Code
		msg  string
	}{
		{gorm.ErrRecordNotFound, models.NotFound, "user 7 not found"},
		{gorm.ErrDuplicatedKey, models.Conflict, "user 7 already exists"},
		{context.Canceled, models.Internal, "store: user 7: context canceled"},
		{errors.New("boom"), models.Internal, "store: user 7: boom"},
	} {
		got := mapErr(c.err, "user 7")
		if models.ErrorCode(got) != c.code || got.Error() != c.msg {
			t.Errorf("mapErr(%v) = %q (%s), want %q (%s)", c.err, got, models.ErrorCode(got), c.msg, c.code)
		}
	}
	if err := notFoundIfNone(&gorm.DB{Error: errors.New("boom")}, "x"); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("notFoundIfNone kept no error: %v", err)
	}
}

// TestBusyIsUnavailable provokes a real SQLITE_BUSY: one connection holds
// the write lock while another, with no busy timeout, tries to write.
func TestBusyIsUnavailable(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "busy.db")
	open := func() *sql.DB {
		db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(0)")
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
	a, b := open(), open()
	ctx := context.Background()
	if _, err := a.ExecContext(ctx, "CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	conn, err := a.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := conn.Close(); err != nil {
			t.Error(err)
		}
	}()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	_, err = b.ExecContext(ctx, "INSERT INTO t VALUES (1)")
	if !isBusy(err) {
		t.Fatalf("expected SQLITE_BUSY, got %v", err)
	}
	if got := mapErr(err, "t"); !models.IsCode(got, models.Unavailable) {
		t.Errorf("mapErr(busy) = %v, want Unavailable", got)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"mysql://ann:secret@db:3306/x": "mysql://ann:xxxxx@db:3306/x",
		"mysql://ann@db/x":             "mysql://ann@db/x",
		"nonsense":                     "nonsense",
		"a@b://c":                      "a@b://c",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}
