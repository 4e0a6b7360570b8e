package engine_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/engine/actions"
	"github.com/baton-run/baton/engine/enginetest"
	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/baton-run/baton/models/store/storetest"
)

func wantCode(t *testing.T, err error, code models.Code) {
	t.Helper()
	if !models.IsCode(err, code) {
		t.Fatalf("err = %v; want code %s", err, code)
	}
}

func TestLauncherRules(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		e := enginetest.New(t, open, engine.LauncherConfig{})
		ctx := context.Background()
		e.Template(t, enginetest.Greet, false)
		in := map[string]any{"who": "x"}

		_, err := e.Launcher.Start(ctx, models.RunRequest{Template: "greet", Inputs: in, AllowApproved: true})
		wantCode(t, err, models.Conflict) // nothing approved yet
		_, err = e.Launcher.Start(ctx, models.RunRequest{Template: "greet", Version: 1, Inputs: in, AllowApproved: true})
		wantCode(t, err, models.Forbidden) // a draft, and not a designer
		_, err = e.Launcher.Start(ctx, models.RunRequest{Template: "nope", Inputs: in, AllowApproved: true})
		wantCode(t, err, models.NotFound)
		test, err := e.Launcher.Start(ctx, models.RunRequest{Template: "greet", Version: 1, Inputs: in, AllowDraft: true, StartedBy: "dana", Trigger: models.TriggerAPI})
		if err != nil || !test.Test || test.Version != 1 || test.StartedBy != "dana" || test.Trigger != models.TriggerAPI {
			t.Fatalf("test run: %+v, %v", test, err)
		}
		if n := e.Launcher.CachedPlans(); n != 0 {
			t.Fatalf("a draft's plan was cached (%d): it may still change", n)
		}

		e.Approve(t, "greet", 1)
		_, err = e.Launcher.Start(ctx, models.RunRequest{Template: "greet", Inputs: in, AllowDraft: true})
		wantCode(t, err, models.Forbidden) // approved needs the operator's permission
		_, err = e.Launcher.Start(ctx, models.RunRequest{Template: "greet", Inputs: map[string]any{"whom": 1}, AllowApproved: true})
		wantCode(t, err, models.Invalid)
		if d := models.ErrorDetails(err); len(d) == 0 {
			t.Fatalf("invalid inputs without paths: %v", err)
		}
		for range 3 {
			run, err := e.Launcher.Start(ctx, models.RunRequest{Template: "greet", Inputs: in, AllowApproved: true})
			if err != nil || run.Test || run.Version != 1 {
				t.Fatalf("production run: %+v, %v", run, err)
			}
			if run, err = e.Launcher.Wait(ctx, run.ID); err != nil || run.Status != models.RunSucceeded || run.Outputs["msg"] != "hi x" {
				t.Fatalf("finished run: %+v, %v", run, err)
			}
		}
		if n := e.Launcher.CachedPlans(); n != 1 {
			t.Fatalf("approved plan compiled into %d cache entries; want 1", n)
		}

		// Subworkflows resolve the latest approved version of the child.
		p, n, err := engine.ResolveSubworkflow(e.Engine, ctx, "greet", 0)
		if err != nil || n != 1 || p == nil {
			t.Fatalf("Resolve: %v %d %v", p, n, err)
		}
		if _, err := e.Store.SaveDraft(ctx, "greet", mustParse(t, enginetest.Greet), "dana"); err != nil {
			t.Fatal(err)
		}
		_, _, err = engine.ResolveSubworkflow(e.Engine, ctx, "greet", 2)
		wantCode(t, err, models.Conflict) // a draft is not for production
		e.Template(t, enginetest.Parent, true)
		run, err := e.Launcher.Start(ctx, models.RunRequest{Template: "parent", AllowApproved: true})
		if err != nil {
			t.Fatal(err)
		}
		if run, err = e.Launcher.Wait(ctx, run.ID); err != nil || run.Status != models.RunSucceeded || run.Outputs["msg"] != "hi child" {
			t.Fatalf("parent run: %+v, %v", run, err)
		}

		// Approved versions are kept, but a newly approved one is used by
		// the very next start, and StartWait returns the finished run.
		e.Approve(t, "greet", 2)
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		run, err = e.Launcher.StartWait(ctx, models.RunRequest{Template: "greet", Inputs: in, AllowApproved: true}, wctx)
		if err != nil || run.Version != 2 || run.Status != models.RunSucceeded || run.Outputs["msg"] != "hi x" {
			t.Fatalf("StartWait after approving v2: %+v, %v", run, err)
		}
	})
}

