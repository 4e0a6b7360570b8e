package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/baton-run/baton/models"
)

// Several instances on one database (issue 17). Each unfinished run is
// owned by one instance (runs.owner). An instance holds its runs for as
// long as its lease lasts: one row in the store, renewed by one write
// every TTL/3 whatever the number of runs. Every TakeoverInterval each
// instance claims the runs of instances whose lease expired (and runs
// without an owner) and resumes them as a restart would. Every commit of a
// run's changes is fenced by its owner (models.RunWrites.Owner): once
// another instance has claimed the run, the old owner's commits fail and
// it drops the run (fence) without resuming it. An instance that finds its
// own lease expired (it was paused, or the database was out of reach for
// longer than the TTL) drops every run at once and registers again under a
// new id, and then claims back whatever nobody else took.

// LeaseStore is what the engine needs to share runs with other instances;
// *store.Store (package models/store) implements it.
type LeaseStore interface {
	// RegisterInstance inserts a new instance and its first lease.
	RegisterInstance(ctx context.Context, in models.Instance) error
	// RenewLease extends instance id's lease to until if it has not
	// expired at now; false when it had (the instance may have lost runs).
	RenewLease(ctx context.Context, id string, now, until time.Time) (bool, error)
	// ReleaseInstance leaves the instance's unfinished runs without an
	// owner and deletes it: survivors claim the runs at once.
	ReleaseInstance(ctx context.Context, id string) error
	// ClaimRuns makes me the owner of the unfinished runs without a live
	// owner, and returns them.
	ClaimRuns(ctx context.Context, me string, now time.Time) ([]string, error)
	// OwnedRunIDs lists the unfinished runs whose owner is me.
	OwnedRunIDs(ctx context.Context, me string) ([]string, error)
}

// LeaseConfig turns on run ownership by lease (Config.Lease). Without it
// the engine is the only one on its database and owns every run.
type LeaseConfig struct {
	Store LeaseStore
	// TTL is how long a lease lasts without renewal: how long after an
	// instance dies its runs wait for a survivor. Defaults to 10s.
	TTL time.Duration
	// TakeoverInterval is how often the instance looks for runs to take
	// over. Defaults to 2s.
	TakeoverInterval time.Duration
	// Host and PID describe the instance in the store (operations).
	Host string
	PID  int
}

// LeaseStatus is the instance's lease, for /healthz and metrics.
type LeaseStatus struct {
	Enabled    bool      `json:"enabled"`
	InstanceID string    `json:"instanceId,omitempty"`
	LeaseUntil time.Time `json:"leaseUntil"`
	RenewedAt  time.Time `json:"renewedAt"`
	// Healthy is false while the lease is lost (the instance is
	// registering again) or past its end without a renewal.
	Healthy bool `json:"healthy"`
	// OwnedRuns are the runs held in memory; TakenOver counts the runs
	// claimed from other instances (or without an owner) since start;
	// Fenced the runs dropped because another instance took them; Losses
	// the times this process lost its own lease; Repaired the runs its
	// self-check found owned here in the store but held nowhere, and
	// resumed.
	OwnedRuns int   `json:"ownedRuns"`
	TakenOver int64 `json:"takenOver"`
	Fenced    int64 `json:"fenced"`
	Losses    int64 `json:"leaseLosses"`
	Repaired  int64 `json:"repaired"`
}

// errFenced cancels the actions of a run another instance took over: their
// outcome is not recorded; the new owner runs them again (same idempotency
// key).
var errFenced = errors.New("run taken over by another instance")

type lease struct {
	cfg LeaseConfig

	mu        sync.Mutex
	id        string
	until     time.Time
	renewedAt time.Time
	// pending are runs claimed but not resumed yet (the store failed
	// while loading them): the next scan tries them again.
	pending []string
	// unheld are the runs the last self-check found owned by this
	// instance in the store but not held in memory (leaseLoop only).
	unheld map[string]bool

	lost      atomic.Bool
	takenOver atomic.Int64
	fenced    atomic.Int64
	losses    atomic.Int64
	repaired  atomic.Int64

	stop chan struct{}
	done chan struct{}
}

func newLease(cfg *LeaseConfig) *lease {
	if cfg == nil || cfg.Store == nil {
		return nil
	}
	c := *cfg
	c.TTL = cmp.Or(c.TTL, 10*time.Second)
	c.TakeoverInterval = cmp.Or(c.TakeoverInterval, 2*time.Second)
	return &lease{cfg: c, stop: make(chan struct{}), done: make(chan struct{})}
}

// owner is the instance id that new runs are written with, "" without a
// lease.
func (e *Engine) owner() string {
	if e.lease == nil {
		return ""
	}
	e.lease.mu.Lock()
	defer e.lease.mu.Unlock()
	return e.lease.id
}

// InstanceID is this instance's id in the store ("" for a single instance
// without a lease). It changes when the instance lost its lease and
// registered again.
func (e *Engine) InstanceID() string { return e.owner() }

