package handlers

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/views"
)

// runView builds the run page's model.
func (s *server) runView(c *fiber.Ctx, rs Runs, id string) (views.RunView, error) {
	ctx := c.UserContext()
	run, err := rs.Run(ctx, id)
	if err != nil {
		return views.RunView{}, err
	}
	u := principalOf(c).user
	v := views.RunView{
		ID: run.ID, ShortID: shortRunID(run.ID), Template: run.Template, TemplateName: run.Template, Version: run.Version, Status: string(run.Status), Trigger: run.Trigger,
		StartedBy: run.StartedBy, Test: run.Test, ParentRunID: run.ParentRunID, Created: views.FormatTime(run.CreatedAt),
		Duration: runDuration(run.DurationMs), Inputs: runPretty(run.Inputs), Final: run.Status.Final(),
		CanOperate: canOperate(u, run),
		CSRF:       pageCSRF(c), DesignerJS: s.assets.url("designer.js"), DesignerCSS: s.assets.url("designer.css"),
	}
	if sc := run.Schedule; sc != nil {
		v.ScheduleID = strconv.FormatInt(sc.ID, 10)
		v.ScheduledFor = views.FormatTime(sc.FireAt)
		if sc.CaughtUp {
			// A caught-up run starts when the instance that missed its
			// time does: that is the run's creation.
			v.CaughtUpAt = views.FormatTime(run.CreatedAt)
		}
	}
	if len(run.Outputs) > 0 {
		v.Outputs = runPretty(run.Outputs)
	}
	if run.Error != nil {
		v.Error = run.Error.Message
		if run.Error.StepID != "" {
			v.Error = "Step " + run.Error.StepID + ": " + v.Error
		}
	}
	v.CanCancel = !v.Final
	v.CanRetry = retryable(run.Status)
	// The definition stored with the run draws the read-only canvas and
	// names the signals the run may wait for and its forEach steps: the
	// version's draft may have been edited since, and the page shows what ran.
	detail, err := rs.RunDetail(ctx, id)
	if err != nil {
		return v, err
	}
	def, attempts := &detail.Definition, detail.Attempts
	if def.Name != "" {
		v.TemplateName = def.Name
	}
	steps := stepsInRunOrder(run.Steps, def)
	for _, st := range steps {
		sv := views.StepView{ID: st.ID, Name: stepName(def, st.ID), Status: string(st.Status), Attempts: st.Attempts, Duration: runDuration(st.DurationMs)}
		if st.StartedAt != nil {
			sv.Started = views.FormatTime(*st.StartedAt)
		}
		if st.Reason != nil {
			sv.Reason = *st.Reason
			if sv.Reason == models.ReasonCarriedOver {
				sv.CarriedFrom = run.ParentRunID
			}
		}
		if st.Output != nil {
			sv.Output = runPretty(st.Output)
			sv.Routing = routingView(st.Output)
		}
		if st.Error != nil {
			sv.Error = st.Error.Code + ": " + st.Error.Message
		}
		if st.Status == models.StepRunning && deviceStep(def, st.ID) {
			sv.LiveOutput, sv.LiveOutputURL = true, "/runs/"+run.ID+"/steps/"+st.ID+"/output"
		}
		for _, a := range attempts {
			if a.StepID != st.ID || a.Attempt == 0 {
				continue
			}
			av := views.AttemptView{Label: fmt.Sprintf("Attempt %d", a.Attempt), Status: string(a.Status), Duration: runDuration(a.DurationMs)}
			if a.Item >= 0 {
				av.Label = fmt.Sprintf("Item %d · attempt %d", a.Item, a.Attempt)
			}
			if a.Compensation {
				av.Label = "Compensation · attempt " + strconv.Itoa(a.Attempt)
			}
			if a.StartedAt != nil {
				av.Started = views.FormatTime(*a.StartedAt)
			}
			if a.Input != nil {
				av.Input = runPretty(a.Input)
			}
			if a.Error != nil {
				av.Error = a.Error.Code + ": " + a.Error.Message
			}
			sv.Attempted = append(sv.Attempted, av)
		}
		if i := slices.IndexFunc(def.Steps, func(d models.Step) bool { return d.ID == st.ID }); i >= 0 && def.Steps[i].Type == models.StepParallel {
			sv.ForEach = true
			sv.Items = itemCounts(st, attempts, detail.RetryPolicies[st.ID])
		}
		v.Steps = append(v.Steps, sv)
		v.StepIDs = append(v.StepIDs, st.ID)
	}
	v.Gantt = gantt(run, steps, def, attempts)
	evs, err := rs.Events(ctx, id, 0, 1000)
	if err != nil {
		return v, err
	}
	for _, e := range evs {
		row := views.EventRow{Seq: e.Seq, At: e.At.UTC().Format("15:04:05.000"), Type: e.Type, StepID: e.StepID, Status: e.Status}
		if e.Attempt > 1 {
			row.Detail = fmt.Sprintf("attempt %d", e.Attempt)
		}
		if e.Error != nil {
			row.Detail = strings.TrimPrefix(row.Detail+"; "+e.Error.Message, "; ")
		}
		if e.DurationMs != nil {
			row.Detail = strings.TrimPrefix(row.Detail+"; "+runDuration(e.DurationMs), "; ")
		}
		v.Events = append(v.Events, row)
		v.LastSeq = e.Seq
	}
	if b, err := json.Marshal(def); err == nil {
		v.Definition = string(b)
	}
	for _, st := range def.Steps {
		if st.Action.Signal != "" && !slices.Contains(v.Signals, st.Action.Signal) {
			v.Signals = append(v.Signals, st.Action.Signal)
		}
	}
	return v, nil
}

