package handlers

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/models"
)

func (s *server) eventRoutes() []route {
	return []route{
		{fiber.MethodGet, "/api/v1/runs/:id/events", models.RoleViewer, s.runEvents},
		{fiber.MethodGet, "/api/v1/events", models.RoleViewer, s.allEvents},
	}
}

// subscriberBuffer is how many events a stream may fall behind before the
// bus drops it; the stream then catches up from the store.
const subscriberBuffer = 1024

// batchBuffer is how many batches (commits) the all-runs stream may fall
// behind before the bus drops it and the page is told to resync.
const batchBuffer = 256

// replayPage bounds one read of stored events.
const replayPage = 1000

// setSSEHeaders prepares a text/event-stream answer that no proxy buffers.
func setSSEHeaders(c *fiber.Ctx) {
	c.Set(fiber.HeaderContentType, "text/event-stream; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderConnection, "keep-alive")
	c.Set("X-Accel-Buffering", "no")
}

// lastEventID reads where a client resumes: the Last-Event-ID header (sent
// by EventSource on reconnect), else ?after=; 0 replays everything.
func lastEventID(c *fiber.Ctx) (int64, error) {
	raw := c.Get("Last-Event-ID")
	if raw == "" {
		raw = c.Query("after")
	}
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
	if err != nil || n < 0 {
		return 0, models.Errorf(models.BadRequest, "Last-Event-ID must be an event sequence number, not %q", raw)
	}
	return n, nil
}

// writeEvent writes one SSE message; id is omitted when empty.
func writeEvent(w *bufio.Writer, id, typ string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	if id != "" {
		fmt.Fprintf(w, "id: %s\n", id)
	}
	fmt.Fprintf(w, "event: %s\ndata: %s\n\n", typ, b)
	return nil
}

// endEvent is the last message of a run's stream, sent after the run's
// final event (or at once when a client resumes a finished run). A client
// closes its EventSource when it arrives, before the server closes the
// connection: a browser reports a connection the server closed as an error
// (htmx's SSE extension logs it to the console) and then reconnects to a
// run that has nothing more to say.
const endEvent = "end"

// finalEvent reports whether ev ends its run (run.succeeded, run.failed…).
func finalEvent(ev models.Event) bool {
	return strings.HasPrefix(ev.Type, "run.") && models.RunStatus(ev.Status).Final()
}

// streamContext is the context event streams run under: the request
// context ends when the handler returns, before the body is streamed.
func (s *server) streamContext() context.Context {
	if s.deps.Streams != nil {
		return s.deps.Streams
	}
	return s.deps.BaseContext
}

// runEvents is GET /api/v1/runs/{id}/events: every stored event after
// Last-Event-ID, then live ones, then an "end" event after the run's final
// one, and the stream closes.
func (s *server) runEvents(c *fiber.Ctx) error {
	rs, err := s.runs()
	if err != nil {
		return err
	}
	id := c.Params("id")
	after, err := lastEventID(c)
	if err != nil {
		return err
	}
	if _, err := rs.Run(c.UserContext(), id); err != nil {
		return err
	}
	release, err := s.streams.acquire(principalOf(c).user.ID)
	if err != nil {
		return err
	}
	// Subscribe before replaying, so nothing committed in between is lost;
	// duplicates are skipped by sequence number.
	events, dropped, stop := rs.Subscribe(id, subscriberBuffer)
	setSSEHeaders(c)
	ctx, log := s.streamContext(), s.logOf(c)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		st := &runStream{rs: rs, id: id, last: after, w: w, ctx: ctx}
		defer func() { stop(); release() }()
		// A first comment sends the headers at once, so the client knows
		// the stream is open even when no event is due yet.
		if _, err := w.WriteString(": connected\n\n"); err != nil {
			return
		}
		done, err := st.catchUp()
		if err != nil || done {
			st.finish(err, log)
			return
		}
		heartbeat := time.NewTicker(s.deps.HeartbeatInterval)
		defer heartbeat.Stop()
		probe := time.NewTicker(streamProbeInterval)
		defer probe.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-probe.C:
				if !probeStream(w) {
					return // the client went away
				}
			case <-heartbeat.C:
				if _, err := w.WriteString(": heartbeat\n\n"); err != nil || w.Flush() != nil {
					return // the client went away
				}
			case ev, ok := <-events:
				if !ok {
					if !dropped() {
						return // the engine is stopping
					}
					// Fell behind: subscribe again and catch up from the store.
					events, dropped, stop = rs.Subscribe(id, subscriberBuffer)
					done, err := st.catchUp()
					if err != nil || done {
						st.finish(err, log)
						return
					}
					continue
				}
				if ev.Type == models.EventStepProgress {
					// Not stored and without an id of its own: it follows
					// the stored event ev.Seq, so anything before that the
					// stream has not sent comes first.
					if ev.Seq > st.last {
						if done, err := st.catchUp(); err != nil || done {
							st.finish(err, log)
							return
						}
					}
					if writeEvent(w, "", ev.Type, ev) != nil || w.Flush() != nil {
						return
					}
					continue
				}
				if ev.Seq <= st.last {
					continue
				}
				if ev.Seq > st.last+1 {
					// A gap means events were committed before the
					// subscription saw them; the store has them.
					if done, err := st.catchUp(); err != nil || done {
						st.finish(err, log)
						return
					}
					continue
				}
				if err := st.send(ev); err != nil || w.Flush() != nil {
					return
				}
				if finalEvent(ev) {
					st.finish(nil, log)
					return
				}
			}
		}
	})
	return nil
}

