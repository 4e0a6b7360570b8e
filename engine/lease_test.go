package engine_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/engine/actions"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// pausable is a lease store whose renewals can be held, as if the
// instance's process were paused (SIGSTOP) while it renews.
type pausable struct {
	*store.Store
	hold   atomic.Bool
	resume chan struct{}
}

func (p *pausable) RenewLease(ctx context.Context, id string, now, until time.Time) (bool, error) {
	if p.hold.Load() {
		<-p.resume
	}
	return p.Store.RenewLease(ctx, id, now, until)
}

// startInstance starts an engine sharing st with others, on the fake clock c.
func startInstance(t *testing.T, st *store.Store, ls engine.LeaseStore, c *clockwork.FakeClock) *engine.Engine {
	t.Helper()
	eng := engine.New(st, engine.NewRegistry(actions.Builtins(nil)...), engine.Config{
		Clock: c, Rand: func() float64 { return 0.5 },
		Lease: &engine.LeaseConfig{Store: ls, TTL: 9 * time.Second, TakeoverInterval: time.Second, Host: "test"},
	})
	if err := eng.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = eng.Stop(ctx)
	})
	return eng
}

const handoverDef = `
id: handover
name: handover
steps:
  - {id: first, type: command, action: {kind: http, url: "{{URL}}/ok/first"}}
  - {id: inflight, type: command, dependencies: [first], action: {kind: http, url: "{{URL}}/block"}}
  - {id: last, type: command, dependencies: [inflight], action: {kind: http, url: "{{URL}}/ok/last"}}
`

// advance moves the fake clock by step until cond holds.
func advance(t *testing.T, c *clockwork.FakeClock, step time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		c.Advance(step)
		// Time for the instances' lease loops to renew before the next
		// step: a survivor must not lose its own lease to a fast clock.
		time.Sleep(25 * time.Millisecond)
	}
}

// A paused instance's runs are taken over once its lease expired; when it
// wakes up, its commit of the step in flight is fenced and it drops the
// run, which the survivor finishes: completed steps are not redone, the
// step in flight is redone once, with the same idempotency key.
func TestTakeoverAndFencing(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		st := open(t)
		srv := newServer(t)
		c := clockwork.NewFakeClockAt(t0)
		pa := &pausable{Store: st, resume: make(chan struct{})}
		a := startInstance(t, st, pa, c)
		b := startInstance(t, st, st, c)
		if a.InstanceID() == "" || a.InstanceID() == b.InstanceID() {
			t.Fatalf("instance ids %q, %q", a.InstanceID(), b.InstanceID())
		}
		run, err := a.StartRun(t.Context(), compile(t, strings.ReplaceAll(handoverDef, "{{URL}}", srv.URL)), engine.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		waitUntil(t, func() bool { return srv.count("/block") == 1 })
		if !a.Owns(run.ID) || b.Owns(run.ID) {
			t.Fatal("the run should be owned by the instance that started it")
		}
		// A's lease loop is stuck in a renewal; B's goes on.
		pa.hold.Store(true)
		advance(t, c, time.Second, func() bool { return b.Owns(run.ID) })
		waitUntil(t, func() bool { return srv.count("/block") == 2 })
		if s := b.Lease(); s.TakenOver != 1 || !s.Healthy || s.OwnedRuns != 1 {
			t.Errorf("survivor's lease status = %+v", s)
		}
		// Both requests answer; A's completion cannot be committed.
		close(srv.release)
		done, err := b.Wait(t.Context(), run.ID)
		if err != nil || done.Status != models.RunSucceeded {
			t.Fatalf("run = %s, %v", dump(done), err)
		}
		waitUntil(t, func() bool { return !a.Owns(run.ID) })
		if n := a.Lease().Fenced; n != 1 {
			t.Errorf("paused instance fenced %d runs; want 1", n)
		}
		if srv.count("/ok/first") != 1 || srv.count("/ok/last") != 1 {
			t.Errorf("first ran %d times, last %d; want once each", srv.count("/ok/first"), srv.count("/ok/last"))
		}
		if keys := srv.keys["/block"]; len(keys) != 1 {
			t.Errorf("in-flight step's idempotency keys = %v; want one key, twice", keys)
		}
		old := a.InstanceID()
		close(pa.resume)
		pa.hold.Store(false)
		// Awake, A finds its lease expired and registers again.
		advance(t, c, time.Second, func() bool { return a.InstanceID() != old })
		if s := a.Lease(); s.Losses < 1 {
			t.Errorf("lease losses = %d; want at least 1", s.Losses)
		}
	})
}

