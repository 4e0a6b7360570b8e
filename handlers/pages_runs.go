package handlers

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/views"
)

func (s *server) runPageRoutes() []route {
	return []route{
		{fiber.MethodGet, "/runs", models.RoleViewer, s.runsPage},
		{fiber.MethodGet, "/runs/rows", models.RoleViewer, s.runsRows},
		{fiber.MethodGet, "/runs/start", models.RoleViewer, s.startPage},
		{fiber.MethodPost, "/runs/start", models.RoleViewer, s.startSubmit},
		{fiber.MethodGet, "/runs/:id", models.RoleViewer, s.runPage},
		{fiber.MethodGet, "/runs/:id/live", models.RoleViewer, s.runLive},
		{fiber.MethodPost, "/runs/:id/cancel", models.RoleViewer, s.runPageCancel},
		{fiber.MethodPost, "/runs/:id/retry", models.RoleViewer, s.runPageRetry},
		{fiber.MethodPost, "/runs/:id/rerun", models.RoleViewer, s.runPageRerun},
		{fiber.MethodPost, "/runs/:id/signal", models.RoleViewer, s.runPageSignal},
	}
}

// runPageSize is how many runs one page of the list shows.
const runPageSize = 50

// attemptLoader reads every attempt of a run, with inputs; *store.Store
// satisfies it. It is optional: without it the run page shows each step's
// latest state only.
type attemptLoader interface {
	LoadRun(ctx context.Context, id string) (*models.RunSnapshot, error)
}

// runsView reads the filters and the first page of runs.
func (s *server) runsView(c *fiber.Ctx) (views.RunsView, error) {
	v := views.RunsView{Status: c.Query("status"), Template: c.Query("template")}
	rs, err := s.runs()
	if err != nil {
		// The page still explains itself on a server without the engine.
		v.Unavailable = errMessage(err)
		return v, nil
	}
	if v.Status != "" && !knownRunStatus(models.RunStatus(v.Status)) {
		return v, models.Problems("invalid filter", []models.Problem{{Path: "status", Message: "unknown run status " + strconv.Quote(v.Status)}})
	}
	f := models.RunFilter{Template: v.Template, Before: c.Query("before"), Limit: runPageSize + 1}
	if v.Status != "" {
		f.Statuses = []models.RunStatus{models.RunStatus(v.Status)}
	}
	runs, err := rs.ListRuns(c.UserContext(), f)
	if err != nil {
		return v, err
	}
	q := url.Values{}
	if v.Status != "" {
		q.Set("status", v.Status)
	}
	if v.Template != "" {
		q.Set("template", v.Template)
	}
	if len(runs) > runPageSize {
		runs = runs[:runPageSize]
		nq := url.Values{"before": {runs[runPageSize-1].ID}}
		for k, vals := range q {
			nq[k] = vals
		}
		v.NextURL = "/runs?" + nq.Encode()
	}
	v.RowsURL = "/runs/rows"
	if len(q) > 0 {
		v.RowsURL += "?" + q.Encode()
	}
	if b := c.Query("before"); b != "" {
		// An older page stays where it is: live refresh would jump back to the newest runs.
		v.RowsURL = ""
	}
	// People know templates by name; the key stays as secondary text.
	names := map[string]string{}
	if ts, err := s.templates(); err == nil {
		page, err := ts.ListTemplates(c.UserContext(), models.TemplateFilter{Limit: 500})
		if err != nil {
			return v, err
		}
		for _, t := range page.Templates {
			v.Templates = append(v.Templates, t.Key)
			names[t.Key] = t.Name
		}
	}
	u := principalOf(c).user
	for _, r := range runs {
		v.Rows = append(v.Rows, views.RunRow{
			ID: r.ID, Template: r.Template, TemplateName: cmp.Or(names[r.Template], r.Template), Version: r.Version, Status: string(r.Status), Trigger: r.Trigger,
			StartedBy: r.StartedBy, Created: views.FormatTime(r.CreatedAt), Duration: runDuration(r.DurationMs), Test: r.Test,
			CanRetry: retryable(r.Status) && canOperate(u, r),
		})
	}
	v.CanStart = u.Can(models.RoleOperator) || u.Can(models.RoleDesigner)
	return v, nil
}

func (s *server) runsPage(c *fiber.Ctx) error {
	v, err := s.runsView(c)
	if err != nil {
		return err
	}
	return s.page(c, http.StatusOK, "Runs", "runs", views.Runs(v))
}

