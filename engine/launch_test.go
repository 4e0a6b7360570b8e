package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/engine/actions"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/baton-run/baton/models/store/storetest"
)

// launchEnv is a store, an engine and a launcher wired as `baton serve` does.
type launchEnv struct {
	st  *store.Store
	eng *engine.Engine
	l   *engine.Launcher
}

func newLaunchEnv(t *testing.T, open func(testing.TB) *store.Store, cfg engine.LauncherConfig) *launchEnv {
	t.Helper()
	st := open(t)
	log := slog.New(slog.DiscardHandler)
	l := engine.NewLauncher(nil, st, cfg)
	eng := engine.New(st, engine.NewRegistry(actions.Builtins(log)...), engine.Config{Logger: log, Subworkflows: l})
	l.SetEngine(eng)
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = eng.Stop(ctx)
	})
	return &launchEnv{st: st, eng: eng, l: l}
}

// template stores src as a new template, approved when approve is set.
func (e *launchEnv) template(t *testing.T, src string, approve bool) string {
	t.Helper()
	def, err := engine.Parse([]byte(src), engine.FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := e.st.CreateTemplate(ctx, def, "dana"); err != nil {
		t.Fatal(err)
	}
	if approve {
		e.approve(t, def.ID, 1)
	}
	return def.ID
}

func (e *launchEnv) approve(t *testing.T, key string, n int) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.st.SubmitVersion(ctx, key, n, "dana"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.ApproveVersion(ctx, key, n, "ann", ""); err != nil {
		t.Fatal(err)
	}
}

const (
	launchGreet = `{"id":"greet","name":"Greet","inputs":{"who":{"type":"string","required":true}},
 "steps":[{"id":"hello","type":"command","action":{"kind":"set","values":{"msg":"hi {{ inputs.who }}"}}}],
 "outputs":{"msg":"{{ steps.hello.output.msg }}"}}`
	launchGate   = `{"id":"gate","name":"Gate","steps":[{"id":"wait_go","type":"wait","action":{"signal":"go","timeout":"1h"}}]}`
	launchParent = `{"id":"parent","name":"Parent","steps":[{"id":"child","type":"command",
 "action":{"kind":"subworkflow","template":"greet","inputs":{"who":"child"}}}],"outputs":{"msg":"{{ steps.child.output.msg }}"}}`
)

func wantCode(t *testing.T, err error, code models.Code) {
	t.Helper()
	if !models.IsCode(err, code) {
		t.Fatalf("err = %v; want code %s", err, code)
	}
}

func TestLauncherRules(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		e := newLaunchEnv(t, open, engine.LauncherConfig{})
		ctx := context.Background()
		e.template(t, launchGreet, false)
		in := map[string]any{"who": "x"}

		_, err := e.l.Start(ctx, models.RunRequest{Template: "greet", Inputs: in, AllowApproved: true})
		wantCode(t, err, models.Conflict) // nothing approved yet
		_, err = e.l.Start(ctx, models.RunRequest{Template: "greet", Version: 1, Inputs: in, AllowApproved: true})
		wantCode(t, err, models.Forbidden) // a draft, and not a designer
		_, err = e.l.Start(ctx, models.RunRequest{Template: "nope", Inputs: in, AllowApproved: true})
		wantCode(t, err, models.NotFound)
		test, err := e.l.Start(ctx, models.RunRequest{Template: "greet", Version: 1, Inputs: in, AllowDraft: true, StartedBy: "dana", Trigger: models.TriggerAPI})
		if err != nil || !test.Test || test.Version != 1 || test.StartedBy != "dana" || test.Trigger != models.TriggerAPI {
			t.Fatalf("test run: %+v, %v", test, err)
		}
		if n := e.l.CachedPlans(); n != 0 {
			t.Fatalf("a draft's plan was cached (%d): it may still change", n)
		}

		e.approve(t, "greet", 1)
		_, err = e.l.Start(ctx, models.RunRequest{Template: "greet", Inputs: in, AllowDraft: true})
		wantCode(t, err, models.Forbidden) // approved needs the operator's permission
		_, err = e.l.Start(ctx, models.RunRequest{Template: "greet", Inputs: map[string]any{"whom": 1}, AllowApproved: true})
		wantCode(t, err, models.Invalid)
		if d := models.ErrorDetails(err); len(d) == 0 {
			t.Fatalf("invalid inputs without paths: %v", err)
		}
		for range 3 {
			run, err := e.l.Start(ctx, models.RunRequest{Template: "greet", Inputs: in, AllowApproved: true})
			if err != nil || run.Test || run.Version != 1 {
				t.Fatalf("production run: %+v, %v", run, err)
			}
			if run, err = e.l.Wait(ctx, run.ID); err != nil || run.Status != models.RunSucceeded || run.Outputs["msg"] != "hi x" {
				t.Fatalf("finished run: %+v, %v", run, err)
			}
		}
		if n := e.l.CachedPlans(); n != 1 {
			t.Fatalf("approved plan compiled into %d cache entries; want 1", n)
		}

		// Subworkflows resolve the latest approved version of the child.
		p, n, err := e.l.Resolve(ctx, "greet", 0)
		if err != nil || n != 1 || p == nil {
			t.Fatalf("Resolve: %v %d %v", p, n, err)
		}
		if _, err := e.st.SaveDraft(ctx, "greet", mustParse(t, launchGreet), "dana"); err != nil {
			t.Fatal(err)
		}
		_, _, err = e.l.Resolve(ctx, "greet", 2)
		wantCode(t, err, models.Conflict) // a draft is not for production
		e.template(t, launchParent, true)
		run, err := e.l.Start(ctx, models.RunRequest{Template: "parent", AllowApproved: true})
		if err != nil {
			t.Fatal(err)
		}
		if run, err = e.l.Wait(ctx, run.ID); err != nil || run.Status != models.RunSucceeded || run.Outputs["msg"] != "hi child" {
			t.Fatalf("parent run: %+v, %v", run, err)
		}

		// Approved versions are kept, but a newly approved one is used by
		// the very next start, and StartWait returns the finished run.
		e.approve(t, "greet", 2)
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		run, err = e.l.StartWait(ctx, models.RunRequest{Template: "greet", Inputs: in, AllowApproved: true}, wctx)
		if err != nil || run.Version != 2 || run.Status != models.RunSucceeded || run.Outputs["msg"] != "hi x" {
			t.Fatalf("StartWait after approving v2: %+v, %v", run, err)
		}
	})
}

