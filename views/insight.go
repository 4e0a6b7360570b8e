package views

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/baton-run/baton/models"
)

// ChartView is one chart and its table: the same series drawn by the
// charting library (from Data, a JSON copy of Series) and listed in the
// table, with a CSV link.
type ChartView struct {
	ID     string
	Title  string
	Kind   string // line or bar
	Metric string
	Series []models.SeriesLine
	Data   string // JSON of {metric, bucket, series}
	CSV    string // href of the same numbers as CSV
}

// Labels are the bucket starts of the chart's points, for the table.
func (c ChartView) Labels(loc *time.Location, bucket string) []string {
	if len(c.Series) == 0 {
		return nil
	}
	out := make([]string, len(c.Series[0].Points))
	for i, p := range c.Series[0].Points {
		t := p.T.In(loc)
		if bucket == models.BucketHour {
			out[i] = t.Format("2006-01-02 15:04")
		} else {
			out[i] = t.Format("2006-01-02")
		}
	}
	return out
}

// Cell formats point i of a series.
func (c ChartView) Cell(s models.SeriesLine, i int) string {
	if i >= len(s.Points) || s.Points[i].V == nil {
		return "–"
	}
	return FormatValue(c.Metric, *s.Points[i].V)
}

// FormatValue formats a figure of metric m for a table.
func FormatValue(m string, v float64) string {
	switch m {
	case models.MetricSuccessRate:
		return strconv.FormatFloat(100*v, 'f', 1, 64) + " %"
	case models.MetricDurationP50, models.MetricDurationP95:
		return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// Ms formats an optional duration in milliseconds.
func Ms(v *float64) string {
	if v == nil {
		return "–"
	}
	return strconv.FormatFloat(*v, 'f', 1, 64) + " ms"
}

// Pct formats an optional rate as a percentage.
func Pct(v *float64) string {
	if v == nil {
		return "–"
	}
	return strconv.FormatFloat(100**v, 'f', 1, 64) + " %"
}

// Num formats a count.
func Num(n int64) string { return strconv.FormatInt(n, 10) }

// VersionFigures is one version in the version comparison.
type VersionFigures struct {
	Version int
	Summary models.AnalyticsSummary
}

// AnalyticsView is the /analytics page, overall or for one template.
type AnalyticsView struct {
	Range     string // 24h, 7d, 30d, 90d
	Ranges    []string
	Template  string
	Templates []string
	TZ        string
	Loc       *time.Location
	Bucket    string
	Query     string // the filter as a query string, for links
	Summary   models.AnalyticsSummary
	Runs      ChartView
	Rate      ChartView
	Usage     models.Usage
	Steps     []models.StepStats
	Decisions []models.DecisionStats
	Approvals models.ApprovalStats
	Versions  []VersionFigures
	// Diff is the structural change between the two latest versions
	// compared; DiffFrom and DiffTo name them (0: no comparison).
	Diff             models.DefinitionDiff
	DiffFrom, DiffTo int
	InsightJS        string
	InsightCSS       string
}

// Weekdays are the rows of the usage heatmap, in the order of Usage.ByWeekdayHour.
var Weekdays = []string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

// HeatLevel is a cell's shade (0–4) relative to the busiest cell.
func (v AnalyticsView) HeatLevel(n int64) string {
	var top int64
	for _, row := range v.Usage.ByWeekdayHour {
		for _, x := range row {
			top = max(top, x)
		}
	}
	if n == 0 || top == 0 {
		return "heat-0"
	}
	return "heat-" + strconv.FormatInt(1+(3*n)/top, 10)
}

// DashboardView is the live /dashboard page; Initial is the first sample,
// as JSON, which the page shows before the stream's first event.
type DashboardView struct {
	Active, Waiting, Queued, Failures int64
	Starts, Finishes                  float64
	CommitP50, CommitP99              string
	Database                          string
	CPU                               float64
	RSS                               string
	Goroutines, Connections           int
	DevicesOnline, DevicesOffline     int
}

func join(s []string) string { return strings.Join(s, ", ") }

func outcomes(m map[string]int64) string {
	keys := sortedKeys(m)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + strconv.FormatInt(m[k], 10)
	}
	return strings.Join(parts, " · ")
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func tzName(tz string) string {
	if tz == "" {
		return "UTC"
	}
	return tz
}

// Hours formats an optional duration in milliseconds as hours, or
// minutes or seconds when shorter.
func Hours(v *float64) string {
	switch {
	case v == nil:
		return "–"
	case *v < 60e3:
		return strconv.FormatFloat(*v/1e3, 'f', 1, 64) + " s"
	case *v < 3.6e6:
		return strconv.FormatFloat(*v/60e3, 'f', 1, 64) + " min"
	}
	return strconv.FormatFloat(*v/3.6e6, 'f', 1, 64) + " h"
}

// ReportsView is the /reports list.
type ReportsView struct {
	Reports  []models.Report
	CanWrite bool
}

// ReportView is one report, computed now.
type ReportView struct {
	Report  models.Report
	Chart   ChartView
	Loc     *time.Location
	CanEdit bool
	From    time.Time
	To      time.Time
	// InsightJS and InsightCSS load the charts.
	InsightJS, InsightCSS string
}

// ReportBuilderView is the builder, empty or for an existing report.
type ReportBuilderView struct {
	Report                models.Report // ID 0: a new report
	Templates             []string
	Metrics, Buckets      []string
	Groups, Charts, Roles []string
	Triggers              []string
	Statuses              []string
	InsightJS, InsightCSS string
	// JSON is the report as the builder starts from.
	JSON string
}

// Shared says whether a report is shared with role.
func Shared(r models.Report, role string) bool {
	for _, x := range r.SharedWith {
		if string(x) == role {
			return true
		}
	}
	return false
}

// RangeText describes a report's range.
func RangeText(r models.ReportRange) string {
	if r.From != nil && r.To != nil {
		return r.From.UTC().Format("2006-01-02 15:04") + " – " + r.To.UTC().Format("2006-01-02 15:04") + " UTC"
	}
	if r.Last == "" {
		return "last 7d"
	}
	return "last " + r.Last
}

func rolesText(rs []models.Role) string {
	if len(rs) == 0 {
		return "nobody"
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = string(r)
	}
	return strings.Join(parts, ", ")
}

func versionText(n int) string {
	if n <= 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func choiceLabel(s string) string {
	if s == "" {
		return "(any)"
	}
	return s
}

// Heat is a heatmap cell's shade class (empty unless the chart is one).
func (c ChartView) Heat(s models.SeriesLine, i int) string {
	if c.Kind != models.ChartHeatmap || i >= len(s.Points) || s.Points[i].V == nil {
		return ""
	}
	var top float64
	for _, l := range c.Series {
		for _, p := range l.Points {
			if p.V != nil && *p.V > top {
				top = *p.V
			}
		}
	}
	if top <= 0 || *s.Points[i].V <= 0 {
		return "heat-0"
	}
	return "heat-" + strconv.Itoa(1+int(3**s.Points[i].V/top))
}
