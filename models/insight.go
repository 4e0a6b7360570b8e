package models

import (
	"cmp"
	"encoding/json"
	"math"
	"sort"
	"time"
)

// AnalyticsFilter selects the finished runs an analytics query counts: those
// that finished in [From, To) and match every field that is set.
type AnalyticsFilter struct {
	From, To time.Time
	Template string
	Version  int // 0: any
	Trigger  string
	Status   RunStatus
	User     string
	// Test includes designers' test runs (false: only real runs).
	Test bool
	// Loc is the zone whose days and weeks buckets follow (nil: UTC).
	Loc *time.Location
}

// Location is f.Loc, or UTC.
func (f AnalyticsFilter) Location() *time.Location {
	if f.Loc == nil {
		return time.UTC
	}
	return f.Loc
}

// Percentiles of durations in milliseconds; nil when nothing was measured.
type Percentiles struct {
	P50  *float64 `json:"p50"`
	P95  *float64 `json:"p95"`
	P99  *float64 `json:"p99,omitempty"`
	Mean *float64 `json:"mean,omitempty"`
}

// AnalyticsSummary is GET /api/v1/analytics/summary.
type AnalyticsSummary struct {
	Runs        int64       `json:"runs"`
	Succeeded   int64       `json:"succeeded"`
	Failed      int64       `json:"failed"`
	Cancelled   int64       `json:"cancelled"`
	TimedOut    int64       `json:"timedOut"`
	RolledBack  int64       `json:"rolledBack"`
	SuccessRate *float64    `json:"successRate"`
	DurationMs  Percentiles `json:"durationMs"`
	Steps       int64       `json:"steps"`
	Retries     int64       `json:"retries"`
}

// Series metrics, buckets and groupings.
const (
	MetricRuns        = "runs"
	MetricSucceeded   = "succeeded"
	MetricFailed      = "failed"
	MetricSuccessRate = "success_rate"
	MetricDurationP50 = "duration_p50"
	MetricDurationP95 = "duration_p95"
	MetricRetries     = "retries"

	BucketHour = "hour"
	BucketDay  = "day"
	BucketWeek = "week"

	GroupTemplate = "template"
	GroupVersion  = "version"
	GroupTrigger  = "trigger"
	GroupStatus   = "status"
	GroupUser     = "user"
)

// Metrics, Buckets and Groups list the accepted values in order.
var (
	Metrics = []string{MetricRuns, MetricSucceeded, MetricFailed, MetricSuccessRate, MetricDurationP50, MetricDurationP95, MetricRetries}
	Buckets = []string{BucketHour, BucketDay, BucketWeek}
	Groups  = []string{GroupTemplate, GroupVersion, GroupTrigger, GroupStatus, GroupUser}
)

// SeriesQuery is what GET /api/v1/analytics/series draws.
type SeriesQuery struct {
	Metric  string
	Bucket  string
	GroupBy string // "": one series with key "all"
}

// Series is GET /api/v1/analytics/series.
type Series struct {
	Metric string       `json:"metric"`
	Bucket string       `json:"bucket"`
	Series []SeriesLine `json:"series"`
}

// SeriesLine is one group's points, one per bucket of the range.
type SeriesLine struct {
	Key    string  `json:"key"`
	Points []Point `json:"points"`
}

// Point is one bucket: its start and its value (nil: no runs to rate).
type Point struct {
	T time.Time `json:"t"`
	V *float64  `json:"v"`
}

// StepStats is one step of GET /api/v1/analytics/steps.
type StepStats struct {
	Step       string      `json:"step"`
	Runs       int64       `json:"runs"`
	Succeeded  int64       `json:"succeeded"`
	Failed     int64       `json:"failed"`
	Skipped    int64       `json:"skipped"`
	Retries    int64       `json:"retries"`
	DurationMs Percentiles `json:"durationMs"`
	TotalMs    float64     `json:"totalMs"`
}

// DecisionStats is one condition step of GET /api/v1/analytics/decisions.
type DecisionStats struct {
	Step        string           `json:"step"`
	Evaluations int64            `json:"evaluations"`
	Outcomes    map[string]int64 `json:"outcomes"`
}

