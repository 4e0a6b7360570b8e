package engine_test

import (
	"context"
	"testing"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/engine/enginetest"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

var (
	operator = models.RunActor{Name: "otto", AllowApproved: true}
	designer = models.RunActor{Name: "dana", AllowDraft: true}
	viewer   = models.RunActor{Name: "victor"}
)

// wantProblem checks an Invalid error whose one problem is at path.
func wantProblem(t *testing.T, err error, path string) {
	t.Helper()
	wantCode(t, err, models.Invalid)
	if d := models.ErrorDetails(err); len(d) != 1 || d[0].Path != path {
		t.Fatalf("problems = %v; want one at %q", d, path)
	}
}

// The launcher decides every operation on an existing run: who may (a
// designer only on their own test runs, a viewer on none), what a rerun may ask for
// (version same or latest, from a step of the definition that runs), and
// what the run's state allows.
func TestRunOperationsDecidedByTheLauncher(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		e := enginetest.New(t, open, engine.LauncherConfig{})
		l := e.Launcher
		ctx := context.Background()
		e.Template(t, enginetest.Gate, true)
		prod, err := l.Start(ctx, models.RunRequest{Template: "gate", AllowApproved: true})
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, l.Signal(ctx, prod.ID, "go", nil, designer), models.Forbidden) // a production run
		wantCode(t, l.Cancel(ctx, prod.ID, viewer), models.Forbidden)
		wantProblem(t, l.Signal(ctx, prod.ID, " ", nil, operator), "name")
		wantCode(t, l.Cancel(ctx, "01NOSUCHRUN0000000000000000", operator), models.NotFound)
		_, err = l.Retry(ctx, prod.ID, operator)
		wantCode(t, err, models.Conflict) // not finished
		if err := l.Signal(ctx, prod.ID, "go", nil, operator); err != nil {
			t.Fatal(err)
		}
		if run, err := l.Wait(ctx, prod.ID); err != nil || run.Status != models.RunSucceeded {
			t.Fatalf("after the signal: %+v, %v", run, err)
		}

		_, err = l.Rerun(ctx, prod.ID, models.RerunRequest{Version: "newest", By: operator})
		wantProblem(t, err, "version")
		_, err = l.Rerun(ctx, prod.ID, models.RerunRequest{From: "nope", By: operator})
		wantProblem(t, err, "from")
		_, err = l.Rerun(ctx, prod.ID, models.RerunRequest{From: "nope", Version: models.RerunLatest, By: operator})
		wantProblem(t, err, "from")
		_, err = l.Rerun(ctx, prod.ID, models.RerunRequest{By: designer})
		wantCode(t, err, models.Forbidden)

		// A designer operates test runs, but re-running one on the latest
		// approved version needs the operator role.
		test, err := l.Start(ctx, models.RunRequest{Template: "gate", Version: 1, AllowDraft: true})
		if err == nil {
			t.Fatalf("version 1 is approved: a designer may not start it (%+v)", test)
		}
		e.Template(t, `{"id":"draft","name":"Draft","steps":[{"id":"a","type":"command","action":{"kind":"log","message":"hi"}}]}`, false)
		test, err = l.Start(ctx, models.RunRequest{Template: "draft", Version: 1, AllowDraft: true, StartedBy: designer.Name})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Wait(ctx, test.ID); err != nil {
			t.Fatal(err)
		}
		// Only their own: another designer's test run is not theirs to touch.
		other := models.RunActor{Name: "dora", AllowDraft: true}
		_, err = l.Rerun(ctx, test.ID, models.RerunRequest{By: other})
		wantCode(t, err, models.Forbidden)
		_, err = l.Rerun(ctx, test.ID, models.RerunRequest{Version: models.RerunLatest, By: designer})
		wantCode(t, err, models.Forbidden)
		again, err := l.Rerun(ctx, test.ID, models.RerunRequest{From: "a", Version: models.RerunSame, By: designer})
		if err != nil || again.ParentRunID != test.ID || !again.Test || again.StartedBy != "dana" {
			t.Fatalf("designer's rerun of a test run: %+v, %v", again, err)
		}
		if _, err := l.Wait(ctx, again.ID); err != nil {
			t.Fatal(err)
		}

		// The run page's detail: the stored definition and effective policies.
		d, err := l.RunDetail(ctx, test.ID)
		if err != nil || d.Definition.ID != "draft" || len(d.Attempts) == 0 || d.RetryPolicies["a"].MaxAttempts != 1 {
			t.Fatalf("RunDetail = %+v, %v", d, err)
		}
	})
}
