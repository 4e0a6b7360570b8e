package handlers

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/views"
)

// The insight pages: /analytics (and a template's Analytics tab,
// /analytics?template=KEY) and the live /dashboard.
func (s *server) insightPageRoutes() []route {
	return []route{
		{fiber.MethodGet, "/analytics", models.RoleViewer, s.analyticsPage},
		{fiber.MethodGet, "/dashboard", models.RoleViewer, s.dashboardPage},
	}
}

// analyticsRanges are the ranges the page offers, with the bucket each
// is charted by.
var analyticsRanges = []struct {
	name   string
	span   time.Duration
	bucket string
}{
	{"24h", 24 * time.Hour, models.BucketHour},
	{"7d", 7 * 24 * time.Hour, models.BucketDay},
	{"30d", 30 * 24 * time.Hour, models.BucketDay},
	{"90d", 90 * 24 * time.Hour, models.BucketWeek},
}

func (s *server) analyticsPage(c *fiber.Ctx) error {
	is, err := s.insight()
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	v := views.AnalyticsView{Range: c.Query("range", "7d"), Template: c.Query("template"), TZ: c.Query("tz"),
		InsightJS: s.assets.url("insight.js"), InsightCSS: s.assets.url("insight.css")}
	span, bucket := time.Duration(0), ""
	for _, r := range analyticsRanges {
		v.Ranges = append(v.Ranges, r.name)
		if r.name == v.Range {
			span, bucket = r.span, r.bucket
		}
	}
	if span == 0 {
		return &models.Error{Code: models.BadRequest, Message: "unknown range",
			Details: []models.Problem{{Path: "range", Message: "must be 24h, 7d, 30d or 90d"}}}
	}
	v.Bucket = bucket
	v.Loc = time.UTC
	if v.TZ != "" {
		loc, err := time.LoadLocation(v.TZ)
		if err != nil || v.TZ == "Local" {
			return &models.Error{Code: models.BadRequest, Message: "unknown time zone",
				Details: []models.Problem{{Path: "tz", Message: "must be an IANA time zone such as Europe/Paris"}}}
		}
		v.Loc = loc
	}
	now := s.now()
	f := models.AnalyticsFilter{From: now.Add(-span), To: now, Template: v.Template, Loc: v.Loc}
	q := url.Values{"from": {f.From.Format(time.RFC3339)}, "to": {f.To.Format(time.RFC3339)}}
	if v.Template != "" {
		q.Set("template", v.Template)
	}
	if v.TZ != "" {
		q.Set("tz", v.TZ)
	}
	v.Query = q.Encode()
	if v.Summary, err = is.AnalyticsSummary(ctx, f); err != nil {
		return err
	}
	group := models.GroupTemplate
	if v.Template != "" {
		group = models.GroupVersion
	}
	if v.Runs, err = s.chartOf(c, is, f, "chart-runs", "Finished runs", "bar", models.SeriesQuery{Metric: models.MetricRuns, Bucket: bucket, GroupBy: group}, v.Query); err != nil {
		return err
	}
	if v.Rate, err = s.chartOf(c, is, f, "chart-rate", "Success rate", "line", models.SeriesQuery{Metric: models.MetricSuccessRate, Bucket: bucket, GroupBy: group}, v.Query); err != nil {
		return err
	}
	if v.Usage, err = is.AnalyticsUsage(ctx, f); err != nil {
		return err
	}
	if v.Approvals, err = is.AnalyticsApprovals(ctx, f); err != nil {
		return err
	}
	if v.Template != "" {
		if v.Steps, err = is.AnalyticsSteps(ctx, f); err != nil {
			return err
		}
		if v.Decisions, err = is.AnalyticsDecisions(ctx, f); err != nil {
			return err
		}
		var versions []int
		for _, l := range v.Runs.Series {
			if n, err := strconv.Atoi(l.Key); err == nil {
				versions = append(versions, n)
			}
		}
		sort.Sort(sort.Reverse(sort.IntSlice(versions)))
		for _, n := range versions {
			vf := f
			vf.Version = n
			sum, err := is.AnalyticsSummary(ctx, vf)
			if err != nil {
				return err
			}
			v.Versions = append(v.Versions, views.VersionFigures{Version: n, Summary: sum})
		}
		if len(versions) >= 2 {
			s.versionDiff(c, &v, versions[1], versions[0])
		}
	}
	v.Templates = s.templateKeys(c, v.Template)
	title := "Analytics"
	if v.Template != "" {
		title = "Analytics · " + v.Template
	}
	return s.page(c, http.StatusOK, title, "analytics", views.Analytics(v))
}

// versionDiff adds the structural change between two versions, when the
// template and the engine are at hand (runs of `baton run` have neither).
func (s *server) versionDiff(c *fiber.Ctx, v *views.AnalyticsView, from, to int) {
	if s.deps.Templates == nil || s.deps.Runs == nil {
		return
	}
	a, err := s.deps.Templates.TemplateVersion(c.UserContext(), v.Template, from)
	if err != nil {
		return
	}
	b, err := s.deps.Templates.TemplateVersion(c.UserContext(), v.Template, to)
	if err != nil {
		return
	}
	v.Diff, v.DiffFrom, v.DiffTo = s.deps.Runs.Diff(a.Definition, b.Definition), from, to
}

// templateKeys lists template keys for the filter (the first page of the
// templates list), with the selected one.
func (s *server) templateKeys(c *fiber.Ctx, selected string) []string {
	var out []string
	if s.deps.Templates != nil {
		if page, err := s.deps.Templates.ListTemplates(c.UserContext(), models.TemplateFilter{}); err == nil {
			for _, t := range page.Templates {
				out = append(out, t.Key)
			}
		}
	}
	if selected != "" && !slices.Contains(out, selected) {
		out = append(out, selected)
	}
	sort.Strings(out)
	return out
}