// itemCounts counts a forEach step's finished elements for the labels on
// its outgoing edges: the step's output {succeeded, failed} once it has
// one (the run record), else, while it runs, the latest attempt of each
// element so far, where a failed attempt that will be retried does not
// count yet (the engine's rule, policy.MayRetry, with the step's
// effective policy). nil until an element has finished.
func itemCounts(st models.StepState, attempts []models.StepRunRow, policy models.RetryPolicy) *views.ItemCounts {
	if out, ok := st.Output.(map[string]any); ok {
		ok, okFound := wholeNumber(out["succeeded"])
		bad, badFound := wholeNumber(out["failed"])
		if okFound && badFound {
			return &views.ItemCounts{Succeeded: ok, Failed: bad}
		}
	}
	latest := map[int]models.StepRunRow{}
	for _, a := range attempts {
		if a.StepID != st.ID || a.Item < 0 || a.Compensation {
			continue
		}
		prev, seen := latest[a.Item]
		if !seen || a.Generation > prev.Generation || (a.Generation == prev.Generation && a.Attempt >= prev.Attempt) {
			latest[a.Item] = a
		}
	}
	var c views.ItemCounts
	for _, a := range latest {
		switch {
		case a.Status == models.StepSucceeded:
			c.Succeeded++
		case a.Status == models.StepFailed && policy.MayRetry(a.Attempt, a.Error):
			// Waiting out its backoff: the next attempt decides.
		case a.Status.Final():
			c.Failed++
		}
	}
	if c.Succeeded+c.Failed == 0 {
		return nil
	}
	return &c
}

// wholeNumber reads a count from decoded JSON (float64) or from the
// engine's own values (int).
func wholeNumber(x any) (int, bool) {
	switch n := x.(type) {
	case int:
		return n, n >= 0
	case int64:
		return int(n), n >= 0
	case float64:
		return int(n), n >= 0 && n == float64(int(n))
	}
	return 0, false
}

// deviceStep reports whether the definition's step id is a device command.
func deviceStep(def *models.Definition, id string) bool {
	if def == nil {
		return false
	}
	i := slices.IndexFunc(def.Steps, func(d models.Step) bool { return d.ID == id })
	return i >= 0 && def.Steps[i].Type == models.StepCommand && def.Steps[i].Action.Kind == models.KindDevice
}

// stepName is the name the definition gives a step, "" when none.
func stepName(def *models.Definition, id string) string {
	if def == nil {
		return ""
	}
	if i := slices.IndexFunc(def.Steps, func(d models.Step) bool { return d.ID == id }); i >= 0 {
		return def.Steps[i].Name
	}
	return ""
}

