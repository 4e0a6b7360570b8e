package engine

import (
	"container/heap"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// timerKey names one timer: a run may have one timer of each kind per step.
type timerKey struct {
	runID, stepID, kind string
	item                int
}

type timerEntry struct {
	key   timerKey
	due   time.Time
	fire  func()
	index int
}

type timerHeap []*timerEntry

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i]; h[i].index = i; h[j].index = j }
func (h *timerHeap) Push(x any)        { e := x.(*timerEntry); e.index = len(*h); *h = append(*h, e) }
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	e.index = -1
	return e
}

// timers runs every timer of every run from one goroutine and one heap, so a
// hundred thousand parked runs cost memory, not goroutines or CPU.
type timers struct {
	clock clockwork.Clock
	mu    sync.Mutex
	heap  timerHeap
	byKey map[timerKey]*timerEntry
	wake  chan struct{}
}

func newTimers(c clockwork.Clock) *timers {
	return &timers{clock: c, byKey: map[timerKey]*timerEntry{}, wake: make(chan struct{}, 1)}
}

// set arms (or re-arms) the timer k to call fire at due. fire runs on the
// timer goroutine and must not block for long.
func (t *timers) set(k timerKey, due time.Time, fire func()) {
	t.mu.Lock()
	if e, ok := t.byKey[k]; ok {
		e.due, e.fire = due, fire
		heap.Fix(&t.heap, e.index)
	} else {
		e := &timerEntry{key: k, due: due, fire: fire}
		heap.Push(&t.heap, e)
		t.byKey[k] = e
	}
	t.mu.Unlock()
	t.poke()
}

// cancel disarms the timer k, if armed.
func (t *timers) cancel(k timerKey) {
	t.mu.Lock()
	if e, ok := t.byKey[k]; ok {
		heap.Remove(&t.heap, e.index)
		delete(t.byKey, k)
	}
	t.mu.Unlock()
}

func (t *timers) poke() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// loop fires due timers until done is closed.
func (t *timers) loop(done <-chan struct{}) {
	for {
		t.mu.Lock()
		now := t.clock.Now()
		var due []func()
		for len(t.heap) > 0 && !t.heap[0].due.After(now) {
			e := heap.Pop(&t.heap).(*timerEntry)
			delete(t.byKey, e.key)
			due = append(due, e.fire)
		}
		var wait <-chan time.Time
		stop := func() {}
		if len(t.heap) > 0 {
			tm := t.clock.NewTimer(t.heap[0].due.Sub(now))
			wait, stop = tm.Chan(), func() { tm.Stop() }
		}
		t.mu.Unlock()
		for _, f := range due {
			f()
		}
		if len(due) > 0 {
			stop()
			continue
		}
		select {
		case <-done:
			stop()
			return
		case <-t.wake:
		case <-wait:
		}
		stop()
	}
}