// chartOf computes one series for a chart and its table.
func (s *server) chartOf(c *fiber.Ctx, is InsightStore, f models.AnalyticsFilter, id, title, kind string, q models.SeriesQuery, query string) (views.ChartView, error) {
	sr, err := is.AnalyticsSeries(c.UserContext(), f, q)
	if err != nil {
		return views.ChartView{}, err
	}
	data, err := json.Marshal(sr)
	if err != nil {
		return views.ChartView{}, err
	}
	csv := "/api/v1/analytics/series?format=csv&metric=" + q.Metric + "&bucket=" + q.Bucket + "&groupBy=" + q.GroupBy + "&" + query
	return views.ChartView{ID: id, Title: title, Kind: kind, Metric: q.Metric, Series: sr.Series, Data: string(data), CSV: csv}, nil
}

func (s *server) dashboardPage(c *fiber.Ctx) error {
	m, err := s.monitorSample(c.UserContext())
	if err != nil {
		return err
	}
	ms := func(v *float64) string {
		if v == nil {
			return "–"
		}
		return strconv.FormatFloat(*v, 'f', 2, 64) + " ms"
	}
	v := views.DashboardView{Active: m.ActiveRuns, Waiting: m.WaitingRuns, Queued: m.QueuedSteps, Failures: m.FailuresLast5m,
		Starts: m.StartsPerSec, Finishes: m.FinishesPerSec, CommitP50: ms(m.CommitMs.P50), CommitP99: ms(m.CommitMs.P99),
		Database: m.Database, CPU: m.Process.CPUPercent, RSS: strconv.FormatFloat(float64(m.Process.RSSBytes)/(1<<20), 'f', 1, 64) + " MiB",
		Goroutines: m.Process.Goroutines, Connections: m.Process.OpenConnections,
		DevicesOnline: m.Devices.Online, DevicesOffline: m.Devices.Offline}
	return s.page(c, http.StatusOK, "Dashboard", "dashboard", views.Dashboard(v))
}

// The reports pages: the list, a report computed now, and the builder.
func (s *server) reportPageRoutes() []route {
	return []route{
		{fiber.MethodGet, "/reports", models.RoleViewer, s.reportsPage},
		{fiber.MethodGet, "/reports/new", models.RoleViewer, s.reportBuilderPage},
		{fiber.MethodGet, "/reports/:id", models.RoleViewer, s.reportPage},
		{fiber.MethodGet, "/reports/:id/edit", models.RoleViewer, s.reportBuilderPage},
	}
}

func (s *server) reportsPage(c *fiber.Ctx) error {
	is, err := s.insight()
	if err != nil {
		return err
	}
	all, err := is.ListReports(c.UserContext())
	if err != nil {
		return err
	}
	u := principalOf(c).user
	v := views.ReportsView{CanWrite: mayWriteReports(u)}
	for _, r := range all {
		if r.CanRead(u) {
			v.Reports = append(v.Reports, r)
		}
	}
	return s.page(c, http.StatusOK, "Reports", "reports", views.Reports(v))
}

func (s *server) reportPage(c *fiber.Ctx) error {
	is, r, err := s.readableReport(c)
	if err != nil {
		return err
	}
	f, q, err := reportFilter(r.Query, s.now())
	if err != nil {
		return err
	}
	cv, err := s.chartOf(c, is, f, "report-chart", r.Name, r.Chart, q, "")
	if err != nil {
		return err
	}
	cv.CSV = "/api/v1/reports/" + strconv.FormatInt(r.ID, 10) + "/data?format=csv"
	v := views.ReportView{Report: *r, Chart: cv, Loc: f.Location(), CanEdit: r.CanEdit(principalOf(c).user), From: f.From, To: f.To,
		InsightJS: s.assets.url("insight.js"), InsightCSS: s.assets.url("insight.css")}
	return s.page(c, http.StatusOK, r.Name, "reports", views.Report(v))
}

func (s *server) reportBuilderPage(c *fiber.Ctx) error {
	u := principalOf(c).user
	if !mayWriteReports(u) {
		return models.Errorf(models.Forbidden, "making reports needs the designer, operator or admin role")
	}
	r := models.Report{Name: "", Chart: models.ChartLine, Query: models.ReportQuery{Metric: models.MetricRuns,
		Bucket: models.BucketDay, Range: models.ReportRange{Last: "30d"}}}
	if c.Params("id") != "" {
		_, got, err := s.readableReport(c)
		if err != nil {
			return err
		}
		if !got.CanEdit(u) {
			return models.Errorf(models.Forbidden, "only the report's owner or an admin may change it")
		}
		r = *got
	}
	js, err := json.Marshal(r)
	if err != nil {
		return err
	}
	roles := make([]string, len(models.Roles))
	for i, x := range models.Roles {
		roles[i] = string(x)
	}
	v := views.ReportBuilderView{Report: r, Templates: s.templateKeys(c, r.Query.Filters.Template),
		Metrics: models.Metrics, Buckets: models.Buckets, Groups: models.Groups, Charts: models.Charts, Roles: roles,
		Triggers: triggerNames, Statuses: []string{"succeeded", "failed", "cancelled", "timed_out", "rolled_back"},
		InsightJS: s.assets.url("insight.js"), InsightCSS: s.assets.url("insight.css"), JSON: string(js)}
	title := "New report"
	if r.ID != 0 {
		title = "Edit " + r.Name
	}
	return s.page(c, http.StatusOK, title, "reports", views.ReportBuilder(v))
}