// definitionOrder maps each step id to its place in the definition;
// steps it does not know come after.
func definitionOrder(def *models.Definition) func(id string) int {
	idx := map[string]int{}
	if def != nil {
		for i, st := range def.Steps {
			idx[st.ID] = i
		}
	}
	return func(id string) int {
		if i, ok := idx[id]; ok {
			return i
		}
		return len(idx)
	}
}

// stepsInRunOrder sorts a run's steps the way they ran: by start time,
// ties and steps that never started in definition order, the latter last.
// The run record keeps them in no order a reader can follow.
func stepsInRunOrder(steps []models.StepState, def *models.Definition) []models.StepState {
	order := definitionOrder(def)
	steps = slices.Clone(steps)
	slices.SortStableFunc(steps, func(x, y models.StepState) int {
		switch {
		case x.StartedAt == nil && y.StartedAt == nil:
		case x.StartedAt == nil:
			return 1
		case y.StartedAt == nil:
			return -1
		default:
			if c := x.StartedAt.Compare(*y.StartedAt); c != 0 {
				return c
			}
		}
		return cmp.Compare(order(x.ID), order(y.ID))
	})
	return steps
}

func (s *server) runPage(c *fiber.Ctx) error {
	rs, err := s.runs()
	if err != nil {
		return err
	}
	v, err := s.runView(c, rs, c.Params("id"))
	if err != nil {
		return err
	}
	return s.page(c, http.StatusOK, "Run "+v.ID, "runs", views.Run(v))
}

func (s *server) runLive(c *fiber.Ctx) error {
	rs, err := s.runs()
	if err != nil {
		return err
	}
	v, err := s.runView(c, rs, c.Params("id"))
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.RunLive(v))
}

// liveAfter answers an action on the run page with its refreshed live part.
func (s *server) liveAfter(c *fiber.Ctx, rs Runs, id string) error {
	v, err := s.runView(c, rs, id)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.RunLive(v))
}

func (s *server) runPageCancel(c *fiber.Ctx) error {
	rs, err := s.runs()
	if err != nil {
		return err
	}
	id := c.Params("id")
	if err := rs.Cancel(c.UserContext(), id, actorOf(c)); err != nil {
		return err
	}
	s.audit(c, principalOf(c).user.Name, auditRunCancelled, "run:"+id, nil)
	return s.liveAfter(c, rs, id)
}

func (s *server) runPageRetry(c *fiber.Ctx) error {
	rs, err := s.runs()
	if err != nil {
		return err
	}
	id := c.Params("id")
	again, err := rs.Retry(c.UserContext(), id, actorOf(c))
	if err != nil {
		return err
	}
	s.audit(c, principalOf(c).user.Name, auditRunRetried, "run:"+again.ID, nil)
	if c.FormValue("from") == "list" {
		// The runs list follows the retried run through its own stream.
		return c.SendStatus(http.StatusNoContent)
	}
	if again.ID != id {
		return s.redirectPage(c, "/runs/"+again.ID)
	}
	// The same run continues: reload the page so its event stream reconnects.
	c.Set("HX-Refresh", "true")
	return s.liveAfter(c, rs, id)
}

func (s *server) runPageRerun(c *fiber.Ctx) error {
	rs, err := s.runs()
	if err != nil {
		return err
	}
	run, err := rs.Rerun(c.UserContext(), c.Params("id"), models.RerunRequest{
		From: c.FormValue("from"), Version: c.FormValue("version"), By: actorOf(c)})
	if err != nil {
		return err
	}
	return s.redirectPage(c, "/runs/"+run.ID)
}

func (s *server) runPageSignal(c *fiber.Ctx) error {
	rs, err := s.runs()
	if err != nil {
		return err
	}
	id, name := c.Params("id"), strings.TrimSpace(c.FormValue("name"))
	var payload any
	if raw := strings.TrimSpace(c.FormValue("payload")); raw != "" {
		if err := json.Unmarshal([]byte(raw), &payload); err != nil {
			return models.Problems("invalid signal", []models.Problem{{Path: "payload", Message: "must be JSON: " + strings.TrimPrefix(err.Error(), "json: ")}})
		}
	}
	if err := rs.Signal(c.UserContext(), id, name, payload, actorOf(c)); err != nil {
		return err
	}
	s.audit(c, principalOf(c).user.Name, auditRunSignalled, "run:"+id, map[string]any{"signal": name})
	return s.liveAfter(c, rs, id)
}