func mustParse(t *testing.T, src string) models.Definition {
	t.Helper()
	def, err := plan.Parse([]byte(src), plan.FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	return def
}

func TestLauncherActiveLimitAndCacheBound(t *testing.T) {
	st := storetest.OpenSQLite(t)
	e := enginetest.WireEngine(t, st, st, engine.Config{PlanCacheSize: 1}, engine.LauncherConfig{MaxActiveRuns: 2})
	ctx := context.Background()
	e.Template(t, enginetest.Gate, true)
	e.Template(t, enginetest.Greet, true)
	var ids []string
	for range 2 {
		run, err := e.Launcher.Start(ctx, models.RunRequest{Template: "gate", AllowApproved: true})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, run.ID)
	}
	_, err := e.Launcher.Start(ctx, models.RunRequest{Template: "gate", AllowApproved: true})
	wantCode(t, err, models.Busy)
	// Another template has its own limit.
	if _, err := e.Launcher.Start(ctx, models.RunRequest{Template: "greet", Inputs: map[string]any{"who": "y"}, AllowApproved: true}); err != nil {
		t.Fatal(err)
	}
	if n := e.Launcher.CachedPlans(); n != 1 {
		t.Fatalf("cache holds %d plans; its bound is 1", n)
	}
	if err := e.Engine.Cancel(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Launcher.Wait(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Launcher.Start(ctx, models.RunRequest{Template: "gate", AllowApproved: true}); err != nil {
		t.Fatalf("after a cancel the limit has room: %v", err)
	}
	for _, id := range ids[1:] {
		_ = e.Engine.Cancel(ctx, id)
	}
}

func TestLauncherParseDefinition(t *testing.T) {
	l := engine.NewLauncher(engine.New(nil, nil, engine.Config{}), engine.LauncherConfig{})
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
	eng := engine.New(st, engine.NewRegistry(actions.Builtins(log)...), engine.Config{Logger: log, Versions: st})
	l := engine.NewLauncher(eng, engine.LauncherConfig{})
	ctx := context.Background()
	if err := eng.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = eng.Stop(ctx) }()
	def, err := plan.Parse([]byte(enginetest.Greet), plan.FormatJSON)
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

// The launcher logs each run it starts, and a start refused by the
// active-run limit, with the request id the context carries; work no
// request asked for (a schedule) is logged without one.
func TestLauncherLogsRequestID(t *testing.T) {
	sink := &enginetest.LogSink{}
	e := enginetest.New(t, storetest.OpenSQLite, engine.LauncherConfig{MaxActiveRuns: 1, Logger: slog.New(slog.NewJSONHandler(sink, nil))})
	e.Template(t, enginetest.Gate, true)
	fromRequest := models.ContextWithRequestID(context.Background(), "req-1")
	run, err := e.Launcher.Start(fromRequest, models.RunRequest{Template: "gate", AllowApproved: true, StartedBy: "otto", Trigger: models.TriggerAPI})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Launcher.Start(models.ContextWithRequestID(context.Background(), "req-2"), models.RunRequest{Template: "gate", AllowApproved: true})
	wantCode(t, err, models.Busy)
	if err := e.Engine.Cancel(context.Background(), run.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Launcher.Wait(context.Background(), run.ID); err != nil {
		t.Fatal(err)
	}
	scheduled, err := e.Launcher.Start(context.Background(), models.RunRequest{Template: "gate", AllowApproved: true, Trigger: models.TriggerSchedule})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = e.Engine.Cancel(context.Background(), scheduled.ID) }()

	started := sink.Lines(t, "run started")
	if len(started) != 2 {
		t.Fatalf("%d run started lines, want 2: %v", len(started), started)
	}
	if l := started[0]; l["run"] != run.ID || l["request_id"] != "req-1" || l["started_by"] != "otto" || l["template"] != "gate" || l["version"] != 1.0 {
		t.Errorf("first start logged as %v, want run %s with request_id req-1", l, run.ID)
	}
	if l := started[1]; l["run"] != scheduled.ID || l["request_id"] != nil {
		t.Errorf("scheduled start logged as %v, want run %s without a request id", l, scheduled.ID)
	}
	refused := sink.Lines(t, "run not started: active-run limit reached")
	if len(refused) != 1 || refused[0]["request_id"] != "req-2" || refused[0]["level"] != "WARN" {
		t.Errorf("refused start logged as %v, want one warning with request_id req-2", refused)
	}
}