func mustParse(t *testing.T, src string) models.Definition {
	t.Helper()
	def, err := engine.Parse([]byte(src), engine.FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	return def
}

func TestLauncherActiveLimitAndCacheBound(t *testing.T) {
	e := newLaunchEnv(t, storetest.OpenSQLite, engine.LauncherConfig{MaxActiveRuns: 2, CacheSize: 1})
	ctx := context.Background()
	e.template(t, launchGate, true)
	e.template(t, launchGreet, true)
	var ids []string
	for range 2 {
		run, err := e.l.Start(ctx, models.RunRequest{Template: "gate", AllowApproved: true})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, run.ID)
	}
	_, err := e.l.Start(ctx, models.RunRequest{Template: "gate", AllowApproved: true})
	wantCode(t, err, models.Conflict)
	// Another template has its own limit.
	if _, err := e.l.Start(ctx, models.RunRequest{Template: "greet", Inputs: map[string]any{"who": "y"}, AllowApproved: true}); err != nil {
		t.Fatal(err)
	}
	if n := e.l.CachedPlans(); n != 1 {
		t.Fatalf("cache holds %d plans; its bound is 1", n)
	}
	if err := e.l.Cancel(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := e.l.Wait(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := e.l.Start(ctx, models.RunRequest{Template: "gate", AllowApproved: true}); err != nil {
		t.Fatalf("after a cancel the limit has room: %v", err)
	}
	for _, id := range ids[1:] {
		_ = e.l.Cancel(ctx, id)
	}
}

func TestLauncherParseDefinition(t *testing.T) {
	l := engine.NewLauncher(nil, nil, engine.LauncherConfig{})
	def, err := l.ParseDefinition([]byte("id: y\nname: Y\nsteps:\n  - id: a\n    type: command\n    action: {kind: log, message: hi}\n"), "application/yaml")
	if err != nil || def.ID != "y" || len(def.Steps) != 1 {
		t.Fatalf("YAML: %+v, %v", def, err)
	}
	_, err = l.ParseDefinition([]byte(`{"id":"y","name":"Y","steps":[{"id":"a","type":"command","action":{"kind":"log","message":"hi"}, "dependencies":["nope"]}]}`), "application/json")
	wantCode(t, err, models.Invalid)
	_, err = l.ParseDefinition([]byte(`{"id":`), "application/json")
	wantCode(t, err, models.BadRequest)
}

// BenchmarkLauncherStart measures starting a run of an approved version
// (its plan cached after the first) and waiting for it, on SQLite.
func BenchmarkLauncherStart(b *testing.B) {
	st := storetest.OpenSQLite(b)
	log := slog.New(slog.DiscardHandler)
	l := engine.NewLauncher(nil, st, engine.LauncherConfig{})
	eng := engine.New(st, engine.NewRegistry(actions.Builtins(log)...), engine.Config{Logger: log, Subworkflows: l})
	l.SetEngine(eng)
	ctx := context.Background()
	if err := eng.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = eng.Stop(ctx) }()
	def, err := engine.Parse([]byte(launchGreet), engine.FormatJSON)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := st.CreateTemplate(ctx, def, "dana"); err != nil {
		b.Fatal(err)
	}
	if _, err := st.SubmitVersion(ctx, "greet", 1, "dana"); err != nil {
		b.Fatal(err)
	}
	if _, err := st.ApproveVersion(ctx, "greet", 1, "ann", ""); err != nil {
		b.Fatal(err)
	}
	in := map[string]any{"who": "bench"}
	b.ResetTimer()
	for b.Loop() {
		run, err := l.Start(ctx, models.RunRequest{Template: "greet", Inputs: in, AllowApproved: true})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := l.Wait(ctx, run.ID); err != nil {
			b.Fatal(err)
		}
	}
}

// logSink collects a log written from the engine's goroutines.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// lines returns the JSON log's lines with message msg.
func (l *logSink) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, raw := range bytes.Split(bytes.TrimSpace(l.buf.Bytes()), []byte("\n")) {
		var line map[string]any
		if err := json.Unmarshal(raw, &line); err != nil {
			t.Fatalf("log line is not JSON: %q", raw)
		}
		if line["msg"] == msg {
			out = append(out, line)
		}
	}
	return out
}