// runsRows is the list fragment: the filter form and the live refresh ask for it.
func (s *server) runsRows(c *fiber.Ctx) error {
	v, err := s.runsView(c)
	if err != nil {
		return err
	}
	// Keep the address bar in step with the filters, so a reload or a
	// shared link shows the same list.
	c.Set("HX-Replace-Url", strings.Replace(cmp.Or(v.RowsURL, "/runs/rows"), "/runs/rows", "/runs", 1))
	return s.render(c, http.StatusOK, views.RunRows(v))
}

// retryable says whether a run in this status can retry its failed steps.
func retryable(st models.RunStatus) bool {
	return st == models.RunFailed || st == models.RunTimedOut || st == models.RunCancelled
}

// runDuration renders a duration in milliseconds for people; below 10 ms
// with a decimal, so a fast run does not read "0 ms".
func runDuration(ms *float64) string {
	if ms == nil {
		return ""
	}
	d := time.Duration(*ms * float64(time.Millisecond))
	switch {
	case d < 10*time.Millisecond:
		return strconv.FormatFloat(*ms, 'f', 1, 64) + " ms"
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	default:
		return d.Round(time.Second).String()
	}
}

// startView fills the start form of template key (or the template chooser).
func (s *server) startView(c *fiber.Ctx, key string, version int) (views.StartView, error) {
	v := views.StartView{Template: key, CSRF: pageCSRF(c)}
	ts, err := s.templates()
	if err != nil {
		return v, err
	}
	u := principalOf(c).user
	if key == "" {
		page, err := ts.ListTemplates(c.UserContext(), models.TemplateFilter{Limit: 500})
		if err != nil {
			return v, err
		}
		for _, t := range page.Templates {
			if (t.LatestApprovedVersion > 0 && u.Can(models.RoleOperator)) || u.Can(models.RoleDesigner) {
				v.Templates = append(v.Templates, t.Key)
			}
		}
		return v, nil
	}
	t, err := ts.Template(c.UserContext(), key)
	if err != nil {
		return v, err
	}
	v.TemplateName = t.Name
	if t.LatestApprovedVersion > 0 && u.Can(models.RoleOperator) {
		v.Versions = append(v.Versions, views.StartVersion{Number: t.LatestApprovedVersion, Label: fmt.Sprintf("v%d — latest approved", t.LatestApprovedVersion)})
	}
	if u.Can(models.RoleDesigner) && t.LatestVersion != t.LatestApprovedVersion {
		v.Versions = append(v.Versions, views.StartVersion{Number: t.LatestVersion, Label: fmt.Sprintf("v%d — test run of the %s version", t.LatestVersion, strings.ReplaceAll(string(t.LatestStatus), "_", " "))})
	}
	if len(v.Versions) == 0 {
		if t.LatestApprovedVersion == 0 {
			v.Error = "This template has no approved version yet, so it cannot run: submit a version for review and have it approved first."
		} else {
			v.Error = "Starting runs needs the operator role (designers may test-run versions that are not approved)."
		}
		return v, nil
	}
	v.Version = v.Versions[0].Number
	for _, o := range v.Versions {
		if o.Number == version {
			v.Version = version
		}
	}
	ver, err := ts.TemplateVersion(c.UserContext(), key, v.Version)
	if err != nil {
		return v, err
	}
	names := make([]string, 0, len(ver.Definition.Inputs))
	for name := range ver.Definition.Inputs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		d := ver.Definition.Inputs[name]
		in := views.StartInput{Name: name, Type: d.Type, Required: d.Required, Description: d.Description}
		if d.Default != nil {
			switch x := d.Default.(type) {
			case string:
				in.Value = x
			case bool:
				in.Checked = x
			default:
				if b, err := json.Marshal(x); err == nil {
					in.Value = string(b)
				}
			}
		}
		v.Inputs = append(v.Inputs, in)
	}
	return v, nil
}

// csrfOf is the session's CSRF token, for forms that also work without htmx.
func pageCSRF(c *fiber.Ctx) string {
	if p := principalOf(c); p != nil && p.session != nil {
		return p.session.CSRFToken
	}
	return ""
}

func (s *server) startPage(c *fiber.Ctx) error {
	n, _ := strconv.Atoi(c.Query("version"))
	v, err := s.startView(c, c.Query("template"), n)
	if err != nil {
		return err
	}
	return s.page(c, http.StatusOK, "Start a run", "runs", views.StartRun(v))
}

