package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/models"
)

// The operations on existing runs, decided here once for every caller (the
// JSON API and the pages only call them and render the outcome): who may
// touch which run, what a rerun may ask for, and what the run page reads.
// Each returns a *models.Error: NotFound for an unknown run, Forbidden when
// the actor may not, Invalid with the offending field's path, Conflict when
// the run's state does not allow it.

// operable loads run id and checks that by may act on it: AllowApproved
// (operators) on any run, AllowDraft (designers) on the test runs they
// started (RunActor.MayOperate).
func (l *Launcher) operable(ctx context.Context, id string, by models.RunActor) (models.Run, error) {
	run, err := l.eng.Run(ctx, id)
	if err != nil {
		return run, err
	}
	if by.MayOperate(run) {
		return run, nil
	}
	if run.Test && by.AllowDraft {
		return run, models.Errorf(models.Forbidden, "this test run was started by %s: a designer may act only on their own test runs", run.StartedBy)
	}
	return run, models.Errorf(models.Forbidden, "this needs the operator role")
}

// Cancel cancels an unfinished run.
func (l *Launcher) Cancel(ctx context.Context, id string, by models.RunActor) error {
	if _, err := l.operable(ctx, id, by); err != nil {
		return err
	}
	return l.eng.Cancel(ctx, id)
}

// Signal delivers the signal name, with its JSON payload, to a run.
func (l *Launcher) Signal(ctx context.Context, id, name string, payload any, by models.RunActor) error {
	if _, err := l.operable(ctx, id, by); err != nil {
		return err
	}
	if strings.TrimSpace(name) == "" {
		return models.Problems("invalid signal", []models.Problem{{Path: "name", Message: "is required"}})
	}
	return l.eng.Signal(ctx, id, name, payload)
}

// Retry continues a failed, cancelled or timed-out run from its failed steps.
func (l *Launcher) Retry(ctx context.Context, id string, by models.RunActor) (models.Run, error) {
	old, err := l.operable(ctx, id, by)
	if err != nil {
		return models.Run{}, err
	}
	if old.Status.Final() {
		// A retry makes the run active again, so it counts against the
		// limit (an unfinished run: the engine says why it cannot retry).
		if err := l.checkActive(ctx, old.Template); err != nil {
			return models.Run{}, err
		}
	}
	run, err := l.eng.Retry(ctx, id)
	if err != nil {
		return run, err
	}
	l.logLaunch(ctx, slog.LevelInfo, "run retried", runAttrs(run)...)
	return run, nil
}

// Rerun starts a new run linked to run id: on its own definition
// (req.Version RerunSame or ""), or on the template's latest approved
// version (RerunLatest, which needs AllowApproved); from the start, or
// from step req.From, which must be a step of the definition that runs.
func (l *Launcher) Rerun(ctx context.Context, id string, req models.RerunRequest) (models.Run, error) {
	old, err := l.operable(ctx, id, req.By)
	if err != nil {
		return models.Run{}, err
	}
	opt := RerunOptions{From: req.From, StartedBy: req.By.Name, MaxActive: l.cfg.MaxActiveRuns}
	switch req.Version {
	case "", models.RerunSame:
		if req.From != "" && !slices.ContainsFunc(old.Steps, func(st models.StepState) bool { return st.ID == req.From }) {
			return models.Run{}, badRerun("from", "the run has no step "+strconv.Quote(req.From))
		}
	case models.RerunLatest:
		if !req.By.AllowApproved {
			return models.Run{}, models.Errorf(models.Forbidden, "re-running on the latest approved version needs the operator role")
		}
		v, err := l.eng.versions.version(ctx, old.Template, 0)
		if err != nil {
			return models.Run{}, err
		}
		if opt.Plan, err = l.plan(v); err != nil {
			return models.Run{}, err
		}
		opt.Version = v.Number
		if _, ok := opt.Plan.Step(req.From); req.From != "" && !ok {
			return models.Run{}, badRerun("from", fmt.Sprintf("version %d of %q has no step %q", v.Number, v.Template, req.From))
		}
	default:
		return models.Run{}, badRerun("version", `must be "same" or "latest"`)
	}
	run, err := l.eng.Rerun(ctx, id, opt)
	if err != nil {
		return run, err
	}
	l.logLaunch(ctx, slog.LevelInfo, "run started", append(runAttrs(run), slog.String("rerun_of", id))...)
	return run, nil
}

func badRerun(path, msg string) error {
	return models.Problems("invalid rerun request", []models.Problem{{Path: path, Message: msg}})
}

// RunDetail returns what a run's page shows beside its record: the
// definition stored with the run (what ran, even when the version's draft
// was edited since), each step's effective retry policy and every attempt.
func (l *Launcher) RunDetail(ctx context.Context, id string) (models.RunDetail, error) {
	snap, err := l.eng.store.LoadRun(ctx, id)
	if err != nil {
		return models.RunDetail{}, err
	}
	d := models.RunDetail{Attempts: snap.StepRuns}
	if err := json.Unmarshal(snap.Run.Definition, &d.Definition); err != nil {
		return d, fmt.Errorf("read run %s's definition: %w", id, err)
	}
	// An active run's plan is in memory; a finished one's is rebuilt as
	// Retry would. A definition that no longer compiles (limits lowered
	// since) still shows, without policies.
	var p *plan.Plan
	if rs := l.eng.active(id); rs != nil {
		p = rs.plan
	} else if p, err = l.eng.cfg.Compiler.Compile(d.Definition); err != nil {
		return d, nil //nolint:nilerr // the page shows the definition without policies
	}
	d.RetryPolicies = make(map[string]models.RetryPolicy, len(p.Steps))
	for _, ps := range p.Steps {
		d.RetryPolicies[ps.Step.ID] = ps.Retry
	}
	return d, nil
}