// The launcher logs each run it starts, and a start refused by the
// active-run limit, with the request id the context carries; work no
// request asked for (a schedule) is logged without one.
func TestLauncherLogsRequestID(t *testing.T) {
	sink := &logSink{}
	e := newLaunchEnv(t, storetest.OpenSQLite, engine.LauncherConfig{MaxActiveRuns: 1, Logger: slog.New(slog.NewJSONHandler(sink, nil))})
	e.template(t, launchGate, true)
	fromRequest := models.ContextWithRequestID(context.Background(), "req-1")
	run, err := e.l.Start(fromRequest, models.RunRequest{Template: "gate", AllowApproved: true, StartedBy: "otto", Trigger: models.TriggerAPI})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.l.Start(models.ContextWithRequestID(context.Background(), "req-2"), models.RunRequest{Template: "gate", AllowApproved: true})
	wantCode(t, err, models.Conflict)
	if err := e.l.Cancel(context.Background(), run.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.l.Wait(context.Background(), run.ID); err != nil {
		t.Fatal(err)
	}
	scheduled, err := e.l.Start(context.Background(), models.RunRequest{Template: "gate", AllowApproved: true, Trigger: models.TriggerSchedule})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = e.l.Cancel(context.Background(), scheduled.ID) }()

	started := sink.lines(t, "run started")
	if len(started) != 2 {
		t.Fatalf("%d run started lines, want 2: %v", len(started), started)
	}
	if l := started[0]; l["run"] != run.ID || l["request_id"] != "req-1" || l["started_by"] != "otto" || l["template"] != "gate" || l["version"] != 1.0 {
		t.Errorf("first start logged as %v, want run %s with request_id req-1", l, run.ID)
	}
	if l := started[1]; l["run"] != scheduled.ID || l["request_id"] != nil {
		t.Errorf("scheduled start logged as %v, want run %s without a request id", l, scheduled.ID)
	}
	refused := sink.lines(t, "run not started: active-run limit reached")
	if len(refused) != 1 || refused[0]["request_id"] != "req-2" || refused[0]["level"] != "WARN" {
		t.Errorf("refused start logged as %v, want one warning with request_id req-2", refused)
	}
}

// racingListStore finishes a run in the middle of a ListRuns: after the
// store was read (the run still unfinished there) and before the engine
// looks at memory (the run gone from it), the window in which a run that
// had just ended was counted against the limit.
type racingListStore struct {
	*store.Store
	mu     sync.Mutex
	during func() // run once, inside the next ListRuns
}

func (s *racingListStore) ListRuns(ctx context.Context, f models.RunFilter) ([]models.Run, error) {
	runs, err := s.Store.ListRuns(ctx, f)
	s.mu.Lock()
	during := s.during
	s.during = nil
	s.mu.Unlock()
	if during != nil {
		during()
	}
	return runs, err
}

// A run that ends while the limit check reads the store does not count
// against the limit: ListRuns sees that a run finished meanwhile and reads
// again.
func TestLauncherActiveLimitWhileARunEnds(t *testing.T) {
	st := &racingListStore{Store: storetest.OpenSQLite(t)}
	log := slog.New(slog.DiscardHandler)
	l := engine.NewLauncher(nil, st.Store, engine.LauncherConfig{MaxActiveRuns: 1})
	eng := engine.New(st, engine.NewRegistry(actions.Builtins(log)...), engine.Config{Logger: log, Subworkflows: l})
	l.SetEngine(eng)
	ctx := context.Background()
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Stop(context.Background()) })
	e := &launchEnv{st: st.Store, eng: eng, l: l}
	e.template(t, launchGate, true)
	run, err := l.Start(ctx, models.RunRequest{Template: "gate", AllowApproved: true})
	if err != nil {
		t.Fatal(err)
	}
	var ended models.Run
	st.mu.Lock()
	st.during = func() {
		if err := l.Cancel(ctx, run.ID); err != nil {
			t.Error(err)
		}
		ended, err = l.Wait(ctx, run.ID)
	}
	st.mu.Unlock()
	if _, err := l.Start(ctx, models.RunRequest{Template: "gate", AllowApproved: true}); err != nil {
		t.Fatalf("a run that ended during the check still counted against the limit: %v", err)
	}
	if ended.Status != models.RunCancelled {
		t.Fatalf("the first run ended as %s; want cancelled", ended.Status)
	}
}
