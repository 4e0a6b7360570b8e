package store_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// crashHelperEnv makes the test binary a child that writes and then waits
// to be killed.
const crashHelperEnv = "BATON_STORE_CRASH_HELPER_DB"

func TestMain(m *testing.M) {
	if path := os.Getenv(crashHelperEnv); path != "" {
		os.Exit(crashHelper(path))
	}
	os.Exit(m.Run())
}

// crashHelper commits crashWrites audit entries one by one, reports each
// on stdout once committed, then blocks until killed.
func crashHelper(path string) int {
	st, err := store.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for i := range crashWrites {
		if err := st.Audit(context.Background(), &models.AuditEntry{Actor: "child", Action: "write", Target: strconv.Itoa(i)}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(i)
	}
	select {} // never closes the store: the parent kills us
}

const crashWrites = 200

// crashDeadline bounds the wait for the child's reports: 200 small commits
// take well under a second, even on a loaded machine.
const crashDeadline = 2 * time.Minute

// TestSQLiteSurvivesKill: with WAL and synchronous=NORMAL, every write a
// process reported as committed is there after the process is killed with
// SIGKILL (no Close, no checkpoint).
func TestSQLiteSurvivesKill(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "crash.db")
	// A child that stops writing is killed at the deadline, which ends the
	// reading below: the wait for its reports is bounded.
	ctx, cancel := context.WithTimeout(context.Background(), crashDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashHelperEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	committed := 0
	sc := bufio.NewScanner(out)
	for committed < crashWrites && sc.Scan() {
		committed++
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if committed != crashWrites {
		if ctx.Err() != nil {
			t.Fatalf("the child reported %d of %d writes within %s; it was killed at the deadline", committed, crashWrites, crashDeadline)
		}
		t.Fatalf("the child reported %d writes before dying, want %d", committed, crashWrites)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Logf("no WAL file left behind (%v); the test still checks the data", err)
	}

	st, err := store.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	got, err := st.ListAudit(context.Background(), store.MaxAuditLimit, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != crashWrites {
		t.Errorf("%d entries after the kill, want all %d committed ones", len(got), crashWrites)
	}
}
