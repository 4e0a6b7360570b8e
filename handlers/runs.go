package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/models"
)

func (s *server) runRoutes() []route {
	return []route{
		// Starting a run needs the operator role, or the designer role for a
		// test run of a version that is not approved: the handler decides,
		// because only the version tells which.
		{fiber.MethodPost, "/api/v1/templates/:key/runs", models.RoleViewer, s.startRun},
		{fiber.MethodGet, "/api/v1/runs", models.RoleViewer, s.listRuns},
		{fiber.MethodGet, "/api/v1/runs/:id", models.RoleViewer, s.getRun},
		{fiber.MethodPost, "/api/v1/runs/:id/cancel", models.RoleViewer, s.cancelRun},
		{fiber.MethodPost, "/api/v1/runs/:id/retry", models.RoleViewer, s.retryRun},
		{fiber.MethodPost, "/api/v1/runs/:id/rerun", models.RoleViewer, s.rerunRun},
		{fiber.MethodPost, "/api/v1/runs/:id/signals/:name", models.RoleViewer, s.signalRun},
	}
}

// Audit actions of run control: who cancelled, retried or signalled a run
// (a run itself records who started it).
const (
	auditRunCancelled = "run_cancelled"
	auditRunRetried   = "run_retried"
	auditRunSignalled = "run_signalled"
)

// startBody is POST …/runs' body.
type startBody struct {
	// Inputs are kept raw so that numbers are read exactly (exactInputs).
	Inputs  map[string]json.RawMessage `json:"inputs"`
	Version int                        `json:"version"`
}

// exactInputs decodes a run's inputs. A top-level number that is a whole
// number within int64 stays an integer (9007199254740993 is not rounded to
// …992 on its way to an integer input); other numbers are float64, and a
// number too large for float64 (1e400) is refused with its input's path.
// Values inside objects and arrays decode as JSON always does.
func exactInputs(raw map[string]json.RawMessage) (map[string]any, error) {
	if raw == nil {
		return nil, nil
	}
	out := make(map[string]any, len(raw))
	var problems []models.Problem
	for k, r := range raw {
		r = bytes.TrimSpace(r)
		if len(r) > 0 && (r[0] == '-' || (r[0] >= '0' && r[0] <= '9')) {
			if i, err := strconv.ParseInt(string(r), 10, 64); err == nil {
				out[k] = i
				continue
			}
			f, err := strconv.ParseFloat(string(r), 64)
			if err != nil {
				problems = append(problems, models.Problem{Path: "inputs." + k, Message: fmt.Sprintf("the number %.40s does not fit a 64-bit floating-point number", r)})
				continue
			}
			out[k] = f
			continue
		}
		var v any
		if err := json.Unmarshal(r, &v); err != nil {
			problems = append(problems, models.Problem{Path: "inputs." + k, Message: strings.TrimPrefix(err.Error(), "json: ")})
			continue
		}
		out[k] = v
	}
	if len(problems) > 0 {
		return nil, models.Problems("invalid inputs", problems)
	}
	return out, nil
}

// runList is GET /api/v1/runs: newest first; next is the cursor (the
// before= of the following page), "" on the last page.
type runList struct {
	Runs []models.Run `json:"runs"`
	Next string       `json:"next"`
}

func (s *server) startRun(c *fiber.Ctx) error {
	rs, err := s.runs()
	if err != nil {
		return err
	}
	u := principalOf(c).user
	if !u.Can(models.RoleOperator) && !u.Can(models.RoleDesigner) {
		return models.Errorf(models.Forbidden, "starting a run needs the operator role (or designer, for a test run of a draft)")
	}
	var in startBody
	if len(strings.TrimSpace(string(c.Body()))) > 0 {
		if err := decodeJSON(c, &in); err != nil {
			return err
		}
	}
	if in.Version < 0 {
		return models.Problems("invalid run request", []models.Problem{{Path: "version", Message: "must be a positive version number"}})
	}
	inputs, err := exactInputs(in.Inputs)
	if err != nil {
		return err
	}
	wait, err := s.waitParam(c)
	if err != nil {
		return err
	}
	trigger := models.TriggerAPI
	if principalOf(c).session != nil {
		trigger = models.TriggerManual
	}
	req := models.RunRequest{
		Template: c.Params("key"), Version: in.Version, Inputs: inputs,
		Trigger: trigger, StartedBy: u.Name,
		AllowApproved: u.Can(models.RoleOperator), AllowDraft: u.Can(models.RoleDesigner),
	}
	var run models.Run
	if wait > 0 {
		// The wait outlives the request timeout on purpose (the caller
		// asked for it), but not a server shutdown.
		wctx, cancel := context.WithTimeout(s.deps.BaseContext, wait)
		defer cancel()
		run, err = rs.StartWait(c.UserContext(), req, wctx)
	} else {
		run, err = rs.Start(c.UserContext(), req)
	}
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(run)
}

// waitParam reads ?wait=<duration> (a Go duration such as 30s, or
// milliseconds), capped at Deps.MaxWait.
func (s *server) waitParam(c *fiber.Ctx) (time.Duration, error) {
	raw := c.Query("wait")
	if raw == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(raw)
	if err != nil {
		ms := json.Number(raw)
		n, nerr := ms.Int64()
		if nerr != nil {
			return 0, models.Problems("invalid query", []models.Problem{{Path: "wait", Message: "must be a duration such as 30s or 1m"}})
		}
		d = time.Duration(n) * time.Millisecond
	}
	if d < 0 {
		return 0, models.Problems("invalid query", []models.Problem{{Path: "wait", Message: "must not be negative"}})
	}
	return min(d, s.deps.MaxWait), nil
}

