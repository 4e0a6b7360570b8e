package evidence_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/baton-run/baton/engine/evidence"
	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/models"
)

// fakeStore holds one version and a list of recorded runs, and counts the
// reads of runs.
type fakeStore struct {
	def    models.Definition
	latest string
	reads  atomic.Int64
}

func (f *fakeStore) TemplateVersion(_ context.Context, key string, n int) (*models.Version, error) {
	if n != 2 {
		return nil, models.Errorf(models.NotFound, "no version %d", n)
	}
	return &models.Version{Template: key, Number: n, Definition: f.def}, nil
}

func (f *fakeStore) RecentProductionRuns(_ context.Context, template string, limit int) ([]models.RunSnapshot, error) {
	f.reads.Add(1)
	canon, _ := json.Marshal(f.def)
	run := models.RunSnapshot{Run: models.RunRow{Run: models.Run{ID: "r1", Template: template, Version: 1,
		Status: models.RunSucceeded, Inputs: map[string]any{}}, Definition: canon},
		StepRuns: []models.StepRunRow{{StepRun: models.StepRun{RunID: "r1", StepID: "say", Attempt: 1,
			Status: models.StepSucceeded, Input: map[string]any{"kind": "log", "message": "hi"}, Output: "hi"}, Item: -1, Order: 1}}}
	return []models.RunSnapshot{run}, nil
}

func (f *fakeStore) LatestProductionRun(context.Context, string) (string, time.Time, error) {
	return f.latest, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), nil
}

func logDef(msg string) models.Definition {
	return models.Definition{ID: "hello", Name: "Hello", Steps: []models.Step{{ID: "say", Type: models.StepCommand,
		Action: models.Action{Kind: models.KindLog, Message: msg}}}}
}

func TestCacheUntilANewRunOrAnEdit(t *testing.T) {
	ctx := context.Background()
	st := &fakeStore{def: logDef("hi"), latest: "r1"}
	svc := evidence.New(evidence.Config{Store: st, Compiler: plan.Compiler{}})
	read := func() *models.Evidence {
		t.Helper()
		ev, err := svc.Evidence(ctx, "hello", 2, 0)
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	if ev := read(); ev.Summary.Replayed != 1 || ev.Summary.WouldExecute != 0 || ev.Requested != 50 {
		t.Fatalf("evidence = %+v", ev)
	}
	read()
	if n := st.reads.Load(); n != 1 {
		t.Fatalf("a second read replayed again (%d reads of runs)", n)
	}
	st.latest = "r2" // a new production run finished
	read()
	if n := st.reads.Load(); n != 2 {
		t.Fatalf("a new run did not make the answer stale (%d reads)", n)
	}
	st.def = logDef("hello there") // the draft was edited
	if ev := read(); st.reads.Load() != 3 || ev.Summary.WouldExecute != 1 {
		t.Fatalf("an edited draft kept the old answer: %+v", ev.Summary)
	}
	if _, err := svc.Evidence(ctx, "hello", 2, 501); !models.IsCode(err, models.BadRequest) {
		t.Fatalf("runs=501: %v", err)
	}
	if _, err := svc.Evidence(ctx, "hello", 3, 0); !models.IsCode(err, models.NotFound) {
		t.Fatalf("version 3: %v", err)
	}
}

func TestSubmittedIsReplayedByTheWorker(t *testing.T) {
	st := &fakeStore{def: logDef("hi"), latest: "r1"}
	svc := evidence.New(evidence.Config{Store: st, Compiler: plan.Compiler{}, Queue: 1})
	got := make(chan *models.Evidence, 1)
	if !svc.Submitted("hello", 2, func(ev *models.Evidence) { got <- ev }) {
		t.Fatal("queue refused the first submission")
	}
	if svc.Submitted("hello", 2, nil) {
		t.Fatal("a full queue accepted a submission")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); svc.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case ev := <-got:
		if ev == nil || ev.Summary.Line() != "Replayed on the last 1 run: 1 same path, 0 would take another path, 0 would call a new step" {
			t.Fatalf("worker gave %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the worker never replayed the submitted version")
	}
}

// Runs of several base versions are replayed alike; baseVersions lists
// them, and the summary counts each kind of change once per run.
func TestComputeSeveralBaseVersions(t *testing.T) {
	st := &fakeStore{def: logDef("hi")}
	snaps, _ := st.RecentProductionRuns(context.Background(), "hello", 1)
	old := snaps[0]
	old.Run.ID, old.Run.Version = "r0", 1
	other := snaps[0]
	other.Run.ID, other.Run.Version = "r9", 3
	other.Run.Inputs = map[string]any{"extra": 1.0} // an input the version does not take: refused
	p, err := plan.Compile(logDef("hi"))
	if err != nil {
		t.Fatal(err)
	}
	ev := evidence.Compute(p, "hello", 4, 50, []models.RunSnapshot{other, old})
	if len(ev.BaseVersions) != 2 || ev.BaseVersions[0] != 1 || ev.BaseVersions[1] != 3 {
		t.Fatalf("baseVersions = %v", ev.BaseVersions)
	}
	if ev.Summary != (models.EvidenceSummary{Replayed: 2, Refused: 1}) || ev.Runs[0].RunID != "r9" || len(ev.Runs[0].MissingInputs) != 1 {
		t.Fatalf("evidence = %+v", ev)
	}
	if line := ev.Summary.Line(); line != "Replayed on the last 2 runs: 1 same path, 0 would take another path, 0 would call a new step, 1 would be refused" {
		t.Fatalf("line = %q", line)
	}
}
