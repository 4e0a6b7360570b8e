package handlers

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/models"
)

// Insight: analytics over stored runs, saved reports and the decision
// records export (shared/spec/insight.md). Every figure comes from the
// store (rollups plus runs not yet counted); nothing here counts.
func (s *server) insightRoutes() []route {
	return []route{
		{fiber.MethodGet, "/api/v1/analytics/summary", models.RoleViewer, s.analyticsSummary},
		{fiber.MethodGet, "/api/v1/analytics/series", models.RoleViewer, s.analyticsSeries},
		{fiber.MethodGet, "/api/v1/analytics/steps", models.RoleViewer, s.analyticsSteps},
		{fiber.MethodGet, "/api/v1/analytics/decisions", models.RoleViewer, s.analyticsDecisions},
		{fiber.MethodGet, "/api/v1/analytics/decisions/export", models.RoleViewer, s.decisionsExport},
		{fiber.MethodGet, "/api/v1/analytics/usage", models.RoleViewer, s.analyticsUsage},
		{fiber.MethodGet, "/api/v1/analytics/approvals", models.RoleViewer, s.analyticsApprovals},
		{fiber.MethodPost, "/api/v1/reports", models.RoleViewer, s.createReport},
		{fiber.MethodGet, "/api/v1/reports", models.RoleViewer, s.listReports},
		{fiber.MethodGet, "/api/v1/reports/:id", models.RoleViewer, s.getReport},
		{fiber.MethodPut, "/api/v1/reports/:id", models.RoleViewer, s.updateReport},
		{fiber.MethodDelete, "/api/v1/reports/:id", models.RoleViewer, s.deleteReport},
		{fiber.MethodGet, "/api/v1/reports/:id/data", models.RoleViewer, s.reportData},
	}
}

// InsightStore answers analytics and keeps reports; *store.Store satisfies
// it.
type InsightStore interface {
	AnalyticsSummary(ctx context.Context, f models.AnalyticsFilter) (models.AnalyticsSummary, error)
	AnalyticsSeries(ctx context.Context, f models.AnalyticsFilter, q models.SeriesQuery) (models.Series, error)
	AnalyticsSteps(ctx context.Context, f models.AnalyticsFilter) ([]models.StepStats, error)
	AnalyticsDecisions(ctx context.Context, f models.AnalyticsFilter) ([]models.DecisionStats, error)
	DecisionRecords(ctx context.Context, f models.AnalyticsFilter, fn func(models.DecisionRecord) error) error
	AnalyticsUsage(ctx context.Context, f models.AnalyticsFilter) (models.Usage, error)
	AnalyticsApprovals(ctx context.Context, f models.AnalyticsFilter) (models.ApprovalStats, error)

	CreateReport(ctx context.Context, r *models.Report) error
	ReportByID(ctx context.Context, id int64) (*models.Report, error)
	ListReports(ctx context.Context) ([]models.Report, error)
	UpdateReport(ctx context.Context, r *models.Report) error
	DeleteReport(ctx context.Context, id int64) error

	RunCounts(ctx context.Context) (map[models.RunStatus]int64, error)
	OpenConnections() int
}

func (s *server) insight() (InsightStore, error) {
	if s.deps.Insight == nil {
		return nil, models.Errorf(models.Unavailable, "analytics are not available in this server")
	}
	return s.deps.Insight, nil
}

// triggers a filter may name.
var triggerNames = []string{models.TriggerManual, models.TriggerAPI, models.TriggerWebhook, models.TriggerSchedule,
	models.TriggerCLI, "subworkflow", models.TriggerRerun}

// maxRange bounds an analytics range.
const maxRange = 5 * 366 * 24 * time.Hour

