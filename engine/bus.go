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
	runID   string
	bus     *bus
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

// bus is the in-process event bus. Publishing never blocks and costs the
// writer only an append: one goroutine of its own fans the events out to the
// subscribers, so subscribers never slow the commits.
type bus struct {
	mu    sync.Mutex
	byRun map[string]map[*Subscription]struct{} // "" = every run
	count atomic.Int64

	qmu    sync.Mutex
	queue  [][]models.Event
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
		q := b.queue
		b.queue = nil
		closed := b.closed
		b.qmu.Unlock()
		if len(q) == 0 {
			if closed {
				return
			}
			<-b.signal
			continue
		}
		for _, evs := range q {
			b.deliver(evs)
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
	b.mu.Lock()
	m := b.byRun[runID]
	if m == nil {
		m = map[*Subscription]struct{}{}
		b.byRun[runID] = m
	}
	m[s] = struct{}{}
	b.count.Add(1)
	b.mu.Unlock()
	return s
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
	close(s.ch)
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

// deliver sends events to their subscribers, dropping any that is full.
func (b *bus) deliver(events []models.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ev := range events {
		for _, key := range [2]string{ev.RunID, ""} {
			for s := range b.byRun[key] {
				select {
				case s.ch <- ev:
				default:
					b.removeLocked(s, true)
				}
			}
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
