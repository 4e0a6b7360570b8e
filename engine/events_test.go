package engine_test

import (
	"testing"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// Batch subscriptions see the same events as the store, in order, for every
// run or for one run; a full one is dropped, not waited for.
func TestBatchSubscriptions(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		h := newHarness(t, open)
		all := h.eng.SubscribeBatches("", 1000)
		defer all.Close()
		slow := h.eng.SubscribeBatches("", 1)
		other := h.run(chainDef(2), nil) // events of another run, before
		// Parked on a signal, so that subscribing to it cannot come after
		// its end.
		run := h.startRun(signalDef, nil)
		one := h.eng.SubscribeBatches(run.ID, 1000)
		defer one.Close()
		h.waitFor(run.ID, stepEvent(models.EventStepWaiting, "approval"))
		if err := h.eng.Signal(t.Context(), run.ID, "approve", map[string]any{"by": "ann"}); err != nil {
			t.Fatal(err)
		}
		run = h.wait(run.ID)
		collect := func(c <-chan []models.Event, id string) []models.Event {
			var got []models.Event
			for batch := range c {
				for _, ev := range batch {
					if ev.RunID == id {
						got = append(got, ev)
					}
				}
				if len(got) > 0 && got[len(got)-1].Type == models.EventRunSucceeded {
					return got
				}
			}
			t.Fatalf("subscription ended early: %s", dump(got))
			return nil
		}
		stored, err := h.eng.Events(t.Context(), run.ID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := collect(all.C, run.ID); dump(got) != dump(stored) {
			t.Errorf("all-runs batches differ from the store:\nbus %s\nstored %s", dump(got), dump(stored))
		}
		// Subscribed after the start: a suffix of the stored events, and
		// nothing of the other run.
		got := collect(one.C, run.ID)
		if len(got) == 0 || dump(got) != dump(stored[len(stored)-len(got):]) {
			t.Errorf("one-run batches = %s", dump(got))
		}
		_ = other
		for range slow.C {
		}
		if !slow.Dropped() {
			t.Errorf("slow batch subscriber not dropped")
		}
		if all.Dropped() {
			t.Errorf("a subscriber that keeps up was dropped")
		}
	})
}

func TestEventsBus(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		h := newHarness(t, open)
		all := h.eng.Subscribe("", 1000)
		defer all.Close()
		slow := h.eng.Subscribe("", 1)
		run := h.run(`
id: events
name: events
steps:
  - {id: a, type: command, action: {kind: log, message: a}}
  - {id: b, type: command, dependencies: [a], action: {kind: log, message: b}}
`, nil)
		var got []models.Event
		for ev := range all.C {
			got = append(got, ev)
			if ev.Type == models.EventRunSucceeded {
				break
			}
		}
		stored, err := h.eng.Events(t.Context(), run.ID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if dump(got) != dump(stored) {
			t.Errorf("bus events differ from stored ones:\nbus %s\nstored %s", dump(got), dump(stored))
		}
		tail, _ := h.eng.Events(t.Context(), run.ID, 3, 2)
		if len(tail) != 2 || tail[0].Seq != 4 {
			t.Errorf("Events(after 3, limit 2) = %s", dump(tail))
		}
		// The slow subscriber never read: it was dropped, not waited for.
		for range slow.C {
		}
		if !slow.Dropped() {
			t.Errorf("slow subscriber not dropped")
		}
	})
}