// analyticsFilter reads the common query parameters of the spec; a bad
// one is a 400 naming it.
func (s *server) analyticsFilter(c *fiber.Ctx) (models.AnalyticsFilter, error) {
	var f models.AnalyticsFilter
	var probs []models.Problem
	bad := func(path, msg string) { probs = append(probs, models.Problem{Path: path, Message: msg}) }
	now := s.now()
	f.To = now
	if v := c.Query("to"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			bad("to", "must be an RFC 3339 time such as 2026-03-01T00:00:00Z")
		}
		f.To = t.UTC()
	}
	f.From = f.To.Add(-7 * 24 * time.Hour)
	if v := c.Query("from"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			bad("from", "must be an RFC 3339 time such as 2026-03-01T00:00:00Z")
		}
		f.From = t.UTC()
	}
	if len(probs) == 0 && !f.From.Before(f.To) {
		bad("from", "must be before to")
	}
	if f.To.Sub(f.From) > maxRange {
		bad("from", "the range may span at most five years")
	}
	f.Template = c.Query("template")
	if v := c.Query("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			bad("version", "must be a version number (1, 2, …)")
		}
		f.Version = n
	}
	if v := c.Query("trigger"); v != "" {
		if !slices.Contains(triggerNames, v) {
			bad("trigger", "must be one of "+strings.Join(triggerNames, ", "))
		}
		f.Trigger = v
	}
	if v := c.Query("status"); v != "" {
		if !models.RunStatus(v).Final() {
			bad("status", "must be a final run status: succeeded, failed, cancelled, timed_out or rolled_back")
		}
		f.Status = models.RunStatus(v)
	}
	f.User = c.Query("user")
	if v := c.Query("test"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad("test", "must be true or false")
		}
		f.Test = b
	}
	if v := c.Query("tz"); v != "" {
		loc, err := time.LoadLocation(v)
		if err != nil || v == "Local" {
			bad("tz", "must be an IANA time zone such as Europe/Paris")
		} else {
			f.Loc = loc
		}
	}
	if len(probs) > 0 {
		return f, &models.Error{Code: models.BadRequest, Message: "bad query parameters", Details: probs}
	}
	return f, nil
}

func (s *server) analyticsSummary(c *fiber.Ctx) error {
	is, err := s.insight()
	if err != nil {
		return err
	}
	f, err := s.analyticsFilter(c)
	if err != nil {
		return err
	}
	out, err := is.AnalyticsSummary(c.UserContext(), f)
	if err != nil {
		return err
	}
	return c.JSON(out)
}

func (s *server) analyticsSeries(c *fiber.Ctx) error {
	is, err := s.insight()
	if err != nil {
		return err
	}
	f, err := s.analyticsFilter(c)
	if err != nil {
		return err
	}
	q := models.SeriesQuery{Metric: c.Query("metric", models.MetricRuns), Bucket: c.Query("bucket", models.BucketDay), GroupBy: c.Query("groupBy")}
	out, err := is.AnalyticsSeries(c.UserContext(), f, q)
	if err != nil {
		return badQuery(err)
	}
	if c.Query("format") == "csv" {
		return sendSeriesCSV(c, out, "series.csv")
	}
	return c.JSON(out)
}

// badQuery answers a query's Invalid problems as 400: they are the
// caller's parameters, not a body.
func badQuery(err error) error {
	var e *models.Error
	if errors.As(err, &e) && e.Code == models.Invalid {
		return &models.Error{Code: models.BadRequest, Message: e.Message, Details: e.Details}
	}
	return err
}

// sendSeriesCSV writes a series as CSV: one row per line and bucket.
func sendSeriesCSV(c *fiber.Ctx, sr models.Series, name string) error {
	var b strings.Builder
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"key", "t", sr.Metric})
	for _, l := range sr.Series {
		for _, p := range l.Points {
			v := ""
			if p.V != nil {
				v = strconv.FormatFloat(*p.V, 'f', -1, 64)
			}
			_ = w.Write([]string{csvSafe(l.Key), p.T.Format(time.RFC3339), v})
		}
	}
	w.Flush()
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	return c.SendString(b.String())
}

