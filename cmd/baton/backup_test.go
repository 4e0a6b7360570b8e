package main

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/engine/enginetest"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// allRuns reads every run of st, newest first.
func allRuns(t *testing.T, st *store.Store) []models.Run {
	t.Helper()
	var out []models.Run
	f := models.RunFilter{Limit: 500}
	for {
		page, err := st.ListRuns(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if len(page) < f.Limit {
			return out
		}
		f.Before = page[len(page)-1].ID
	}
}

// TestBackupWhileRunsExecute: `baton backup` copies a live SQLite database
// while the engine keeps starting and finishing runs; `baton restore` puts
// the copy into a fresh data directory, and every run that had finished
// before the backup began is there, finished, with its steps.
func TestBackupWhileRunsExecute(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	url := "sqlite://" + filepath.Join(dir, "live", "baton.db")
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	env := enginetest.Wire(t, st, st, engine.LauncherConfig{})
	key := env.Template(t, `{"id": "pace", "name": "Pace", "steps": [
		{"id": "a", "type": "command", "action": {"kind": "set", "values": {"n": 1}}},
		{"id": "pause", "type": "wait", "action": {"duration": "30ms"}, "dependencies": ["a"]},
		{"id": "b", "type": "command", "action": {"kind": "log", "message": "done"}, "dependencies": ["pause"]}]}`, true)

	// Keep starting runs until told to stop.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var started atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := env.Launcher.Start(ctx, models.RunRequest{Template: key, AllowApproved: true, Trigger: models.TriggerAPI}); err != nil {
				t.Error(err)
				return
			}
			started.Add(1)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	// Wait for a good number of finished runs, with more in flight.
	var finished, unfinished []models.Run
	deadline := time.Now().Add(30 * time.Second)
	for {
		finished, unfinished = finished[:0], unfinished[:0]
		for _, r := range allRuns(t, st) {
			if r.Status.Final() {
				finished = append(finished, r)
			} else {
				unfinished = append(unfinished, r)
			}
		}
		if len(finished) >= 30 && len(unfinished) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d runs finished and %d unfinished after 30s", len(finished), len(unfinished))
		}
		time.Sleep(20 * time.Millisecond)
	}
	startedBefore := started.Load()

	backup := filepath.Join(dir, "backups", "baton-backup.db")
	out, stderr, code := runBaton(t, nil, "backup", "--db", url, backup)
	if code != 0 || !strings.Contains(out, "backed up") {
		t.Fatalf("baton backup: exit %d\n%s%s", code, out, stderr)
	}
	if started.Load() == startedBefore {
		t.Log("no run was started during the backup (it was quicker than one start)")
	}
	if _, stderr, code := runBaton(t, nil, "backup", "--db", url, backup); code != 1 || !strings.Contains(stderr, "already exists") {
		t.Errorf("a second backup to the same file: exit %d, %q; want 1 and 'already exists'", code, stderr)
	}

	fresh := filepath.Join(dir, "fresh")
	out, stderr, code = runBaton(t, nil, "restore", "--data-dir", fresh, backup)
	if code != 0 || !strings.Contains(out, "restored") {
		t.Fatalf("baton restore: exit %d\n%s%s", code, out, stderr)
	}
	if _, stderr, code := runBaton(t, nil, "restore", "--data-dir", fresh, backup); code != 1 || !strings.Contains(stderr, "already exists") {
		t.Errorf("restoring over a database: exit %d, %q; want 1 and 'already exists'", code, stderr)
	}
	rs, err := store.Open(ctx, "sqlite://"+filepath.Join(fresh, "baton.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	restored := map[string]models.Run{}
	for _, r := range allRuns(t, rs) {
		restored[r.ID] = r
	}
	for _, want := range finished {
		got, ok := restored[want.ID]
		if !ok {
			t.Errorf("run %s (%s before the backup) is missing from the restored database", want.ID, want.Status)
			continue
		}
		if got.Status != want.Status || got.FinishedAt == nil || !got.FinishedAt.Equal(*want.FinishedAt) {
			t.Errorf("run %s restored as %s finished %v, want %s finished %v", want.ID, got.Status, got.FinishedAt, want.Status, want.FinishedAt)
		}
	}
	snap, err := rs.LoadRun(ctx, finished[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.StepRuns) < 3 {
		t.Errorf("restored run %s has %d step attempts, want 3", snap.Run.ID, len(snap.StepRuns))
	}
	t.Logf("backup held %d runs; %d had finished and %d were in flight when it began", len(restored), len(finished), len(unfinished))
}

// TestBackupOnPostgresExplainsPgDump: PostgreSQL's own tools do this job.
func TestBackupOnPostgresExplainsPgDump(t *testing.T) {
	t.Parallel()
	_, stderr, code := runBaton(t, nil, "backup", "--db", "postgres://baton@127.0.0.1:1/baton", "x.db")
	if code != 1 || !strings.Contains(stderr, "pg_dump --format=custom") || !strings.Contains(stderr, "docs/operations.md#backups") {
		t.Errorf("exit %d, %q", code, stderr)
	}
}
