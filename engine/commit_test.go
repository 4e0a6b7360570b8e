package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/engine/actions"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/prometheus/client_golang/prometheus"
)

// flakyStore fails its first commits, as a database that drops a
// connection would.
type flakyStore struct {
	*store.Store
	fails atomic.Int32
}

func (f *flakyStore) ApplyRunWrites(ctx context.Context, w *models.RunWrites) error {
	if f.fails.Add(-1) >= 0 {
		return errors.New("connection reset")
	}
	return f.Store.ApplyRunWrites(ctx, w)
}

func TestCommitFailuresAreRetried(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		fs := &flakyStore{Store: open(t)}
		fs.fails.Store(2)
		eng := engine.New(fs, engine.NewRegistry(actions.Builtins(nil)...), engine.Config{
			Logger: slog.New(slog.DiscardHandler)})
		if err := eng.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer eng.Stop(context.Background())
		run, err := eng.StartRun(t.Context(), compile(t, chainDef(3)), engine.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		done, err := eng.Wait(t.Context(), run.ID)
		if err != nil || done.Status != models.RunSucceeded {
			t.Fatalf("%v %s", err, dump(done))
		}
		stored, err := fs.LoadRun(t.Context(), run.ID)
		if err != nil || stored.Run.Status != models.RunSucceeded {
			t.Errorf("stored run: %v %+v", err, stored)
		}
	})
}

// downStore fails every write (and every read, as a database that is down)
// while down is set.
type downStore struct {
	*store.Store
	down atomic.Bool
}

func (d *downStore) ApplyRunWrites(ctx context.Context, w *models.RunWrites) error {
	if d.down.Load() {
		return errors.New("database is down")
	}
	return d.Store.ApplyRunWrites(ctx, w)
}

func (d *downStore) LoadRun(ctx context.Context, id string) (*models.RunSnapshot, error) {
	if d.down.Load() {
		return nil, errors.New("database is down")
	}
	return d.Store.LoadRun(ctx, id)
}

// When commits keep failing, the runs concerned stop (no step starts after
// an uncommitted write), Healthy and the metrics say so, and the runs resume
// from the store once it answers again.
func TestFailedCommitSuspendsTheRunUntilTheStoreRecovers(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		srv := newServer(t)
		ds := &downStore{Store: open(t)}
		reg := prometheus.NewRegistry()
		eng := engine.New(ds, engine.NewRegistry(actions.Builtins(nil)...), engine.Config{
			Logger: slog.New(slog.DiscardHandler), ResumeInterval: 5 * time.Millisecond,
			Metrics: engine.NewMetrics(reg)})
		if err := eng.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer eng.Stop(context.Background())
		run, err := eng.StartRun(t.Context(), compile(t, `
id: suspend
name: suspend
steps:
  - {id: gate, type: wait, action: {signal: go, timeout: 1h}}
  - {id: call, type: command, dependencies: [gate], action: {kind: http, url: "`+srv.URL+`/ok/after"}}
`), engine.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		waitUntil(t, func() bool {
			evs, _ := eng.Events(t.Context(), run.ID, 0, 0)
			return slices.ContainsFunc(evs, stepEvent(models.EventStepWaiting, "gate"))
		})
		if err := eng.Healthy(); err != nil {
			t.Fatalf("Healthy before the failure = %v", err)
		}

		ds.down.Store(true)
		if err := eng.Signal(t.Context(), run.ID, "go", nil); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, func() bool { return eng.Healthy() != nil })
		if err := eng.Signal(t.Context(), run.ID, "go", nil); !models.IsCode(err, models.Unavailable) {
			t.Errorf("Signal to a suspended run = %v; want Unavailable", err)
		}
		if _, err := eng.StartRun(t.Context(), compile(t, chainDef(1)), engine.RunOptions{}); !models.IsCode(err, models.Unavailable) {
			t.Errorf("StartRun while the store is down = %v; want Unavailable", err)
		}
		if n := srv.count("/ok/after"); n != 0 {
			t.Fatalf("the step after the uncommitted signal ran %d times", n)
		}
		if v := gauge(t, reg, "baton_suspended_runs"); v < 1 {
			t.Errorf("baton_suspended_runs = %v", v)
		}
		if v := gauge(t, reg, "baton_commit_failures_total"); v < 1 {
			t.Errorf("baton_commit_failures_total = %v", v)
		}

		ds.down.Store(false)
		waitUntil(t, func() bool { return eng.Healthy() == nil })
		// The signal was never committed: the run waits for it again.
		waitUntil(t, func() bool { return eng.Signal(t.Context(), run.ID, "go", nil) == nil })
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		done, err := eng.Wait(ctx, run.ID)
		if err != nil || done.Status != models.RunSucceeded {
			t.Fatalf("after recovery: %v %s", err, dump(done))
		}
		if n := srv.count("/ok/after"); n != 1 {
			t.Errorf("the step after the signal ran %d times; want 1", n)
		}
	})
}