// csvSafe keeps a spreadsheet from reading a cell as a formula.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

func (s *server) analyticsSteps(c *fiber.Ctx) error {
	is, err := s.insight()
	if err != nil {
		return err
	}
	f, err := s.analyticsFilter(c)
	if err != nil {
		return err
	}
	out, err := is.AnalyticsSteps(c.UserContext(), f)
	if err != nil {
		return badQuery(err)
	}
	return c.JSON(fiber.Map{"steps": out})
}

func (s *server) analyticsDecisions(c *fiber.Ctx) error {
	is, err := s.insight()
	if err != nil {
		return err
	}
	f, err := s.analyticsFilter(c)
	if err != nil {
		return err
	}
	out, err := is.AnalyticsDecisions(c.UserContext(), f)
	if err != nil {
		return badQuery(err)
	}
	return c.JSON(fiber.Map{"decisions": out})
}

func (s *server) analyticsUsage(c *fiber.Ctx) error {
	is, err := s.insight()
	if err != nil {
		return err
	}
	f, err := s.analyticsFilter(c)
	if err != nil {
		return err
	}
	out, err := is.AnalyticsUsage(c.UserContext(), f)
	if err != nil {
		return err
	}
	return c.JSON(out)
}

func (s *server) analyticsApprovals(c *fiber.Ctx) error {
	is, err := s.insight()
	if err != nil {
		return err
	}
	f, err := s.analyticsFilter(c)
	if err != nil {
		return err
	}
	out, err := is.AnalyticsApprovals(c.UserContext(), f)
	if err != nil {
		return err
	}
	return c.JSON(out)
}

// exportTimeout bounds one decision export.
const exportTimeout = 10 * time.Minute

// decisionsExport streams one record per evaluation as CSV or JSON Lines.
func (s *server) decisionsExport(c *fiber.Ctx) error {
	is, err := s.insight()
	if err != nil {
		return err
	}
	f, err := s.analyticsFilter(c)
	if err != nil {
		return err
	}
	if f.Template == "" {
		return &models.Error{Code: models.BadRequest, Message: "a template is required",
			Details: []models.Problem{{Path: "template", Message: "name the template whose decisions to export"}}}
	}
	format := c.Query("format", "csv")
	if format != "csv" && format != "jsonl" {
		return &models.Error{Code: models.BadRequest, Message: "format must be csv or jsonl",
			Details: []models.Problem{{Path: "format", Message: "must be csv or jsonl"}}}
	}
	name := fmt.Sprintf("decisions-%s.%s", strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < ' ' {
			return '_'
		}
		return r
	}, f.Template), format)
	if format == "csv" {
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	} else {
		c.Set(fiber.HeaderContentType, "application/x-ndjson")
	}
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	ctx, log := s.streamContext(), s.logOf(c)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		ctx, cancel := context.WithTimeout(ctx, exportTimeout)
		defer cancel()
		cw := csv.NewWriter(w)
		if format == "csv" {
			_ = cw.Write([]string{"run_id", "template", "version", "step", "at", "outcome", "run_status", "read", "inputs"})
		}
		err := is.DecisionRecords(ctx, f, func(r models.DecisionRecord) error {
			if format == "jsonl" {
				b, err := json.Marshal(r)
				if err != nil {
					return err
				}
				_, _ = w.Write(b)
				return w.WriteByte('\n')
			}
			read, _ := json.Marshal(r.Read)
			in, _ := json.Marshal(r.Inputs)
			at := ""
			if r.At != nil {
				at = r.At.Format(time.RFC3339Nano)
			}
			_ = cw.Write([]string{r.RunID, csvSafe(r.Template), strconv.Itoa(r.Version), csvSafe(r.Step), at, csvSafe(r.Outcome), string(r.RunStatus), string(read), string(in)})
			return cw.Error()
		})
		cw.Flush()
		if err != nil && ctx.Err() == nil {
			log.Error("decision export failed", "err", err)
		}
		_ = w.Flush()
	})
	return nil
}

