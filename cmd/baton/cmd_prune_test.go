package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baton-run/baton/models/store"
)

func TestPruneCommand(t *testing.T) {
	t.Parallel()
	url := "sqlite://" + filepath.Join(t.TempDir(), "baton.db")
	st, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	// 60 runs, one every 2 days back from now: 15 are under 30 days old.
	_, err = st.FillHistory(context.Background(), store.HistoryOptions{Runs: 60, Steps: 1, Templates: []string{"nightly"},
		Span: 120 * 24 * time.Hour, End: time.Now(), Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"BATON_DATABASE_URL": url}
	out, errOut, code := runBaton(t, vars, "prune", "--older-than", "30d", "--dry-run")
	if code != 0 || !strings.Contains(out, "nightly: would delete 45 runs") || !strings.Contains(out, "would delete 45 runs that finished more than 30d ago") {
		t.Fatalf("dry run = %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = runBaton(t, vars, "prune", "--older-than", "30d", "--template", "nightly")
	if code != 0 || !strings.Contains(out, "nightly: deleted 45 runs") {
		t.Fatalf("prune = %d\n%s%s", code, out, errOut)
	}
	out, _, _ = runBaton(t, vars, "prune", "--older-than", "30d")
	if !strings.Contains(out, "deleted 0 runs") {
		t.Fatalf("second prune:\n%s", out)
	}
}