// Stop hands the runs over at once instead of waiting for the actions in
// flight: a survivor resumes them on its next scan.
func TestGracefulHandover(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		st := open(t)
		srv := newServer(t)
		c := clockwork.NewFakeClockAt(t0)
		a := startInstance(t, st, st, c)
		b := startInstance(t, st, st, c)
		run, err := a.StartRun(t.Context(), compile(t, strings.ReplaceAll(handoverDef, "{{URL}}", srv.URL)), engine.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		waitUntil(t, func() bool { return srv.count("/block") == 1 })
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if ctx.Err() != nil {
			t.Fatal("Stop waited for the action in flight")
		}
		advance(t, c, time.Second, func() bool { return b.Owns(run.ID) })
		close(srv.release)
		done, err := b.Wait(t.Context(), run.ID)
		if err != nil || done.Status != models.RunSucceeded {
			t.Fatalf("run = %s, %v", dump(done), err)
		}
		if srv.count("/ok/first") != 1 || srv.count("/block") != 2 || len(srv.keys["/block"]) != 1 {
			t.Errorf("hits: first %d, block %d with keys %v; want 1, 2 with one key", srv.count("/ok/first"), srv.count("/block"), srv.keys["/block"])
		}
	})
}

// An instance that finds its own lease expired drops its runs, registers
// again under a new id and claims back what nobody took.
func TestLeaseLostAndReclaimed(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		st := open(t)
		srv := newServer(t)
		c := clockwork.NewFakeClockAt(t0)
		pa := &pausable{Store: st, resume: make(chan struct{})}
		a := startInstance(t, st, pa, c)
		run, err := a.StartRun(t.Context(), compile(t, strings.ReplaceAll(handoverDef, "{{URL}}", srv.URL)), engine.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		waitUntil(t, func() bool { return srv.count("/block") == 1 })
		old := a.InstanceID()
		// The clock jumps past the lease, as after a pause.
		c.Advance(10 * time.Second)
		waitUntil(t, func() bool { return a.InstanceID() != old && a.Owns(run.ID) })
		waitUntil(t, func() bool { return srv.count("/block") == 2 })
		close(srv.release)
		done, err := a.Wait(t.Context(), run.ID)
		if err != nil || done.Status != models.RunSucceeded {
			t.Fatalf("run = %s, %v", dump(done), err)
		}
		if s := a.Lease(); s.Losses != 1 || s.TakenOver != 1 || !s.Healthy {
			t.Errorf("lease status = %+v", s)
		}
		if srv.count("/ok/first") != 1 || srv.count("/ok/last") != 1 || len(srv.keys["/block"]) != 1 {
			t.Errorf("hits: first %d, last %d, block keys %v", srv.count("/ok/first"), srv.count("/ok/last"), srv.keys["/block"])
		}
	})
}

// lossyClaims is a lease store whose next claim commits but answers an
// error, as when the connection breaks after COMMIT.
type lossyClaims struct {
	*store.Store
	drop atomic.Bool
}

func (l *lossyClaims) ClaimRuns(ctx context.Context, me string, now time.Time) ([]string, error) {
	ids, err := l.Store.ClaimRuns(ctx, me, now)
	if err == nil && len(ids) > 0 && l.drop.CompareAndSwap(true, false) {
		return nil, errors.New("read tcp: connection reset by peer")
	}
	return ids, err
}

// A run the store says this instance owns, but which it holds nowhere (its
// claim's answer was lost), is found by the self-check and resumed; without
// it nobody would ever run it again, since its owner is alive.
func TestSelfCheckResumesOwnedRunNotHeld(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		st := open(t)
		srv := newServer(t)
		c := clockwork.NewFakeClockAt(t0)
		pa := &pausable{Store: st, resume: make(chan struct{})}
		lossy := &lossyClaims{Store: st}
		a := startInstance(t, st, pa, c)
		b := startInstance(t, st, lossy, c)
		run, err := a.StartRun(t.Context(), compile(t, strings.ReplaceAll(handoverDef, "{{URL}}", srv.URL)), engine.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		waitUntil(t, func() bool { return srv.count("/block") == 1 })
		lossy.drop.Store(true)
		pa.hold.Store(true)
		defer func() { close(pa.resume); pa.hold.Store(false) }()
		advance(t, c, time.Second, func() bool { return b.Owns(run.ID) })
		if lossy.drop.Load() {
			t.Fatal("the claim's answer was never lost")
		}
		if s := b.Lease(); s.Repaired != 1 || s.TakenOver != 0 {
			t.Errorf("survivor's lease status = %+v; want the run repaired, not taken over", s)
		}
		close(srv.release)
		done, err := b.Wait(t.Context(), run.ID)
		if err != nil || done.Status != models.RunSucceeded {
			t.Fatalf("run = %s, %v", dump(done), err)
		}
		if srv.count("/ok/first") != 1 || srv.count("/ok/last") != 1 || len(srv.keys["/block"]) != 1 {
			t.Errorf("hits: first %d, last %d, block keys %v", srv.count("/ok/first"), srv.count("/ok/last"), srv.keys["/block"])
		}
	})
}