func (s *server) listRuns(c *fiber.Ctx) error {
	rs, err := s.runs()
	if err != nil {
		return err
	}
	f := models.RunFilter{Template: c.Query("template"), Before: c.Query("before"), ParentRunID: c.Query("parent")}
	if f.Limit, err = queryLimit(c); err != nil {
		return err
	}
	if f.Limit == 0 {
		f.Limit = 50
	}
	if raw := c.Query("schedule"); raw != "" {
		if f.ScheduleID, err = strconv.ParseInt(raw, 10, 64); err != nil || f.ScheduleID <= 0 {
			return models.Problems("invalid query", []models.Problem{{Path: "schedule", Message: "must be a schedule id (a positive integer), not " + strconv.Quote(raw)}})
		}
	}
	for _, st := range strings.Split(c.Query("status"), ",") {
		st = strings.TrimSpace(st)
		if st == "" {
			continue
		}
		if !knownRunStatus(models.RunStatus(st)) {
			return models.Problems("invalid query", []models.Problem{{Path: "status", Message: "unknown run status " + strconv.Quote(st)}})
		}
		f.Statuses = append(f.Statuses, models.RunStatus(st))
	}
	// One more than asked tells whether another page follows.
	want := f.Limit
	f.Limit++
	runs, err := rs.ListRuns(c.UserContext(), f)
	if err != nil {
		return err
	}
	out := runList{Runs: runs}
	if len(runs) > want {
		out.Runs = runs[:want]
		out.Next = out.Runs[want-1].ID
	}
	if out.Runs == nil {
		out.Runs = []models.Run{}
	}
	for i := range out.Runs {
		if out.Runs[i].Steps == nil {
			out.Runs[i].Steps = []models.StepState{}
		}
	}
	return c.JSON(out)
}

func knownRunStatus(st models.RunStatus) bool {
	switch st {
	case models.RunQueued, models.RunRunning, models.RunWaiting:
		return true
	}
	return st.Final()
}

func (s *server) getRun(c *fiber.Ctx) error {
	rs, err := s.runs()
	if err != nil {
		return err
	}
	run, err := rs.Run(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(run)
}

// actorOf is the caller as the launcher's run operations see it: who,
// and what their roles let them do to runs.
func actorOf(c *fiber.Ctx) models.RunActor {
	return actorOfUser(principalOf(c).user)
}

func actorOfUser(u *models.User) models.RunActor {
	return models.RunActor{Name: u.Name, AllowApproved: u.Can(models.RoleOperator), AllowDraft: u.Can(models.RoleDesigner)}
}

// canOperate says whether u may cancel, signal or rerun run (the
// launcher's rule, for showing the buttons).
func canOperate(u *models.User, run models.Run) bool {
	return actorOfUser(u).MayOperate(run)
}

func (s *server) cancelRun(c *fiber.Ctx) error {
	rs, err := s.runs()
	if err != nil {
		return err
	}
	ctx, id := c.UserContext(), c.Params("id")
	if err := rs.Cancel(ctx, id, actorOf(c)); err != nil {
		return err
	}
	s.audit(c, principalOf(c).user.Name, auditRunCancelled, "run:"+id, nil)
	run, err := rs.Run(ctx, id)
	if err != nil {
		return err
	}
	return c.JSON(run)
}

func (s *server) retryRun(c *fiber.Ctx) error {
	rs, err := s.runs()
	if err != nil {
		return err
	}
	run, err := rs.Retry(c.UserContext(), c.Params("id"), actorOf(c))
	if err != nil {
		return err
	}
	s.audit(c, principalOf(c).user.Name, auditRunRetried, "run:"+run.ID, nil)
	return c.JSON(run)
}

// rerunBody is POST …/rerun's optional body.
type rerunBody struct {
	From    string `json:"from"`
	Version string `json:"version"`
}

func (s *server) rerunRun(c *fiber.Ctx) error {
	rs, err := s.runs()
	if err != nil {
		return err
	}
	var in rerunBody
	if len(strings.TrimSpace(string(c.Body()))) > 0 {
		if err := decodeJSON(c, &in); err != nil {
			return err
		}
	}
	run, err := rs.Rerun(c.UserContext(), c.Params("id"), models.RerunRequest{From: in.From, Version: in.Version, By: actorOf(c)})
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(run)
}

// signalAnswer confirms a delivered signal.
type signalAnswer struct {
	Delivered bool   `json:"delivered"`
	Run       string `json:"runId"`
	Signal    string `json:"signal"`
}

func (s *server) signalRun(c *fiber.Ctx) error {
	rs, err := s.runs()
	if err != nil {
		return err
	}
	if ct := mediaType(c.Get(fiber.HeaderContentType)); ct != "" && ct != fiber.MIMEApplicationJSON {
		return models.Errorf(models.BadRequest, "the body must be JSON (Content-Type: application/json), not %s", ct)
	}
	var payload any
	if body := strings.TrimSpace(string(c.Body())); body != "" {
		if err := json.Unmarshal([]byte(body), &payload); err != nil {
			return models.Errorf(models.BadRequest, "malformed JSON body: %s", strings.TrimPrefix(err.Error(), "json: "))
		}
	}
	id, name := c.Params("id"), c.Params("name")
	if err := rs.Signal(c.UserContext(), id, name, payload, actorOf(c)); err != nil {
		return err
	}
	s.audit(c, principalOf(c).user.Name, auditRunSignalled, "run:"+id, map[string]any{"signal": name})
	return c.Status(http.StatusAccepted).JSON(signalAnswer{Delivered: true, Run: id, Signal: name})
}

// errMessage is the client-facing message of a *models.Error.
func errMessage(err error) string {
	var me *models.Error
	if errors.As(err, &me) {
		return me.Message
	}
	return err.Error()
}