// Owns reports whether this instance holds run id: it is in memory here
// (running, or suspended until the store answers). A signal, a cancel or a
// retry of a run held elsewhere must reach its owner (the wake-ups of
// issue 17 part B use this).
func (e *Engine) Owns(id string) bool {
	return e.active(id) != nil || e.isSuspended(id)
}

// Lease returns the state of this instance's lease.
func (e *Engine) Lease() LeaseStatus {
	e.mu.Lock()
	n := len(e.runs) + len(e.suspended)
	e.mu.Unlock()
	l := e.lease
	if l == nil {
		return LeaseStatus{OwnedRuns: n, Healthy: true}
	}
	l.mu.Lock()
	st := LeaseStatus{Enabled: true, InstanceID: l.id, LeaseUntil: l.until, RenewedAt: l.renewedAt}
	l.mu.Unlock()
	st.Healthy = !l.lost.Load() && e.clock.Now().Before(st.LeaseUntil)
	st.OwnedRuns = n
	st.TakenOver, st.Fenced, st.Losses, st.Repaired = l.takenOver.Load(), l.fenced.Load(), l.losses.Load(), l.repaired.Load()
	return st
}

// register inserts this process as a new instance with a fresh id.
func (e *Engine) register(ctx context.Context) error {
	l := e.lease
	now := e.clock.Now().UTC()
	in := models.Instance{ID: e.newID(), Host: l.cfg.Host, PID: l.cfg.PID, StartedAt: now, LeaseUntil: now.Add(l.cfg.TTL)}
	if err := l.cfg.Store.RegisterInstance(ctx, in); err != nil {
		return fmt.Errorf("register instance: %w", err)
	}
	l.mu.Lock()
	l.id, l.until, l.renewedAt, l.pending = in.ID, in.LeaseUntil, now, nil
	l.mu.Unlock()
	e.cfg.Metrics.instance(in.ID, in.LeaseUntil)
	e.log.Info("engine: instance registered", "instance", in.ID, "lease", l.cfg.TTL)
	return nil
}

// leaseLoop renews the lease every TTL/3 and takes runs over every
// TakeoverInterval, until Stop.
func (e *Engine) leaseLoop() {
	l := e.lease
	defer close(l.done)
	renewEvery := l.cfg.TTL / 3
	now := e.clock.Now()
	nextRenew, nextScan := now.Add(renewEvery), now.Add(l.cfg.TakeoverInterval)
	for {
		wait := nextRenew
		if nextScan.Before(wait) {
			wait = nextScan
		}
		select {
		case <-l.stop:
			return
		case <-e.clock.After(wait.Sub(e.clock.Now())):
		}
		now := e.clock.Now()
		if !now.Before(nextRenew) {
			e.renew()
			nextRenew = e.clock.Now().Add(renewEvery)
		}
		if !now.Before(nextScan) {
			e.takeOver()
			nextScan = e.clock.Now().Add(l.cfg.TakeoverInterval)
		}
	}
}

// renew extends the lease; a lease found expired is lost.
func (e *Engine) renew() {
	l := e.lease
	l.mu.Lock()
	id, until := l.id, l.until
	l.mu.Unlock()
	now := e.clock.Now().UTC()
	if now.After(until) {
		// Paused, or the store was out of reach, past the lease: another
		// instance may hold our runs already.
		e.loseLease(fmt.Sprintf("the lease ended %s ago without a renewal", now.Sub(until).Round(time.Millisecond)))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), until.Sub(now))
	ok, err := l.cfg.Store.RenewLease(ctx, id, now, now.Add(l.cfg.TTL))
	cancel()
	switch {
	case err != nil:
		e.log.Warn("engine: lease not renewed", "instance", id, "error", err, "leaseUntil", until)
	case !ok:
		e.loseLease("the store found the lease expired")
	default:
		l.mu.Lock()
		if l.id == id {
			l.until, l.renewedAt = now.Add(l.cfg.TTL), now
		}
		l.mu.Unlock()
		e.cfg.Metrics.instance(id, now.Add(l.cfg.TTL))
	}
}

// loseLease drops every run this instance holds (another instance may be
// running them already), then registers again under a new id and claims
// back what nobody took.
func (e *Engine) loseLease(reason string) {
	l := e.lease
	l.lost.Store(true)
	l.losses.Add(1)
	e.log.Error("engine: lease lost: dropping every run; registering again", "instance", e.owner(), "reason", reason)
	e.mu.Lock()
	var held []*runState
	for _, rs := range e.runs {
		held = append(held, rs)
	}
	for _, rs := range e.suspended {
		held = append(held, rs)
	}
	e.mu.Unlock()
	for _, rs := range held {
		e.fence(rs, errors.New("lease lost: "+reason))
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), l.cfg.TTL)
		err := e.register(ctx)
		cancel()
		if err == nil {
			break
		}
		e.log.Warn("engine: cannot register again yet", "error", err)
		select {
		case <-l.stop:
			return
		case <-e.clock.After(l.cfg.TTL / 3):
		}
	}
	l.lost.Store(false)
	e.takeOver()
}