// Later writes of a run's row leave out its inputs and definition
// (RunRow.Stored); the stored row must still hold them.
func TestRunRowUpdatesKeepInputsAndDefinition(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		h := newHarness(t, open)
		run := h.run(`
id: keep
name: keep
inputs: {who: {type: string, required: true}}
steps:
  - {id: a, type: command, action: {kind: set, values: {v: "{{ inputs.who }}"}}}
  - {id: b, type: command, dependencies: [a], action: {kind: log, message: hi}}
`, map[string]any{"who": "ann"})
		if run.Status != models.RunSucceeded {
			t.Fatalf("run: %s", dump(run))
		}
		snap, err := h.st.LoadRun(t.Context(), run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if snap.Run.Inputs["who"] != "ann" || !strings.Contains(string(snap.Run.Definition), `"keep"`) || snap.Run.Seq < 4 {
			t.Errorf("stored row lost its inputs or definition: inputs %v, seq %d, definition %s",
				snap.Run.Inputs, snap.Run.Seq, snap.Run.Definition)
		}
	})
}

// TestOutputsAndInputsStored checks what the store keeps of a run whose
// inputs and outputs the engine encodes once (inputs when the run starts,
// an output when its size is checked): the stored values are the values
// the run saw, escapes and all, on each database.
func TestOutputsAndInputsStored(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		h := newHarness(t, open)
		text := "a <b> & \"c\" é \u2028 \\ \n\t end"
		run := h.run(`
id: stored
name: stored
inputs:
  text: {type: string, required: true}
  list: {type: array, default: [1, "two", {three: 3}]}
steps:
  - {id: a, type: command, action: {kind: set, values: {v: "{{ inputs.text }}", n: 3, l: "{{ inputs.list }}"}}}
  - {id: b, type: command, dependencies: [a], action: {kind: set, values: {again: "{{ steps.a.output.v }}"}}}
`, map[string]any{"text": text})
		if run.Status != models.RunSucceeded {
			t.Fatalf("status = %s: %s", run.Status, dump(run))
		}
		snap, err := h.st.LoadRun(context.Background(), run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := snap.Run.Inputs["text"]; got != text {
			t.Errorf("stored input text = %q; want %q", got, text)
		}
		stored := map[string]any{}
		for _, r := range snap.StepRuns {
			stored[r.StepID] = r.Output
		}
		for _, id := range []string{"a", "b"} {
			// What the run saw, as JSON would carry it.
			var want any
			b, err := json.Marshal(step(t, run, id).Output)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(stored[id], want) {
				t.Errorf("stored output of %s = %#v; want %#v", id, stored[id], want)
			}
		}
		if a, _ := stored["a"].(map[string]any); a["v"] != text {
			t.Errorf("stored a.v = %#v; want %q", a["v"], text)
		}
	})
}