// reportIn is the body of POST and PUT /api/v1/reports.
type reportIn struct {
	Name        string             `json:"name"`
	Description string             `json:"description"`
	Query       models.ReportQuery `json:"query"`
	Chart       string             `json:"chart"`
	SharedWith  []models.Role      `json:"sharedWith"`
}

// checkReport lists every problem of a report, by path.
func checkReport(in *reportIn) error {
	var probs []models.Problem
	bad := func(path, msg string) { probs = append(probs, models.Problem{Path: path, Message: msg}) }
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len(in.Name) > 200 {
		bad("name", "a name of 1 to 200 characters is required")
	}
	if len(in.Description) > 2000 {
		bad("description", "at most 2000 characters")
	}
	q := &in.Query
	if q.Metric == "" {
		q.Metric = models.MetricRuns
	}
	if q.Bucket == "" {
		q.Bucket = models.BucketDay
	}
	if !slices.Contains(models.Metrics, q.Metric) {
		bad("query.metric", "must be one of "+strings.Join(models.Metrics, ", "))
	}
	if !slices.Contains(models.Buckets, q.Bucket) {
		bad("query.bucket", "must be one of "+strings.Join(models.Buckets, ", "))
	}
	if q.GroupBy != "" && !slices.Contains(models.Groups, q.GroupBy) {
		bad("query.groupBy", "must be one of "+strings.Join(models.Groups, ", "))
	}
	if v := q.Filters.Trigger; v != "" && !slices.Contains(triggerNames, v) {
		bad("query.filters.trigger", "must be one of "+strings.Join(triggerNames, ", "))
	}
	if v := q.Filters.Status; v != "" && !models.RunStatus(v).Final() {
		bad("query.filters.status", "must be a final run status")
	}
	if q.Filters.Version < 0 {
		bad("query.filters.version", "must be a version number")
	}
	if _, _, err := q.Range.Resolve(time.Now()); err != nil {
		bad("query.range", `want "30d", "12h", "2w" or {"from", "to"} with from before to`)
	}
	if q.TZ != "" {
		if _, err := time.LoadLocation(q.TZ); err != nil || q.TZ == "Local" {
			bad("query.tz", "must be an IANA time zone such as Europe/Paris")
		}
	}
	if in.Chart == "" {
		in.Chart = models.ChartLine
	}
	if !slices.Contains(models.Charts, in.Chart) {
		bad("chart", "must be one of "+strings.Join(models.Charts, ", "))
	}
	for i, r := range in.SharedWith {
		if _, err := models.ParseRole(string(r)); err != nil {
			bad(fmt.Sprintf("sharedWith[%d]", i), "not a role")
		}
	}
	if len(probs) > 0 {
		return models.Problems("the report is not valid", probs)
	}
	return nil
}

// mayWriteReports: designers, operators and admins make reports.
func mayWriteReports(u *models.User) bool {
	return u.Can(models.RoleDesigner) || u.Can(models.RoleOperator) || u.Can(models.RoleAdmin)
}

func (s *server) createReport(c *fiber.Ctx) error {
	is, err := s.insight()
	if err != nil {
		return err
	}
	u := principalOf(c).user
	if !mayWriteReports(u) {
		return models.Errorf(models.Forbidden, "making reports needs the designer, operator or admin role")
	}
	var in reportIn
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := checkReport(&in); err != nil {
		return err
	}
	r := &models.Report{Owner: u.Name, Name: in.Name, Description: in.Description, Query: in.Query, Chart: in.Chart, SharedWith: in.SharedWith}
	if err := is.CreateReport(c.UserContext(), r); err != nil {
		return err
	}
	c.Set(fiber.HeaderLocation, "/api/v1/reports/"+strconv.FormatInt(r.ID, 10))
	return c.Status(fiber.StatusCreated).JSON(r)
}