// takeOver claims the runs of expired instances and resumes them.
func (e *Engine) takeOver() {
	if e.stopping.Load() {
		return
	}
	l := e.lease
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ids, err := l.cfg.Store.ClaimRuns(ctx, e.owner(), e.clock.Now().UTC())
	if err != nil {
		e.log.Warn("engine: takeover scan failed", "error", err)
	}
	l.mu.Lock()
	ids = append(l.pending, ids...)
	l.pending = nil
	l.mu.Unlock()
	orphans := e.selfCheck(ctx)
	if len(ids) == 0 && len(orphans) == 0 {
		return
	}
	n, rest, _ := e.resumeRuns(ctx, ids, false)
	l.takenOver.Add(int64(n))
	e.cfg.Metrics.tookOver(n)
	if len(orphans) > 0 {
		r, more, _ := e.resumeRuns(ctx, orphans, false)
		rest = append(rest, more...)
		l.repaired.Add(int64(r))
		e.cfg.Metrics.repairedOwnership(r)
		if r > 0 {
			e.log.Warn("engine: runs owned here but held nowhere were resumed", "instance", e.owner(), "runs", r)
		}
	}
	if len(rest) > 0 {
		l.mu.Lock()
		l.pending = append(l.pending, rest...)
		l.mu.Unlock()
	}
	if n > 0 {
		e.log.Info("engine: runs taken over", "instance", e.owner(), "runs", n)
	}
}

// selfCheck returns the runs the store says this instance owns that it
// has held nowhere on this check and the one before. Such a run would
// otherwise stay unfinished for good: nobody else claims a run whose owner
// is alive. It happens when a claim committed but its answer was lost (the
// connection broke after COMMIT), and it is the safety net for any other
// path that loses a run between the store and memory. Two checks in a row,
// because a run being started or resumed is in the store a moment before
// it is in memory.
func (e *Engine) selfCheck(ctx context.Context) []string {
	l := e.lease
	me := e.owner()
	owned, err := l.cfg.Store.OwnedRunIDs(ctx, me)
	if err != nil {
		e.log.Warn("engine: self-check of owned runs failed", "error", err)
		return nil
	}
	var orphans []string
	unheld := map[string]bool{}
	for _, id := range owned {
		if e.Owns(id) {
			continue
		}
		if l.unheld[id] {
			orphans = append(orphans, id)
		} else {
			unheld[id] = true
		}
	}
	l.unheld = unheld
	return orphans
}

// fence drops a run that another instance owns now: its actions are
// cancelled, nothing more of it is written, and it is not resumed here.
// Waits on it in this process end (they read the store).
func (e *Engine) fence(rs *runState, cause error) {
	if !rs.suspended.CompareAndSwap(false, true) {
		// Suspended already: it may be only waiting to resume.
		e.mu.Lock()
		_, waiting := e.suspended[rs.row.ID]
		if waiting && e.suspended[rs.row.ID] == rs {
			delete(e.suspended, rs.row.ID)
		}
		e.mu.Unlock()
		if !waiting {
			return
		}
	} else {
		rs.mu.Lock()
		rs.done = true
		if rs.stopF != nil {
			rs.stopF(errFenced)
		}
		rs.mu.Unlock()
		close(rs.suspendedCh)
	}
	id := rs.row.ID
	e.log.Warn("engine: run dropped: another instance owns it now", "run", id, "cause", cause)
	e.mu.Lock()
	if e.runs[id] == rs {
		delete(e.runs, id)
	}
	n := len(e.suspended)
	delete(e.children, id)
	e.mu.Unlock()
	e.dropWaiters(id)
	e.cfg.Metrics.suspended(n)
	e.cfg.Metrics.runDropped()
	if l := e.lease; l != nil {
		l.fenced.Add(1)
		if rs.row.Owner != e.owner() {
			// Fenced because this process registered again: the new id
			// may have claimed the run while this state was still held
			// (resumeRuns skips runs in memory). The next scan resumes
			// it if it is ours (resumeRuns checks the owner).
			l.mu.Lock()
			l.pending = append(l.pending, id)
			l.mu.Unlock()
		}
	}
}

// release hands this instance's runs over on a graceful stop.
func (e *Engine) release(ctx context.Context) error {
	l := e.lease
	if l.lost.Load() {
		return nil
	}
	if err := l.cfg.Store.ReleaseInstance(ctx, e.owner()); err != nil {
		return fmt.Errorf("engine: release the runs of instance %s: %w", e.owner(), err)
	}
	e.log.Info("engine: runs released for other instances to take over", "instance", e.owner())
	return nil
}
