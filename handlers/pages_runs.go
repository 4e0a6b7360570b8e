package handlers

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/views"
)

// The runs pages: the list of runs (this file), the start form
// (pages_runstart.go) and one run's page with its actions (pages_run.go,
// its timeline in pages_run_gantt.go).

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

// shortRunID is the end of a run ID: ULIDs of runs started together share
// their leading (time) part, so the end is what tells them apart.
func shortRunID(id string) string {
	if len(id) <= 8 {
		return id
	}
	return id[len(id)-8:]
}

// pretty is v as indented JSON for people.
func runPretty(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// csrfOf is the session's CSRF token, for forms that also work without htmx.
func pageCSRF(c *fiber.Ctx) string {
	if p := principalOf(c); p != nil && p.session != nil {
		return p.session.CSRFToken
	}
	return ""
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
