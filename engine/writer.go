package engine

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/baton-run/baton/models"
)

// writeReq is one run's changes and what to do once they are durable.
type writeReq struct {
	w    models.RunWrites
	done func(err error)
}

// writer is the one goroutine that writes runs' changes: it takes every
// request waiting in its queue, applies them in one transaction (group
// commit), then calls the requests' done callbacks in order. Under load, the
// more runs wait, the larger the batch and the fewer commits per step.
//
// The callbacks run on the writer goroutine: they are short (they decide
// what happens next and start actions on other goroutines), and a run's
// next write is then queued without any goroutine hand-off, which is most
// of the latency of a chain of cheap steps. submit never blocks (the queue
// is a slice), so a callback may submit again; a callback must never wait
// for a commit.
type writer struct {
	store    Store
	maxBatch int
	log      *slog.Logger
	metrics  *Metrics

	mu     sync.Mutex
	queue  []writeReq
	closed bool
	signal chan struct{}

	lastErr atomic.Pointer[error]

	// committed, when set, is given the events of each batch once they
	// are committed (before the callbacks), to announce them to the other
	// instances: one call per batch, however many runs it holds.
	committed func([]models.Event)

	done chan struct{}
}

func newWriter(s Store, maxBatch int, log *slog.Logger, m *Metrics) *writer {
	return &writer{
		store: s, maxBatch: maxBatch, log: log, metrics: m,
		signal: make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
}

// submit queues w; done runs after the commit, on the dispatch goroutine,
// in submission order.
func (wr *writer) submit(w models.RunWrites, done func(error)) {
	wr.mu.Lock()
	wr.queue = append(wr.queue, writeReq{w: w, done: done})
	wr.mu.Unlock()
	select {
	case wr.signal <- struct{}{}:
	default:
	}
}

// barrier returns once every request queued before it has been committed
// (or has failed), or when ctx ends. It must not be called from a done
// callback (it waits for the writer goroutine).
func (wr *writer) barrier(ctx context.Context) error {
	done := make(chan struct{})
	wr.submit(models.RunWrites{}, func(error) { close(done) })
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// depth is the number of requests waiting for a commit.
func (wr *writer) depth() int {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	return len(wr.queue)
}

// close makes loop return once the queue is empty.
func (wr *writer) close() {
	wr.mu.Lock()
	wr.closed = true
	wr.mu.Unlock()
	select {
	case wr.signal <- struct{}{}:
	default:
	}
}

// start runs the writer goroutine; wait returns when it has ended after
// close.
func (wr *writer) start() {
	go wr.loop()
}

func (wr *writer) wait() { <-wr.done }

func (wr *writer) loop() {
	defer close(wr.done)
	for {
		wr.mu.Lock()
		n := min(len(wr.queue), wr.maxBatch)
		batch := make([]writeReq, n)
		copy(batch, wr.queue[:n])
		// Shift rather than reslice so the queue's array does not grow
		// without bound.
		rest := copy(wr.queue, wr.queue[n:])
		clear(wr.queue[rest:])
		wr.queue = wr.queue[:rest]
		closed := wr.closed
		wr.mu.Unlock()
		if n == 0 {
			if closed {
				return
			}
			<-wr.signal
			continue
		}
		wr.flush(batch)
	}
}

// apply tries a commit a few times: a busy database or a dropped
// connection must not lose a run's progress. It returns the last error when
// every try failed; the caller then suspends the runs concerned (see
// Engine.suspend) rather than let them go on ahead of the store.
func (wr *writer) apply(w *models.RunWrites, tries int) error {
	var err error
	for try := 0; try < tries; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		start := time.Now()
		err = wr.store.ApplyRunWrites(ctx, w)
		cancel()
		if err == nil {
			wr.metrics.committed(time.Since(start))
			wr.lastErr.Store(nil)
			return nil
		}
		var fenced *models.FencedError
		if errors.As(err, &fenced) {
			// Not a failure of the store: another instance owns some of
			// the batch's runs now (see commit).
			return err
		}
		wr.log.Error("engine: writing run changes failed", "error", err, "try", try+1)
		if try+1 < tries {
			time.Sleep(time.Duration(20<<try) * time.Millisecond)
		}
	}
	wr.lastErr.Store(&err)
	wr.metrics.commitFailed()
	return err
}

// err returns the error of the last commit when it failed, nil after a
// commit that succeeded.
func (wr *writer) err() error {
	if p := wr.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

func (wr *writer) flush(batch []writeReq) {
	errs := make([]error, len(batch))
	owner := batch[0].w.Owner
	mixed := false
	for i := range batch {
		if batch[i].w.Owner != owner && !batch[i].w.Empty() {
			mixed = true
			break
		}
	}
	if !mixed {
		wr.commit(batch, errs)
	} else {
		// Runs of two instance ids: only just after this process lost its
		// lease and registered again (see Engine.loseLease). Each owner's
		// requests commit in a transaction of their own, in order.
		var owners []string
		for i := range batch {
			if !slices.Contains(owners, batch[i].w.Owner) {
				owners = append(owners, batch[i].w.Owner)
			}
		}
		for _, o := range owners {
			var idx []int
			var sub []writeReq
			for i := range batch {
				if batch[i].w.Owner == o {
					idx = append(idx, i)
					sub = append(sub, batch[i])
				}
			}
			subErrs := make([]error, len(sub))
			wr.commit(sub, subErrs)
			for j, i := range idx {
				errs[i] = subErrs[j]
			}
		}
	}
	wr.metrics.batch(len(batch))
	if wr.committed != nil {
		// The events of the requests committed (not those fenced or failed).
		var evs []models.Event
		for i := range batch {
			if errs[i] == nil {
				evs = append(evs, batch[i].w.Events...)
			}
		}
		if len(evs) > 0 {
			wr.committed(evs)
		}
	}
	for i, r := range batch {
		if r.done != nil {
			r.done(errs[i])
		}
	}
}

// commit applies the requests of batch (all of one owner) in one
// transaction, and sets errs[i] for those that could not be committed. A
// fenced commit (runs another instance took over) is tried again without
// the requests of the lost runs, which get the *models.FencedError.
func (wr *writer) commit(batch []writeReq, errs []error) {
	lost := map[string]bool{}
	for round := 0; ; round++ {
		var live []writeReq
		var idx []int
		for i := range batch {
			if errs[i] == nil {
				live = append(live, batch[i])
				idx = append(idx, i)
			}
		}
		all := merge(live)
		if all.Empty() {
			return
		}
		err := wr.apply(&all, 3)
		if err == nil {
			return
		}
		var fenced *models.FencedError
		if errors.As(err, &fenced) && round < 8 {
			for _, id := range fenced.RunIDs {
				lost[id] = true
			}
			hit := false
			for j, i := range idx {
				if touches(&live[j].w, lost) {
					errs[i] = err
					hit = true
				}
			}
			if hit {
				continue
			}
		}
		if len(live) == 1 {
			errs[idx[0]] = err
			return
		}
		// One request may poison the batch (it should not happen: every
		// write is an upsert or a fresh key); apply them one by one so the
		// others still commit.
		for j, i := range idx {
			one := merge(live[j : j+1])
			if !one.Empty() {
				errs[i] = wr.apply(&one, 2)
			}
		}
		return
	}
}

// merge gathers the changes of requests into one batch.
func merge(batch []writeReq) models.RunWrites {
	var all models.RunWrites
	for i := range batch {
		w := &batch[i].w
		if w.Owner != "" {
			all.Owner = w.Owner
		}
		all.Runs = append(all.Runs, w.Runs...)
		all.StepRuns = append(all.StepRuns, w.StepRuns...)
		all.Events = append(all.Events, w.Events...)
		all.Signals = append(all.Signals, w.Signals...)
		all.DeleteSignals = append(all.DeleteSignals, w.DeleteSignals...)
	}
	mergeTimers(&all, batch)
	compact(&all)
	return all
}

// touches reports whether w writes one of the runs.
func touches(w *models.RunWrites, runs map[string]bool) bool {
	for i := range w.Runs {
		if runs[w.Runs[i].ID] {
			return true
		}
	}
	for i := range w.StepRuns {
		if runs[w.StepRuns[i].RunID] {
			return true
		}
	}
	for i := range w.Events {
		if runs[w.Events[i].RunID] {
			return true
		}
	}
	for _, ts := range [][]models.RunTimer{w.Timers, w.DeleteTimers} {
		for i := range ts {
			if runs[ts[i].RunID] {
				return true
			}
		}
	}
	for _, ss := range [][]models.RunSignal{w.Signals, w.DeleteSignals} {
		for i := range ss {
			if runs[ss[i].RunID] {
				return true
			}
		}
	}
	return false
}

// compact keeps only the last version of each run and step-run row in a
// batch: a run changes several times in one batch under load, and only its
// latest state needs writing.
func compact(w *models.RunWrites) {
	if len(w.Runs) > 1 {
		seen := make(map[string]int, len(w.Runs))
		out := w.Runs[:0]
		for _, r := range w.Runs {
			if i, ok := seen[r.ID]; ok {
				// The batch may hold the row's first write: keep inserting
				// it whole.
				r.Stored = r.Stored && out[i].Stored
				out[i] = r
				continue
			}
			seen[r.ID] = len(out)
			out = append(out, r)
		}
		w.Runs = out
	}
	if len(w.StepRuns) > 1 {
		type key struct {
			run, step string
			item      int
			comp      bool
			attempt   int
		}
		seen := make(map[key]int, len(w.StepRuns))
		out := w.StepRuns[:0]
		for _, r := range w.StepRuns {
			k := key{r.RunID, r.StepID, r.Item, r.Compensation, r.Attempt}
			if i, ok := seen[k]; ok {
				out[i] = r
				continue
			}
			seen[k] = len(out)
			out = append(out, r)
		}
		w.StepRuns = out
	}
}

// mergeTimers adds the batch's timer changes to all, request by request, so
// that the last change to each timer wins: the store applies deletions and
// upserts of distinct timers in any order.
func mergeTimers(all *models.RunWrites, batch []writeReq) {
	type key struct{ run, step, kind string }
	type change struct {
		t   models.RunTimer
		set bool
	}
	var order []key
	last := map[key]change{}
	for i := range batch {
		for _, t := range batch[i].w.DeleteTimers {
			k := key{t.RunID, t.StepID, t.Kind}
			if _, ok := last[k]; !ok {
				order = append(order, k)
			}
			last[k] = change{t: t}
		}
		for _, t := range batch[i].w.Timers {
			k := key{t.RunID, t.StepID, t.Kind}
			if _, ok := last[k]; !ok {
				order = append(order, k)
			}
			last[k] = change{t: t, set: true}
		}
	}
	for _, k := range order {
		c := last[k]
		if c.set {
			all.Timers = append(all.Timers, c.t)
		} else {
			all.DeleteTimers = append(all.DeleteTimers, c.t)
		}
	}
}