// parseInput converts one form field to its declared type.
func parseInput(typ, raw string) (any, error) {
	switch typ {
	case models.TypeNumber:
		f, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil {
			return nil, fmt.Errorf("must be a number, such as 3 or 2.5")
		}
		return f, nil
	case models.TypeInteger:
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("must be a whole number, such as 3")
		}
		return n, nil
	case models.TypeObject, models.TypeArray:
		var x any
		if err := json.Unmarshal([]byte(raw), &x); err != nil {
			return nil, fmt.Errorf("must be JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
		}
		return x, nil
	}
	return raw, nil
}

func (s *server) startSubmit(c *fiber.Ctx) error {
	rs, err := s.runs()
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(c.FormValue("version"))
	v, err := s.startView(c, c.FormValue("template"), n)
	if err != nil {
		return err
	}
	if v.Template == "" {
		return models.Problems("choose a template", []models.Problem{{Path: "template", Message: "is required"}})
	}
	if len(v.Versions) == 0 {
		status := http.StatusForbidden
		if t, err := s.deps.Templates.Template(c.UserContext(), v.Template); err == nil && t.LatestApprovedVersion == 0 {
			status = http.StatusConflict
		}
		return s.render(c, status, views.StartForm(v))
	}
	inputs := map[string]any{}
	bad := false
	for i := range v.Inputs {
		in := &v.Inputs[i]
		raw := c.FormValue("in." + in.Name)
		if in.Type == models.TypeBoolean {
			in.Checked = raw == "true"
			inputs[in.Name] = in.Checked
			continue
		}
		in.Value = raw
		if strings.TrimSpace(raw) == "" {
			if in.Required {
				in.Error = "is required"
				bad = true
			}
			continue
		}
		x, err := parseInput(in.Type, raw)
		if err != nil {
			in.Error = err.Error()
			bad = true
			continue
		}
		inputs[in.Name] = x
	}
	if bad {
		return s.render(c, http.StatusUnprocessableEntity, views.StartForm(v))
	}
	u := principalOf(c).user
	run, err := rs.Start(c.UserContext(), models.RunRequest{
		Template: v.Template, Version: v.Version, Inputs: inputs, Trigger: models.TriggerManual, StartedBy: u.Name,
		AllowApproved: u.Can(models.RoleOperator), AllowDraft: u.Can(models.RoleDesigner),
	})
	if err != nil {
		if code := models.ErrorCode(err); code == models.Invalid || code == models.Conflict || code == models.Forbidden {
			// Show the engine's findings next to their fields.
			v.Error = errMessage(err)
			for _, p := range models.ErrorDetails(err) {
				placed := false
				for i := range v.Inputs {
					if p.Path == "inputs."+v.Inputs[i].Name {
						v.Inputs[i].Error = p.Message
						placed = true
					}
				}
				if !placed {
					v.Error += "; " + p.String()
				}
			}
			return s.render(c, http.StatusUnprocessableEntity, views.StartForm(v))
		}
		return err
	}
	return s.redirectPage(c, "/runs/"+run.ID)
}

