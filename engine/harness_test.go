package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/engine/actions"
	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/baton-run/baton/models/store/storetest"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// gauge reads one metric's value (a counter or a gauge) from reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// database/sql and pgx keep no goroutine after Close; these are the
		// HTTP client's idle connections, closed lazily by the transport.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		// gorm's LRU (its prepared-statement and lookup caches) starts a
		// goroutine that it never stops ("done channel is never closed",
		// says gorm's own comment), so it outlives store.Close in the
		// store-backed tests. It is gorm's, not a leak of the engine.
		goleak.IgnoreAnyFunction("gorm.io/gorm/internal/lru.NewLRU[...].func1"),
		// database/sql closes a DB's opener goroutine asynchronously.
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"),
	)
}

// forEachDB runs f on SQLite and, when configured, PostgreSQL.
func forEachDB(t *testing.T, f func(t *testing.T, open func(testing.TB) *store.Store)) {
	t.Helper()
	for _, db := range storetest.Databases(t) {
		t.Run(db.Name, func(t *testing.T) { f(t, db.Open) })
	}
}

// server is a scripted HTTP service for the http action: it counts hits per
// path and per idempotency key.
type server struct {
	*httptest.Server
	mu       sync.Mutex
	hits     map[string]int
	keys     map[string]map[string]int
	order    []string
	inFlight atomic.Int32
	maxIn    atomic.Int32
	release  chan struct{}
}

func newServer(t *testing.T) *server {
	s := &server{hits: map[string]int{}, keys: map[string]map[string]int{}, release: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.Close()
	})
	return s
}

func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		m := s.maxIn.Load()
		if n <= m || s.maxIn.CompareAndSwap(m, n) {
			break
		}
	}
	path := r.URL.Path
	key := r.Header.Get("Idempotency-Key")
	s.mu.Lock()
	s.hits[path]++
	if s.keys[path] == nil {
		s.keys[path] = map[string]int{}
	}
	s.keys[path][key]++
	perKey := s.keys[path][key]
	s.order = append(s.order, path)
	s.mu.Unlock()
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch parts[0] {
	case "ok":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path":%q,"n":%d}`, path, perKey)
	case "status":
		code, _ := strconv.Atoi(parts[1])
		w.WriteHeader(code)
	case "flaky": // /flaky/N/name fails with 503 the first N times per key
		n, _ := strconv.Atoi(parts[1])
		if perKey <= n {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"attempt":%d}`, perKey)
	case "slow": // /slow/ms
		ms, _ := strconv.Atoi(parts[1])
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			fmt.Fprint(w, "done")
		case <-r.Context().Done():
		}
	case "block": // waits for release
		select {
		case <-s.release:
			fmt.Fprint(w, "released")
		case <-r.Context().Done():
		}
	case "echo":
		w.Header().Set("Content-Type", "application/json")
		var body any
		_ = json.NewDecoder(r.Body).Decode(&body)
		_ = json.NewEncoder(w).Encode(map[string]any{"body": body, "query": r.URL.Query().Encode(), "method": r.Method,
			"key": key, "header": r.Header.Get("X-Test")})
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (s *server) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

func (s *server) paths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.order...)
}

// harness is an engine on a real store.
type harness struct {
	t     *testing.T
	st    *store.Store
	eng   *engine.Engine
	clock *clockwork.FakeClock
	cfg   engine.Config
}

type option func(*engine.Config)

func withFakeClock(c *clockwork.FakeClock) option {
	return func(cfg *engine.Config) { cfg.Clock = c }
}

func newHarness(t *testing.T, open func(testing.TB) *store.Store, opts ...option) *harness {
	t.Helper()
	h := &harness{t: t, st: open(t)}
	for _, o := range opts {
		o(&h.cfg)
	}
	if fc, ok := h.cfg.Clock.(*clockwork.FakeClock); ok {
		h.clock = fc
	}
	h.cfg.Rand = func() float64 { return 0.5 } // no jitter: exact backoffs
	h.start()
	return h
}

func (h *harness) start() {
	h.t.Helper()
	// The actions log where the engine does (nowhere unless a test sets
	// cfg.Logger to see what reaches the server's log).
	h.eng = engine.New(h.st, engine.NewRegistry(actions.Builtins(h.cfg.Logger)...), h.cfg)
	if err := h.eng.Start(context.Background()); err != nil {
		h.t.Fatalf("Start: %v", err)
	}
	eng := h.eng
	h.t.Cleanup(func() { h.stopEngine(eng) })
}

func (h *harness) stopEngine(eng *engine.Engine) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := eng.Stop(ctx); err != nil {
		h.t.Errorf("Stop: %v", err)
	}
}

// restart stops the engine and starts a new one on the same store, as after
// a crash that lost nothing committed.
func (h *harness) restart() {
	h.t.Helper()
	h.stopEngine(h.eng)
	h.start()
}

func compile(t testing.TB, src string) *plan.Plan {
	t.Helper()
	def, err := plan.Parse([]byte(src), plan.FormatYAML)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	p, err := plan.Compile(def)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return p
}

func (h *harness) startRun(src string, inputs map[string]any) models.Run {
	h.t.Helper()
	run, err := h.eng.StartRun(context.Background(), compile(h.t, src), engine.RunOptions{Inputs: inputs, Trigger: models.TriggerAPI})
	if err != nil {
		h.t.Fatalf("StartRun: %v", err)
	}
	return run
}

func (h *harness) wait(id string) models.Run {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	run, err := h.eng.Wait(ctx, id)
	if err != nil {
		h.t.Fatalf("Wait(%s): %v; run so far: %s", id, err, dump(run))
	}
	return run
}

func (h *harness) run(src string, inputs map[string]any) models.Run {
	h.t.Helper()
	return h.wait(h.startRun(src, inputs).ID)
}

// waitFor waits until the run has an event matching match.
func (h *harness) waitFor(id string, match func(models.Event) bool) models.Event {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		evs, err := h.eng.Events(context.Background(), id, 0, 0)
		if err != nil {
			h.t.Fatalf("Events: %v", err)
		}
		for _, ev := range evs {
			if match(ev) {
				return ev
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	run, _ := h.eng.Run(context.Background(), id)
	h.t.Fatalf("no matching event in run %s: %s", id, dump(run))
	return models.Event{}
}

func stepEvent(typ, step string) func(models.Event) bool {
	return func(ev models.Event) bool { return ev.Type == typ && ev.StepID == step }
}

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func step(t *testing.T, run models.Run, id string) models.StepState {
	t.Helper()
	for _, s := range run.Steps {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("run has no step %q: %s", id, dump(run))
	return models.StepState{}
}

func reason(s models.StepState) string {
	if s.Reason == nil {
		return ""
	}
	return *s.Reason
}

// expectSteps checks each named step's status, and reason when given as
// "status/reason".
func expectSteps(t *testing.T, run models.Run, want map[string]string) {
	t.Helper()
	for id, w := range want {
		s := step(t, run, id)
		status, rsn, _ := strings.Cut(w, "/")
		if string(s.Status) != status || (rsn != "" && reason(s) != rsn) {
			t.Errorf("step %s = %s/%s; want %s\nrun: %s", id, s.Status, reason(s), w, dump(run))
		}
	}
}