// DecisionRecord is one evaluation of a condition step, a row of the
// decision export.
type DecisionRecord struct {
	RunID     string         `json:"runId"`
	Template  string         `json:"template"`
	Version   int            `json:"version"`
	Step      string         `json:"step"`
	At        *time.Time     `json:"at"`
	Inputs    map[string]any `json:"inputs"`
	Read      map[string]any `json:"read"`
	Outcome   string         `json:"outcome"`
	RunStatus RunStatus      `json:"runStatus"`
}

// TemplateCount is one entry of Usage.TopTemplates.
type TemplateCount struct {
	Template string `json:"template"`
	Runs     int64  `json:"runs"`
}

// Usage is GET /api/v1/analytics/usage. ByWeekdayHour[d][h] counts the runs
// that finished on weekday d (0 = Sunday) at hour h of the filter's zone.
type Usage struct {
	ByWeekdayHour [7][24]int64     `json:"byWeekdayHour"`
	ByTrigger     map[string]int64 `json:"byTrigger"`
	ByUser        map[string]int64 `json:"byUser"`
	TopTemplates  []TemplateCount  `json:"topTemplates"`
}

// ApprovalCounts are review figures over versions submitted in range.
type ApprovalCounts struct {
	Submitted  int64       `json:"submitted"`
	Approved   int64       `json:"approved"`
	Rejected   int64       `json:"rejected"`
	LeadTimeMs Percentiles `json:"leadTimeMs"`
}

// ApprovalStats is GET /api/v1/analytics/approvals.
type ApprovalStats struct {
	ApprovalCounts
	ByTemplate []TemplateApprovals `json:"byTemplate"`
}

// TemplateApprovals is one template's review figures.
type TemplateApprovals struct {
	Template string `json:"template"`
	ApprovalCounts
}

// NoDuration is the histogram bucket of a run or attempt without a duration.
const NoDuration = -1000

// DurationBucket is the histogram bucket of a duration in milliseconds:
// floor(8·log2(ms)), so each bucket is 2^(1/8) (about 9 %) wide. Durations
// below a microsecond share one bucket.
func DurationBucket(ms *float64) int {
	if ms == nil {
		return NoDuration
	}
	v := max(*ms, 0.001)
	return int(math.Floor(8 * math.Log2(v)))
}

// BucketMid is the middle (geometric mean of its bounds) of a bucket.
func BucketMid(b int) float64 {
	return math.Exp2((float64(b) + 0.5) / 8)
}

// Histogram counts durations by DurationBucket and sums them.
type Histogram struct {
	Counts map[int]int64
	N      int64
	SumMs  float64
}

// Add counts n durations of bucket b summing to sum (b NoDuration: none).
func (h *Histogram) Add(b int, n int64, sum float64) {
	if b == NoDuration || n == 0 {
		return
	}
	if h.Counts == nil {
		h.Counts = map[int]int64{}
	}
	h.Counts[b] += n
	h.N += n
	h.SumMs += sum
}

