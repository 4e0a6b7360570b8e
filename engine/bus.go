package engine

import (
	"sync"
	"sync/atomic"

	"github.com/baton-run/baton/models"
)

// Subscription receives events published on the bus. C is closed when the
// subscription ends: by Close, or because the subscriber fell behind (a slow
// subscriber is dropped, never waited for; Dropped then reports true and the
// subscriber can catch up from the store with Engine.Events).
type Subscription struct {
	C       <-chan models.Event
	ch      chan models.Event
	batches chan []models.Event // set instead of ch for a BatchSubscription
	runID   string
	bus     *bus
	local   bool // only events of runs executing in this process
	dropped bool
	closed  bool
}

// Close ends the subscription. It is safe to call more than once.
func (s *Subscription) Close() { s.bus.remove(s, false) }

// Dropped reports whether the bus ended the subscription because it fell
// behind.
func (s *Subscription) Dropped() bool {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	return s.dropped
}

// BatchSubscription receives events in batches: each value on C is the
// events of one or more commits, in order. The slices are shared by every
// subscriber and must not be modified. Delivering a batch costs one channel
// send per subscriber however many events it holds, so a subscriber to every
// run costs the engine little even under heavy load. C is closed as for a
// Subscription; the buffer counts batches.
type BatchSubscription struct {
	C <-chan []models.Event
	s *Subscription
}

// Close ends the subscription. It is safe to call more than once.
func (b *BatchSubscription) Close() { b.s.Close() }

// Dropped reports whether the bus ended the subscription because it fell
// behind.
func (b *BatchSubscription) Dropped() bool { return b.s.Dropped() }

// bus is the in-process event bus. Publishing never blocks and costs the
// writer only an append: one goroutine of its own fans the events out to the
// subscribers, so subscribers never slow the commits.
type bus struct {
	mu    sync.Mutex
	byRun map[string]map[*Subscription]struct{} // "" = every run
	count atomic.Int64

	qmu   sync.Mutex
	queue [][]models.Event
	// rqueue holds events of runs executing on another instance, read
	// from the store (see Engine.onClusterEvents).
	rqueue [][]models.Event
	closed bool
	signal chan struct{}
	done   chan struct{}
}

func newBus() *bus {
	return &bus{byRun: map[string]map[*Subscription]struct{}{}, signal: make(chan struct{}, 1), done: make(chan struct{})}
}

// loop delivers queued events until stop.
func (b *bus) loop() {
	defer close(b.done)
	for {
		b.qmu.Lock()
		q, rq := b.queue, b.rqueue
		b.queue, b.rqueue = nil, nil
		closed := b.closed
		b.qmu.Unlock()
		if len(q) == 0 && len(rq) == 0 {
			if closed {
				return
			}
			<-b.signal
			continue
		}
		if len(q) > 0 {
			b.deliver(q, false)
		}
		if len(rq) > 0 {
			b.deliver(rq, true)
		}
	}
}

// stop delivers what is queued and ends loop.
func (b *bus) stop() {
	b.qmu.Lock()
	b.closed = true
	b.qmu.Unlock()
	select {
	case b.signal <- struct{}{}:
	default:
	}
	<-b.done
}

func (b *bus) subscribe(runID string, buffer int) *Subscription {
	if buffer <= 0 {
		buffer = 256
	}
	ch := make(chan models.Event, buffer)
	s := &Subscription{C: ch, ch: ch, runID: runID, bus: b}
	b.add(s)
	return s
}

func (b *bus) subscribeBatches(runID string, buffer int, local bool) *BatchSubscription {
	if buffer <= 0 {
		buffer = 256
	}
	ch := make(chan []models.Event, buffer)
	s := &Subscription{batches: ch, runID: runID, bus: b, local: local}
	b.add(s)
	return &BatchSubscription{C: ch, s: s}
}

func (b *bus) add(s *Subscription) {
	b.mu.Lock()
	m := b.byRun[s.runID]
	if m == nil {
		m = map[*Subscription]struct{}{}
		b.byRun[s.runID] = m
	}
	m[s] = struct{}{}
	b.count.Add(1)
	b.mu.Unlock()
}

func (b *bus) remove(s *Subscription, dropped bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.removeLocked(s, dropped)
}

func (b *bus) removeLocked(s *Subscription, dropped bool) {
	if s.closed {
		return
	}
	s.closed = true
	s.dropped = dropped
	m := b.byRun[s.runID]
	delete(m, s)
	if len(m) == 0 {
		delete(b.byRun, s.runID)
	}
	b.count.Add(-1)
	if s.batches != nil {
		close(s.batches)
	} else {
		close(s.ch)
	}
}

// publish queues events for the run's subscribers and those of every run.
func (b *bus) publish(events []models.Event) {
	if len(events) == 0 || b.count.Load() == 0 {
		return
	}
	b.qmu.Lock()
	b.queue = append(b.queue, events)
	b.qmu.Unlock()
	select {
	case b.signal <- struct{}{}:
	default:
	}
}

// publishRemote queues events of a run executing on another instance, for
// the subscribers that follow every instance's runs.
func (b *bus) publishRemote(events []models.Event) {
	if len(events) == 0 {
		return
	}
	b.qmu.Lock()
	b.rqueue = append(b.rqueue, events)
	b.qmu.Unlock()
	select {
	case b.signal <- struct{}{}:
	default:
	}
}

// wantsRemote reports whether a subscriber would receive the events of run
// runID executing on another instance: one that follows it, or every run
// without asking for local runs only.
func (b *bus) wantsRemote(runID string) bool {
	if b.count.Load() == 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.byRun[runID]) > 0 {
		return true
	}
	for s := range b.byRun[""] {
		if !s.local {
			return true
		}
	}
	return false
}

// deliver sends queued events to their subscribers, dropping any that is
// full. Each element of q is one run's events from one commit. Subscribers
// to every run get all of q as one batch (one send each); per-event
// subscribers get one send per event, which is their own cost.
func (b *bus) deliver(q [][]models.Event, remote bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if all := b.byRun[""]; len(all) > 0 {
		var batch []models.Event
		if len(q) == 1 {
			batch = q[0]
		} else {
			n := 0
			for _, evs := range q {
				n += len(evs)
			}
			batch = make([]models.Event, 0, n)
			for _, evs := range q {
				batch = append(batch, evs...)
			}
		}
		for s := range all {
			if remote && s.local {
				continue
			}
			b.send(s, batch)
		}
	}
	for _, evs := range q {
		// A commit's events are normally one run's; split them by run
		// anyway so that no subscriber sees another run's event.
		for len(evs) > 0 {
			n := 1
			for n < len(evs) && evs[n].RunID == evs[0].RunID {
				n++
			}
			for s := range b.byRun[evs[0].RunID] {
				if remote && s.local {
					continue
				}
				b.send(s, evs[:n:n])
			}
			evs = evs[n:]
		}
	}
}

// send hands events to one subscriber without blocking.
func (b *bus) send(s *Subscription, evs []models.Event) {
	if s.batches != nil {
		select {
		case s.batches <- evs:
		default:
			b.removeLocked(s, true)
		}
		return
	}
	for _, ev := range evs {
		select {
		case s.ch <- ev:
		default:
			b.removeLocked(s, true)
			return
		}
	}
}

func (b *bus) closeAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.byRun {
		for s := range m {
			b.removeLocked(s, false)
		}
	}
}
