// Package enginetest wires a real store, engine and launcher the way
// `baton serve` does, for the tests of the engine and of the packages built
// on it (schedules, handlers). It is imported by tests only.
package enginetest

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
	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/models/store"
	"github.com/baton-run/baton/models/store/storetest"
)

// Env is a store, an engine and a launcher wired as `baton serve` does.
type Env struct {
	Store    *store.Store
	Engine   *engine.Engine
	Launcher *engine.Launcher
}

// New opens a store with open, starts an engine with the built-in actions
// and a launcher configured by cfg, and stops the engine when t ends.
func New(t testing.TB, open func(testing.TB) *store.Store, cfg engine.LauncherConfig) *Env {
	t.Helper()
	st := open(t)
	return Wire(t, st, st, cfg)
}

// Wire is New on a store the caller already has; the engine reads and
// writes runs through runs, which is st itself or a wrapper of it that
// intercepts calls.
func Wire(t testing.TB, st *store.Store, runs engine.Store, cfg engine.LauncherConfig) *Env {
	t.Helper()
	return WireEngine(t, st, runs, engine.Config{}, cfg)
}

// WireEngine is Wire with the engine configured by ecfg; its Versions
// default to st and its Logger discards.
func WireEngine(t testing.TB, st *store.Store, runs engine.Store, ecfg engine.Config, cfg engine.LauncherConfig) *Env {
	t.Helper()
	if ecfg.Logger == nil {
		ecfg.Logger = slog.New(slog.DiscardHandler)
	}
	if ecfg.Versions == nil {
		ecfg.Versions = st
	}
	eng := engine.New(runs, engine.NewRegistry(actions.Builtins(ecfg.Logger)...), ecfg)
	l := engine.NewLauncher(eng, cfg)
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = eng.Stop(ctx)
	})
	return &Env{Store: st, Engine: eng, Launcher: l}
}

// Template stores the JSON definition src as a new template by "dana",
// approved by "ann" when approve is set, and returns its key.
func (e *Env) Template(t testing.TB, src string, approve bool) string {
	t.Helper()
	def, err := plan.Parse([]byte(src), plan.FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Store.CreateTemplate(context.Background(), def, "dana"); err != nil {
		t.Fatal(err)
	}
	if approve {
		e.Approve(t, def.ID, 1)
	}
	return def.ID
}

// Approve submits version n of key as "dana" and approves it as "ann".
func (e *Env) Approve(t testing.TB, key string, n int) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.Store.SubmitVersion(ctx, key, n, "dana"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.ApproveVersion(ctx, key, n, "ann", ""); err != nil {
		t.Fatal(err)
	}
}

// ForEachDB runs f as a subtest on SQLite and, when BATON_TEST_POSTGRES_URL
// is set, on PostgreSQL.
func ForEachDB(t *testing.T, f func(t *testing.T, open func(testing.TB) *store.Store)) {
	t.Helper()
	for _, db := range storetest.Databases(t) {
		t.Run(db.Name, func(t *testing.T) { f(t, db.Open) })
	}
}

// Definitions the tests share: Greet sets a greeting from its required
// input who; Gate waits for the signal "go" (an hour at most); Parent runs
// Greet as a subworkflow.
const (
	Greet = `{"id":"greet","name":"Greet","inputs":{"who":{"type":"string","required":true}},
 "steps":[{"id":"hello","type":"command","action":{"kind":"set","values":{"msg":"hi {{ inputs.who }}"}}}],
 "outputs":{"msg":"{{ steps.hello.output.msg }}"}}`
	Gate   = `{"id":"gate","name":"Gate","steps":[{"id":"wait_go","type":"wait","action":{"signal":"go","timeout":"1h"}}]}`
	Parent = `{"id":"parent","name":"Parent","steps":[{"id":"child","type":"command",
 "action":{"kind":"subworkflow","template":"greet","inputs":{"who":"child"}}}],"outputs":{"msg":"{{ steps.child.output.msg }}"}}`
)

// LogSink collects a JSON log written from the engine's goroutines.
type LogSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *LogSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *LogSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Lines returns the JSON log's lines with message msg.
func (l *LogSink) Lines(t *testing.T, msg string) []map[string]any {
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