// Quantile is the q-th quantile (nearest rank) read from the histogram,
// within one bucket's width (9 %) of the exact one; nil when empty.
func (h *Histogram) Quantile(q float64) *float64 {
	if h.N == 0 {
		return nil
	}
	keys := make([]int, 0, len(h.Counts))
	for k := range h.Counts {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	rank := int64(math.Ceil(q * float64(h.N)))
	rank = max(rank, 1)
	var seen int64
	for _, k := range keys {
		seen += h.Counts[k]
		if seen >= rank {
			v := round3(BucketMid(k))
			return &v
		}
	}
	v := round3(BucketMid(keys[len(keys)-1]))
	return &v
}

// Mean is the exact mean, nil when empty.
func (h *Histogram) Mean() *float64 {
	if h.N == 0 {
		return nil
	}
	v := round3(h.SumMs / float64(h.N))
	return &v
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// Rate is num/den, nil when den is 0.
func Rate(num, den int64) *float64 {
	if den == 0 {
		return nil
	}
	v := float64(num) / float64(den)
	return &v
}

// Report chart kinds.
const (
	ChartLine    = "line"
	ChartBar     = "bar"
	ChartTable   = "table"
	ChartHeatmap = "heatmap"
)

// Charts lists the chart kinds.
var Charts = []string{ChartLine, ChartBar, ChartTable, ChartHeatmap}

// Report is a saved query of the report builder.
type Report struct {
	ID          int64       `json:"id"`
	Owner       string      `json:"owner"`
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Query       ReportQuery `json:"query"`
	Chart       string      `json:"chart"`
	SharedWith  []Role      `json:"sharedWith"`
	CreatedAt   time.Time   `json:"createdAt"`
	UpdatedAt   time.Time   `json:"updatedAt"`
}

// ReportQuery is a report's query.
type ReportQuery struct {
	Metric  string        `json:"metric"`
	Bucket  string        `json:"bucket"`
	GroupBy string        `json:"groupBy,omitempty"`
	Filters ReportFilters `json:"filters"`
	// Range is "30d" style (the last N days, hours "12h" or weeks "2w") or
	// an object {from, to}.
	Range ReportRange `json:"range"`
	TZ    string      `json:"tz,omitempty"`
}

// ReportFilters narrow a report's runs.
type ReportFilters struct {
	Template string `json:"template,omitempty"`
	Version  int    `json:"version,omitempty"`
	Trigger  string `json:"trigger,omitempty"`
	Status   string `json:"status,omitempty"`
	Test     bool   `json:"test,omitempty"`
}

// ReportRange is a relative range (Last, e.g. "30d") or a fixed one.
type ReportRange struct {
	Last string     `json:"-"`
	From *time.Time `json:"from,omitempty"`
	To   *time.Time `json:"to,omitempty"`
}

// CanRead reports whether u may see the report: its owner, an admin, or a
// holder of a role it is shared with.
func (r *Report) CanRead(u *User) bool {
	if u == nil {
		return false
	}
	if r.Owner == u.Name || u.Can(RoleAdmin) {
		return true
	}
	for _, role := range r.SharedWith {
		if role == RoleViewer || u.Can(role) {
			return true
		}
	}
	return false
}

// CanEdit reports whether u may change or delete the report.
func (r *Report) CanEdit(u *User) bool {
	return u != nil && (r.Owner == u.Name || u.Can(RoleAdmin))
}

// MarshalJSON writes a relative range as its string, a fixed one as
// {from, to}.
func (r ReportRange) MarshalJSON() ([]byte, error) {
	if r.Last != "" || (r.From == nil && r.To == nil) {
		return json.Marshal(cmp.Or(r.Last, "7d"))
	}
	return json.Marshal(struct {
		From *time.Time `json:"from"`
		To   *time.Time `json:"to"`
	}{r.From, r.To})
}

// UnmarshalJSON reads "30d" or {from, to}.
func (r *ReportRange) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*r = ReportRange{Last: s}
		return nil
	}
	var o struct {
		From *time.Time `json:"from"`
		To   *time.Time `json:"to"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return Errorf(Invalid, `range must be a string such as "30d" or an object {"from", "to"}`)
	}
	*r = ReportRange{From: o.From, To: o.To}
	return nil
}

// Resolve turns the range into [from, to) at now.
func (r ReportRange) Resolve(now time.Time) (time.Time, time.Time, error) {
	if r.From != nil || r.To != nil {
		if r.From == nil || r.To == nil || !r.From.Before(*r.To) {
			return time.Time{}, time.Time{}, Errorf(Invalid, "range needs from before to")
		}
		return *r.From, *r.To, nil
	}
	last := cmp.Or(r.Last, "7d")
	d, err := ParseRetention(last)
	if err != nil || d <= 0 {
		return time.Time{}, time.Time{}, Errorf(Invalid, "range %q: want an age such as 30d, 12h or 2w", last)
	}
	return now.Add(-d), now, nil
}