// goTo sends the browser to path: through htmx's HX-Redirect, or a 303
// for a plain form post.
func (s *server) redirectPage(c *fiber.Ctx, path string) error {
	if isHTMX(c) {
		c.Set("HX-Redirect", path)
		return c.SendStatus(http.StatusNoContent)
	}
	return c.Redirect(path, http.StatusSeeOther)
}

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
	// The version's definition: the read-only canvas, the signals the run
	// may wait for, and which steps are forEach (parallel) steps.
	var def *models.Definition
	if ts, err := s.templates(); err == nil {
		if ver, err := ts.TemplateVersion(ctx, run.Template, run.Version); err == nil {
			def = &ver.Definition
		}
	}
	var attempts []models.StepRunRow
	if al, ok := s.deps.Templates.(attemptLoader); ok {
		if snap, err := al.LoadRun(ctx, id); err == nil {
			attempts = snap.StepRuns
		}
	}
	if def != nil && def.Name != "" {
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
		}
		if st.Output != nil {
			sv.Output = runPretty(st.Output)
		}
		if st.Error != nil {
			sv.Error = st.Error.Code + ": " + st.Error.Message
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
		if def != nil {
			if i := slices.IndexFunc(def.Steps, func(d models.Step) bool { return d.ID == st.ID }); i >= 0 && def.Steps[i].Type == models.StepParallel {
				sv.ForEach = true
				sv.Items = itemCounts(st, attempts, retryPolicy(def, def.Steps[i]))
			}
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
	if def != nil {
		if b, err := json.Marshal(def); err == nil {
			v.Definition = string(b)
		}
		for _, st := range def.Steps {
			if st.Action.Signal != "" && !slices.Contains(v.Signals, st.Action.Signal) {
				v.Signals = append(v.Signals, st.Action.Signal)
			}
		}
	}
	return v, nil
}

// retryPolicy is the policy a step's attempts run under: the step's own,
// else the workflow's, else one attempt (the engine's default).
func retryPolicy(def *models.Definition, st models.Step) models.RetryPolicy {
	var p models.RetryPolicy
	if def.RetryPolicy != nil {
		p = *def.RetryPolicy
	}
	if st.RetryPolicy != nil {
		p.MaxAttempts = cmp.Or(st.RetryPolicy.MaxAttempts, p.MaxAttempts)
		p.NonRetryable = append(slices.Clone(p.NonRetryable), st.RetryPolicy.NonRetryable...)
	}
	p.MaxAttempts = max(p.MaxAttempts, 1)
	return p
}

// itemCounts counts a forEach step's finished elements for the labels on
// its outgoing edges: the step's output {succeeded, failed} once it has
// one (the run record), else, while it runs, the latest attempt of each
// element so far, where a failed attempt that will be retried does not
// count yet. nil until an element has finished.
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
		case a.Status == models.StepFailed && a.Error != nil && a.Error.Retryable && a.Attempt < policy.MaxAttempts &&
			!slices.Contains(policy.NonRetryable, a.Error.Code):
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

// shortRunID is the end of a run ID: ULIDs of runs started together share
// their leading (time) part, so the end is what tells them apart.
func shortRunID(id string) string {
	if len(id) <= 8 {
		return id
	}
	return id[len(id)-8:]
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

// gantt lays out a run's attempts on a timeline 800 units wide; without
// attempt rows it uses each step's own start and finish. Rows follow the
// steps' start order (steps sorted by stepsInRunOrder); steps that have not
// started get an empty row at the end, so the chart lists the whole workflow.
func gantt(run models.Run, steps []models.StepState, def *models.Definition, attempts []models.StepRunRow) views.GanttView {
	const width = 800.0
	g := views.GanttView{Width: width}
	if run.StartedAt == nil {
		return g
	}
	start := *run.StartedAt
	end := time.Now()
	if run.FinishedAt != nil {
		end = *run.FinishedAt
	}
	type span struct {
		row      int
		label    string
		from, to time.Time
		status   string
		title    string
	}
	var spans []span
	rows := map[string]int{}
	rowOf := func(label, stepID string) int {
		if r, ok := rows[label]; ok {
			return r
		}
		name := cmp.Or(stepName(def, stepID), stepID)
		if label != stepID { // a compensation row
			name += " (compensation)"
		}
		rows[label] = len(g.Labels)
		g.Labels = append(g.Labels, views.GanttLabel{Name: name, ID: label})
		return rows[label]
	}
	order := definitionOrder(def)
	finish := func(t *time.Time) time.Time {
		if t == nil {
			return end
		}
		return *t
	}
	if len(attempts) > 0 {
		// Rows in the order steps started, so the chart reads top to bottom.
		attempts = slices.Clone(attempts)
		slices.SortStableFunc(attempts, func(x, y models.StepRunRow) int {
			switch {
			case x.StartedAt == nil && y.StartedAt == nil:
				return 0
			case x.StartedAt == nil:
				return 1
			case y.StartedAt == nil:
				return -1
			case x.StartedAt.Before(*y.StartedAt):
				return -1
			case y.StartedAt.Before(*x.StartedAt):
				return 1
			}
			if x.Order != y.Order {
				return x.Order - y.Order
			}
			return cmp.Compare(order(x.StepID), order(y.StepID))
		})
		for _, a := range attempts {
			if a.StartedAt == nil {
				continue
			}
			label := a.StepID
			if a.Compensation {
				label += " (compensation)"
			}
			to := finish(a.FinishedAt)
			spans = append(spans, span{rowOf(label, a.StepID), label, *a.StartedAt, to, string(a.Status),
				fmt.Sprintf("%s attempt %d: %s, %s", a.StepID, a.Attempt, a.Status, to.Sub(*a.StartedAt).Round(time.Millisecond))})
		}
	} else {
		for _, st := range steps {
			if st.StartedAt == nil {
				continue
			}
			to := finish(st.FinishedAt)
			spans = append(spans, span{rowOf(st.ID, st.ID), st.ID, *st.StartedAt, to, string(st.Status),
				fmt.Sprintf("%s: %s, %s", st.ID, st.Status, to.Sub(*st.StartedAt).Round(time.Millisecond))})
		}
	}
	for _, st := range steps {
		if st.StartedAt == nil {
			rowOf(st.ID, st.ID)
		}
	}
	for _, sp := range spans {
		if sp.to.After(end) {
			end = sp.to
		}
	}
	total := end.Sub(start)
	if total <= 0 {
		total = time.Millisecond
	}
	g.Span = total.Round(time.Millisecond).String()
	for _, sp := range spans {
		x := width * float64(sp.from.Sub(start)) / float64(total)
		w := width * float64(sp.to.Sub(sp.from)) / float64(total)
		// A bar stays visible however short the attempt.
		g.Bars = append(g.Bars, views.GanttBar{Row: sp.row, Label: sp.label, X: max(x, 0), W: max(w, 3), Status: sp.status, Title: sp.title})
	}
	return g
}

// pretty is v as indented JSON for people.
func runPretty(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
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
	run, err := s.operable(c, rs)
	if err != nil {
		return err
	}
	if err := rs.Cancel(c.UserContext(), run.ID); err != nil {
		return err
	}
	s.audit(c, principalOf(c).user.Name, auditRunCancelled, "run:"+run.ID, nil)
	return s.liveAfter(c, rs, run.ID)
}

func (s *server) runPageRetry(c *fiber.Ctx) error {
	rs, err := s.runs()
	if err != nil {
		return err
	}
	run, err := s.operable(c, rs)
	if err != nil {
		return err
	}
	again, err := rs.Retry(c.UserContext(), run.ID)
	if err != nil {
		return err
	}
	s.audit(c, principalOf(c).user.Name, auditRunRetried, "run:"+again.ID, nil)
	if c.FormValue("from") == "list" {
		// The runs list follows the retried run through its own stream.
		return c.SendStatus(http.StatusNoContent)
	}
	if again.ID != run.ID {
		return s.redirectPage(c, "/runs/"+again.ID)
	}
	// The same run continues: reload the page so its event stream reconnects.
	c.Set("HX-Refresh", "true")
	return s.liveAfter(c, rs, run.ID)
}

func (s *server) runPageRerun(c *fiber.Ctx) error {
	rs, err := s.runs()
	if err != nil {
		return err
	}
	old, err := s.operable(c, rs)
	if err != nil {
		return err
	}
	req := models.RerunRequest{From: c.FormValue("from"), StartedBy: principalOf(c).user.Name}
	switch c.FormValue("version") {
	case "", "same":
	case "latest":
		if old.Test && !principalOf(c).user.Can(models.RoleOperator) {
			return models.Errorf(models.Forbidden, "re-running on the latest approved version needs the operator role")
		}
		req.Latest = true
	default:
		return models.Problems("invalid rerun request", []models.Problem{{Path: "version", Message: `must be "same" or "latest"`}})
	}
	if req.From != "" && !slices.ContainsFunc(old.Steps, func(st models.StepState) bool { return st.ID == req.From }) && !req.Latest {
		return models.Problems("invalid rerun request", []models.Problem{{Path: "from", Message: "the run has no step " + strconv.Quote(req.From)}})
	}
	run, err := rs.Rerun(c.UserContext(), old.ID, req)
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
	run, err := s.operable(c, rs)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(c.FormValue("name"))
	if name == "" {
		return models.Problems("invalid signal", []models.Problem{{Path: "name", Message: "is required"}})
	}
	var payload any
	if raw := strings.TrimSpace(c.FormValue("payload")); raw != "" {
		if err := json.Unmarshal([]byte(raw), &payload); err != nil {
			return models.Problems("invalid signal", []models.Problem{{Path: "payload", Message: "must be JSON: " + strings.TrimPrefix(err.Error(), "json: ")}})
		}
	}
	if err := rs.Signal(c.UserContext(), run.ID, name, payload); err != nil {
		return err
	}
	s.audit(c, principalOf(c).user.Name, auditRunSignalled, "run:"+run.ID, map[string]any{"signal": name})
	return s.liveAfter(c, rs, run.ID)
}