func (s *server) listReports(c *fiber.Ctx) error {
	is, err := s.insight()
	if err != nil {
		return err
	}
	all, err := is.ListReports(c.UserContext())
	if err != nil {
		return err
	}
	u := principalOf(c).user
	out := []models.Report{}
	for _, r := range all {
		if r.CanRead(u) {
			out = append(out, r)
		}
	}
	return c.JSON(fiber.Map{"reports": out})
}

// readableReport loads a report the caller may read; one they may not is
// NotFound, so ids do not reveal others' reports.
func (s *server) readableReport(c *fiber.Ctx) (InsightStore, *models.Report, error) {
	is, err := s.insight()
	if err != nil {
		return nil, nil, err
	}
	id, err := pathID(c, "id")
	if err != nil {
		return nil, nil, err
	}
	r, err := is.ReportByID(c.UserContext(), id)
	if err != nil {
		return nil, nil, err
	}
	if !r.CanRead(principalOf(c).user) {
		return nil, nil, models.Errorf(models.NotFound, "report %d not found", id)
	}
	return is, r, nil
}

func (s *server) getReport(c *fiber.Ctx) error {
	_, r, err := s.readableReport(c)
	if err != nil {
		return err
	}
	return c.JSON(r)
}

func (s *server) updateReport(c *fiber.Ctx) error {
	is, r, err := s.readableReport(c)
	if err != nil {
		return err
	}
	if !r.CanEdit(principalOf(c).user) {
		return models.Errorf(models.Forbidden, "only the report's owner or an admin may change it")
	}
	var in reportIn
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := checkReport(&in); err != nil {
		return err
	}
	r.Name, r.Description, r.Query, r.Chart, r.SharedWith = in.Name, in.Description, in.Query, in.Chart, in.SharedWith
	if err := is.UpdateReport(c.UserContext(), r); err != nil {
		return err
	}
	return c.JSON(r)
}

func (s *server) deleteReport(c *fiber.Ctx) error {
	is, r, err := s.readableReport(c)
	if err != nil {
		return err
	}
	if !r.CanEdit(principalOf(c).user) {
		return models.Errorf(models.Forbidden, "only the report's owner or an admin may delete it")
	}
	if err := is.DeleteReport(c.UserContext(), r.ID); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// reportFilter turns a report's query into a filter and a series query.
func reportFilter(q models.ReportQuery, now time.Time) (models.AnalyticsFilter, models.SeriesQuery, error) {
	from, to, err := q.Range.Resolve(now)
	if err != nil {
		return models.AnalyticsFilter{}, models.SeriesQuery{}, err
	}
	f := models.AnalyticsFilter{From: from, To: to, Template: q.Filters.Template, Version: q.Filters.Version,
		Trigger: q.Filters.Trigger, Status: models.RunStatus(q.Filters.Status), Test: q.Filters.Test}
	if q.TZ != "" {
		loc, err := time.LoadLocation(q.TZ)
		if err != nil {
			return f, models.SeriesQuery{}, models.Errorf(models.Invalid, "tz %q is not a time zone", q.TZ)
		}
		f.Loc = loc
	}
	return f, models.SeriesQuery{Metric: q.Metric, Bucket: q.Bucket, GroupBy: q.GroupBy}, nil
}

func (s *server) reportData(c *fiber.Ctx) error {
	is, r, err := s.readableReport(c)
	if err != nil {
		return err
	}
	f, q, err := reportFilter(r.Query, s.now())
	if err != nil {
		return err
	}
	sr, err := is.AnalyticsSeries(c.UserContext(), f, q)
	if err != nil {
		return badQuery(err)
	}
	switch c.Query("format", "json") {
	case "csv":
		return sendSeriesCSV(c, sr, fmt.Sprintf("report-%d.csv", r.ID))
	case "json":
		return c.JSON(sr)
	}
	return &models.Error{Code: models.BadRequest, Message: "format must be json or csv",
		Details: []models.Problem{{Path: "format", Message: "must be json or csv"}}}
}