// runStream is one client's position in a run's event stream.
type runStream struct {
	rs   Runs
	id   string
	last int64
	w    *bufio.Writer
	ctx  context.Context
}

func (st *runStream) send(ev models.Event) error {
	if err := writeEvent(st.w, strconv.FormatInt(ev.Seq, 10), ev.Type, ev); err != nil {
		return err
	}
	st.last = ev.Seq
	return nil
}

// catchUp sends the stored events after st.last and reports whether the
// stream is over: the run has finished and its final event was sent.
func (st *runStream) catchUp() (bool, error) {
	// The status is read before the events: when it is final, every event
	// up to the final one is committed, so the reads that follow hold them all.
	run, err := st.rs.Run(st.ctx, st.id)
	if err != nil {
		return true, err
	}
	finished := run.Status.Final()
	for {
		evs, err := st.rs.Events(st.ctx, st.id, st.last, replayPage)
		if err != nil {
			return true, err
		}
		for _, ev := range evs {
			if err := st.send(ev); err != nil {
				return true, err
			}
		}
		if err := st.w.Flush(); err != nil {
			return true, err
		}
		if len(evs) < replayPage {
			return finished, nil
		}
	}
}

// finish ends the stream: after a finished run with the end event, after
// a failure with a debug line (a client that left is not news).
func (st *runStream) finish(err error, log interface {
	Debug(string, ...any)
}) {
	if err == nil {
		err = writeEvent(st.w, "", endEvent, map[string]any{"runId": st.id, "lastSeq": st.last})
	}
	if err == nil {
		err = st.w.Flush()
	}
	if err != nil {
		log.Debug("event stream ended", "run", st.id, "err", err)
	}
}

// allEvents is GET /api/v1/events: the live events of every run, for list
// pages. It never replays; when the stream falls behind it sends a
// "resync" event so the page reloads its list. It follows the engine in
// batches (one per commit or more) and flushes once per batch: with many
// list pages open, a per-event subscription costs each of them a channel
// send and a wake-up per event, which slowed every run (docs/performance.md).
func (s *server) allEvents(c *fiber.Ctx) error {
	rs, err := s.runs()
	if err != nil {
		return err
	}
	release, err := s.streams.acquire(principalOf(c).user.ID)
	if err != nil {
		return err
	}
	batches, dropped, stop := rs.SubscribeBatches("", batchBuffer)
	setSSEHeaders(c)
	ctx := s.streamContext()
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer func() { stop(); release() }()
		// A first comment tells the client the stream is open.
		if _, err := w.WriteString(": connected\n\n"); err != nil || w.Flush() != nil {
			return
		}
		heartbeat := time.NewTicker(s.deps.HeartbeatInterval)
		defer heartbeat.Stop()
		probe := time.NewTicker(streamProbeInterval)
		defer probe.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-probe.C:
				if !probeStream(w) {
					return
				}
			case <-heartbeat.C:
				if _, err := w.WriteString(": heartbeat\n\n"); err != nil || w.Flush() != nil {
					return
				}
			case batch, ok := <-batches:
				if !ok {
					if !dropped() {
						return
					}
					batches, dropped, stop = rs.SubscribeBatches("", batchBuffer)
					if writeEvent(w, "", "resync", map[string]string{"reason": "fell behind"}) != nil || w.Flush() != nil {
						return
					}
					continue
				}
				for _, ev := range batch {
					if writeEvent(w, "", ev.Type, ev) != nil {
						return
					}
				}
				if w.Flush() != nil {
					return
				}
			}
		}
	})
	return nil
}

// streamProbeInterval is how often an idle stream checks that its client
// is still there. The server learns of a closed connection only by writing
// to it (the first write after the close is answered with a reset, the
// next one fails), so a stream writes one byte-cheap comment line this
// often: a page closed without a goodbye frees its slot (of
// MaxStreamsPerUser) and its subscription within two probes, not at the
// next heartbeat.
var streamProbeInterval = time.Second

// probeStream writes an empty SSE comment line (":"), which clients
// ignore, and reports whether the connection took it.
func probeStream(w *bufio.Writer) bool {
	if _, err := w.WriteString(":\n"); err != nil {
		return false
	}
	return w.Flush() == nil
}

// DefaultMaxStreamsPerUser caps the event streams one user may hold open.
const DefaultMaxStreamsPerUser = 32

// streamCounter counts each user's open event streams, so one account (or
// one stolen token) cannot hold thousands of goroutines and subscriptions.
type streamCounter struct {
	mu   sync.Mutex
	max  int
	open map[int64]int
}

// acquire takes one of user's stream slots, or answers 429 when all are
// open; release gives it back (once, when the stream ends).
func (sc *streamCounter) acquire(user int64) (release func(), err error) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.open[user] >= sc.max {
		return nil, models.Errorf(models.RateLimited, "you have %d event streams open, the most one user may; close some pages and try again", sc.max)
	}
	sc.open[user]++
	var once sync.Once
	return func() {
		once.Do(func() {
			sc.mu.Lock()
			defer sc.mu.Unlock()
			if sc.open[user]--; sc.open[user] <= 0 {
				delete(sc.open, user)
			}
		})
	}, nil
}
