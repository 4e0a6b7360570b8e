package engine_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/baton-run/baton/cluster"
	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/engine/actions"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/baton-run/baton/models/store/storetest"
)

// member is one instance of a cluster in a test: its store, bus and engine
// on a database shared with the others.
type member struct {
	t   *testing.T
	url string
	st  *store.Store
	bus *cluster.Postgres
	eng *engine.Engine
}

func join(t *testing.T, url string) *member {
	t.Helper()
	st, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	bus, err := cluster.NewPostgres(context.Background(), url, st.SQLDB(), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := &member{t: t, url: url, st: st, bus: bus}
	t.Cleanup(func() { _ = bus.Close(); _ = st.Close() })
	m.start()
	return m
}

func (m *member) start() {
	m.eng = engine.New(m.st, engine.NewRegistry(actions.Builtins(nil)...), engine.Config{Cluster: m.bus})
	if err := m.eng.Start(context.Background()); err != nil {
		m.t.Fatal(err)
	}
	eng := m.eng
	m.t.Cleanup(func() { m.stop(eng) })
}

func (m *member) stop(eng *engine.Engine) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := eng.Stop(ctx); err != nil {
		m.t.Errorf("Stop: %v", err)
	}
}

// waitDone waits (a few seconds at most) for the run to finish on m.
func (m *member) waitDone(id string) models.Run {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	run, err := m.eng.Wait(ctx, id)
	if err != nil {
		m.t.Fatalf("run %s did not finish: %v (%s)", id, err, run.Status)
	}
	return run
}

const parked = `
id: parked
name: parked
steps:
  - {id: gate, type: wait, action: {signal: go}}
  - {id: after, type: command, dependencies: [gate], action: {kind: set, values: {n: "{{ steps.gate.output.n }}"}}}
`

func twoInstances(t *testing.T) (a, b *member) {
	t.Helper()
	url := storetest.CreatePostgresDatabase(t)
	return join(t, url), join(t, url)
}

func (m *member) startParked(t *testing.T) models.Run {
	t.Helper()
	run, err := m.eng.StartRun(context.Background(), compile(t, parked), engine.RunOptions{Trigger: models.TriggerAPI})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, _ := m.eng.Run(context.Background(), run.ID)
		if r.Status == models.RunWaiting {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("run did not wait: %s", r.Status)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A cancel or a signal sent to an instance that does not execute the run
// reaches the one that does at once.
func TestClusterRunOperations(t *testing.T) {
	a, b := twoInstances(t)

	run := a.startParked(t)
	if err := b.eng.Signal(t.Context(), run.ID, "go", map[string]any{"n": 7}); err != nil {
		t.Fatalf("Signal through B: %v", err)
	}
	done := a.waitDone(run.ID)
	if done.Status != models.RunSucceeded || fmt.Sprint(step(t, done, "after").Output) != "map[n:7]" {
		t.Fatalf("after a signal through B the run on A is %s, after=%v", done.Status, step(t, done, "after").Output)
	}

	run = a.startParked(t)
	if err := b.eng.Cancel(t.Context(), run.ID); err != nil {
		t.Fatalf("Cancel through B: %v", err)
	}
	if done := a.waitDone(run.ID); done.Status != models.RunCancelled {
		t.Fatalf("after a cancel through B the run on A is %s", done.Status)
	}
	if err := b.eng.Cancel(t.Context(), run.ID); !models.IsCode(err, models.Conflict) {
		t.Errorf("Cancel of a finished run through B = %v; want Conflict", err)
	}
	if err := b.eng.Signal(t.Context(), "nope", "go", nil); !models.IsCode(err, models.NotFound) {
		t.Errorf("Signal of an unknown run through B = %v; want NotFound", err)
	}
	if err := b.eng.Signal(t.Context(), run.ID, "$cancel", nil); !models.IsCode(err, models.Conflict) {
		t.Errorf("a signal named like a stored request = %v; want Conflict", err)
	}
}

// A request stored while no instance holds the run is applied when the run
// is resumed from the store.
func TestClusterRequestsAppliedOnResume(t *testing.T) {
	a, b := twoInstances(t)
	signalled := a.startParked(t)
	cancelled := a.startParked(t)
	a.stop(a.eng) // A dies; nobody holds the runs
	if err := b.eng.Signal(t.Context(), signalled.ID, "go", map[string]any{"n": 1}); err != nil {
		t.Fatal(err)
	}
	if err := b.eng.Cancel(t.Context(), cancelled.ID); err != nil {
		t.Fatal(err)
	}
	a.start() // resumes both
	if done := a.waitDone(signalled.ID); done.Status != models.RunSucceeded {
		t.Errorf("signalled run = %s; want succeeded", done.Status)
	}
	done := a.waitDone(cancelled.ID)
	if done.Status != models.RunCancelled {
		t.Errorf("cancelled run = %s; want cancelled", done.Status)
	}
	snap, err := a.st.LoadRun(t.Context(), cancelled.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Signals) != 0 {
		t.Errorf("requests left stored: %+v", snap.Signals)
	}
}

// Subscribers on one instance see the events of runs executing on another;
// a local-only subscriber (alerts) does not.
func TestClusterEvents(t *testing.T) {
	a, b := twoInstances(t)
	all := b.eng.SubscribeBatches("", 64)
	defer all.Close()
	local := b.eng.SubscribeLocalBatches("", 64)
	defer local.Close()

	run := a.startParked(t)
	one := b.eng.Subscribe(run.ID, 64)
	defer one.Close()
	if err := a.eng.Signal(t.Context(), run.ID, "go", map[string]any{"n": 2}); err != nil {
		t.Fatal(err)
	}
	a.waitDone(run.ID)

	seen := map[string]bool{}
	timeout := time.After(5 * time.Second)
	for !seen[models.EventRunStarted] || !seen[models.EventRunSucceeded] {
		select {
		case batch := <-all.C:
			for _, ev := range batch {
				if ev.RunID == run.ID {
					seen[ev.Type] = true
				}
			}
		case <-timeout:
			t.Fatalf("B's subscriber to every run saw only %v of A's run", seen)
		}
	}
	var last int64
	for last == 0 || last < 0 {
		select {
		case ev := <-one.C:
			if ev.Type == models.EventRunSucceeded {
				last = ev.Seq
			}
		case <-timeout:
			t.Fatal("B's subscriber to A's run did not see it succeed")
		}
	}
	select {
	case batch := <-local.C:
		t.Errorf("a local-only subscriber on B saw A's events: %+v", batch)
	default:
	}
}
