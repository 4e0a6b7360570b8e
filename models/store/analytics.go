package store

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/baton-run/baton/migrations"
	"github.com/baton-run/baton/models"
)

// Analytics queries read the rollup tables (grouped in SQL by what the
// answer needs) plus the finished runs RollUp has not counted yet, in one
// read snapshot. Ranges are counted in whole hours: From rounds down and To
// up to the hour.

// fact is one group of counted runs; only the fields of the grouping
// asked for are set.
type fact struct {
	hour          int64
	template      string
	version       int
	trigger, user string
	status        string
	dbucket       int
	runs          int64
	dur           float64
	steps         int64
	retries       int64
}

// runDims are the rollup_runs columns a query may group by.
const (
	dimHour     = "hour"
	dimTemplate = "template"
	dimVersion  = "version"
	dimTrigger  = "run_trigger"
	dimUser     = "started_by"
	dimStatus   = "status"
	dimBucket   = "dbucket"
)

// hourRange is f's range in whole hours [from, to).
func hourRange(f models.AnalyticsFilter) (int64, int64) {
	from := hourOf(f.From)
	to := hourOf(f.To)
	if f.To.After(time.Unix(to*3600, 0)) {
		to++
	}
	return from, to
}

// rollupPart is one table and time range a rollup query reads: whole
// days from the daily tables and the hours around them from the hourly
// ones, or hours only.
type rollupPart struct {
	g        grain
	from, to int64 // in g's units, [from, to)
}

// hourExpr is the part's time as hours since the epoch.
func (p rollupPart) hourExpr() string {
	if p.g.hours == 1 {
		return p.g.col
	}
	return p.g.col + " * " + strconv.FormatInt(p.g.hours, 10)
}

// rollupParts splits f's range into what to read: with useDaily, the
// whole UTC days in it from the daily tables and the hours at its edges.
func rollupParts(f models.AnalyticsFilter, useDaily bool) []rollupPart {
	from, to := hourRange(f)
	if !useDaily {
		return []rollupPart{{hourly, from, to}}
	}
	d0, d1 := floorDiv(from+23, 24), floorDiv(to, 24)
	if d0 >= d1 {
		return []rollupPart{{hourly, from, to}}
	}
	parts := []rollupPart{{daily, d0, d1}}
	if from < d0*24 {
		parts = append(parts, rollupPart{hourly, from, d0 * 24})
	}
	if d1*24 < to {
		parts = append(parts, rollupPart{hourly, d1 * 24, to})
	}
	return parts
}

// rollupWhere builds the filter of a rollup query over part p (table
// columns) and its arguments; steps tables have no trigger, user or status.
func rollupWhere(f models.AnalyticsFilter, runTable bool, p rollupPart) (string, []any) {
	w := []string{p.g.col + " >= ?", p.g.col + " < ?"}
	args := []any{p.from, p.to}
	if f.Template != "" {
		w = append(w, "template = ?")
		args = append(args, f.Template)
	}
	if f.Version > 0 {
		w = append(w, "version = ?")
		args = append(args, f.Version)
	}
	if !f.Test {
		w = append(w, "test = ?")
		args = append(args, false)
	}
	if runTable {
		if f.Trigger != "" {
			w = append(w, "run_trigger = ?")
			args = append(args, f.Trigger)
		}
		if f.User != "" {
			w = append(w, "started_by = ?")
			args = append(args, f.User)
		}
		if f.Status != "" {
			w = append(w, "status = ?")
			args = append(args, string(f.Status))
		}
	}
	return strings.Join(w, " AND "), args
}

// rawWhere is the same filter over runs rows.
func rawWhere(f models.AnalyticsFilter, runFilters bool) (string, []any) {
	from, to := hourRange(f)
	w := []string{"finished_at >= ?", "finished_at < ?"}
	args := []any{utc(time.Unix(from*3600, 0)), utc(time.Unix(to*3600, 0))}
	if f.Template != "" {
		w = append(w, "template = ?")
		args = append(args, f.Template)
	}
	if f.Version > 0 {
		w = append(w, "version = ?")
		args = append(args, f.Version)
	}
	if !f.Test {
		w = append(w, "test = ?")
		args = append(args, false)
	}
	if runFilters {
		if f.Trigger != "" {
			w = append(w, "run_trigger = ?")
			args = append(args, f.Trigger)
		}
		if f.User != "" {
			w = append(w, "started_by = ?")
			args = append(args, f.User)
		}
		if f.Status != "" {
			w = append(w, "status = ?")
			args = append(args, string(f.Status))
		}
	}
	return " AND " + strings.Join(w, " AND "), args
}

// snapshot runs fn in one read transaction, so that the rollups and the
// runs not counted yet are read as of one moment (RollUp moves runs from
// one to the other).
func (s *Store) snapshot(ctx context.Context, fn func(tx *sql.Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.dialect == migrations.Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := s.readDB.BeginTx(ctx, opts)
	if err != nil {
		return s.rawErr(err, "analytics")
	}
	defer func() { _ = tx.Rollback() }()
	return fn(tx)
}

// unrolled counts the finished runs matching f that RollUp has not
// counted yet.
func (s *Store) unrolled(ctx context.Context, tx *sql.Tx, f models.AnalyticsFilter, runFilters, withSteps bool) (*rollup, error) {
	w, args := rawWhere(f, runFilters)
	rows, err := tx.QueryContext(ctx, s.rebind(s.unrolledSQL(w)), args...)
	if err != nil {
		return nil, s.rawErr(err, "runs not rolled up")
	}
	runs, err := scanFinishedRuns(rows)
	if err != nil {
		return nil, s.rawErr(err, "runs not rolled up")
	}
	r := newRollup()
	for start := 0; start < len(runs); start += rollupBatch {
		if err := s.count(ctx, tx, r, runs[start:min(len(runs), start+rollupBatch)], withSteps); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// runFacts returns the counted runs matching f grouped by dims; useDaily
// reads whole days from the daily rollups (for answers that need no
// hours, or whose buckets are UTC days).
func (s *Store) runFacts(ctx context.Context, f models.AnalyticsFilter, useDaily bool, dims ...string) ([]fact, error) {
	var out []fact
	err := s.snapshot(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = s.runFactsTx(ctx, tx, f, useDaily, dims...)
		return err
	})
	return out, err
}

// runFactsTx is runFacts within the read transaction tx.
func (s *Store) runFactsTx(ctx context.Context, tx *sql.Tx, f models.AnalyticsFilter, useDaily bool, dims ...string) ([]fact, error) {
	var out []fact
	for _, p := range rollupParts(f, useDaily) {
		if err := s.rollupFacts(ctx, tx, f, p, dims, &out); err != nil {
			return nil, err
		}
	}
	r, err := s.unrolled(ctx, tx, f, true, false)
	if err != nil {
		return nil, err
	}
	for k, a := range r.runs {
		x := fact{runs: a.runs, dur: a.dur, steps: a.steps, retries: a.retries}
		for _, d := range dims {
			switch d {
			case dimHour:
				x.hour = k.hour
			case dimTemplate:
				x.template = k.template
			case dimVersion:
				x.version = k.version
			case dimTrigger:
				x.trigger = k.trigger
			case dimUser:
				x.user = k.user
			case dimStatus:
				x.status = k.status
			case dimBucket:
				x.dbucket = k.dbucket
			}
		}
		out = append(out, x)
	}
	return out, nil
}

// rollupFacts appends the rollup rows of part p matching f, grouped by dims.
func (s *Store) rollupFacts(ctx context.Context, tx *sql.Tx, f models.AnalyticsFilter, p rollupPart, dims []string, out *[]fact) error {
	w, args := rollupWhere(f, true, p)
	cols := slices.Clone(dims)
	for i, d := range cols {
		if d == dimHour {
			cols[i] = p.hourExpr()
		}
	}
	sel := strings.Join(append(slices.Clone(cols), "CAST(SUM(runs) AS BIGINT)", "SUM(duration_ms)",
		"CAST(SUM(steps) AS BIGINT)", "CAST(SUM(retries) AS BIGINT)"), ", ")
	q := "SELECT " + sel + " FROM rollup_runs" + p.g.suffix + " WHERE " + w
	if len(dims) > 0 {
		q += " GROUP BY " + strings.Join(cols, ", ")
	}
	rows, err := tx.QueryContext(ctx, s.rebind(q), args...)
	if err != nil {
		return s.rawErr(err, "rollups")
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var x fact
		dest := make([]any, 0, len(dims)+4)
		for _, d := range dims {
			dest = append(dest, x.dimPtr(d))
		}
		var dur sql.NullFloat64
		var runs, steps, retries sql.NullInt64
		dest = append(dest, &runs, &dur, &steps, &retries)
		if err := rows.Scan(dest...); err != nil {
			return s.rawErr(err, "rollups")
		}
		if runs.Int64 == 0 {
			continue
		}
		x.runs, x.dur, x.steps, x.retries = runs.Int64, dur.Float64, steps.Int64, retries.Int64
		*out = append(*out, x)
	}
	return s.rawErr(rows.Err(), "rollups")
}

func (x *fact) dimPtr(d string) any {
	switch d {
	case dimHour:
		return &x.hour
	case dimTemplate:
		return &x.template
	case dimVersion:
		return &x.version
	case dimTrigger:
		return &x.trigger
	case dimUser:
		return &x.user
	case dimStatus:
		return &x.status
	default:
		return &x.dbucket
	}
}

// AnalyticsSummary counts the finished runs matching f.
func (s *Store) AnalyticsSummary(ctx context.Context, f models.AnalyticsFilter) (models.AnalyticsSummary, error) {
	facts, err := s.runFacts(ctx, f, true, dimStatus, dimBucket)
	if err != nil {
		return models.AnalyticsSummary{}, err
	}
	return summarize(facts), nil
}

func summarize(facts []fact) models.AnalyticsSummary {
	var sum models.AnalyticsSummary
	var h models.Histogram
	for _, x := range facts {
		sum.Runs += x.runs
		sum.Steps += x.steps
		sum.Retries += x.retries
		switch models.RunStatus(x.status) {
		case models.RunSucceeded:
			sum.Succeeded += x.runs
		case models.RunFailed:
			sum.Failed += x.runs
		case models.RunCancelled:
			sum.Cancelled += x.runs
		case models.RunTimedOut:
			sum.TimedOut += x.runs
		case models.RunRolledBack:
			sum.RolledBack += x.runs
		}
		h.Add(x.dbucket, x.runs, x.dur)
	}
	sum.SuccessRate = models.Rate(sum.Succeeded, sum.Runs)
	sum.DurationMs = models.Percentiles{P50: h.Quantile(0.5), P95: h.Quantile(0.95), P99: h.Quantile(0.99), Mean: h.Mean()}
	return sum
}

// groupDim maps a series groupBy to its rollup column.
var groupDim = map[string]string{
	models.GroupTemplate: dimTemplate, models.GroupVersion: dimVersion, models.GroupTrigger: dimTrigger,
	models.GroupStatus: dimStatus, models.GroupUser: dimUser,
}

// CheckSeriesQuery reports a bad metric, bucket or groupBy as an Invalid
// problem at its parameter.
func CheckSeriesQuery(q models.SeriesQuery) error {
	var probs []models.Problem
	if !slices.Contains(models.Metrics, q.Metric) {
		probs = append(probs, models.Problem{Path: "metric", Message: "must be one of " + strings.Join(models.Metrics, ", ")})
	}
	if !slices.Contains(models.Buckets, q.Bucket) {
		probs = append(probs, models.Problem{Path: "bucket", Message: "must be one of " + strings.Join(models.Buckets, ", ")})
	}
	if q.GroupBy != "" && groupDim[q.GroupBy] == "" {
		probs = append(probs, models.Problem{Path: "groupBy", Message: "must be one of " + strings.Join(models.Groups, ", ")})
	}
	if len(probs) > 0 {
		return models.Problems("the query is not valid", probs)
	}
	return nil
}

// BucketStart is the start of the bucket (hour, day or ISO week, in loc)
// holding t.
func BucketStart(t time.Time, bucket string, loc *time.Location) time.Time {
	t = t.In(loc)
	switch bucket {
	case models.BucketDay:
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	case models.BucketWeek:
		d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
		back := (int(d.Weekday()) + 6) % 7 // Monday starts a week
		return d.AddDate(0, 0, -back)
	default:
		return t.Truncate(time.Hour)
	}
}

// nextBucket is the start of the bucket after the one starting at t.
func nextBucket(t time.Time, bucket string) time.Time {
	switch bucket {
	case models.BucketDay:
		return t.AddDate(0, 0, 1)
	case models.BucketWeek:
		return t.AddDate(0, 0, 7)
	default:
		return t.Add(time.Hour)
	}
}

// maxPoints bounds a series' buckets per line.
const maxPoints = 5000

// AnalyticsSeries draws q over the finished runs matching f: one line per
// group, one point per bucket of the range (empty buckets included).
func (s *Store) AnalyticsSeries(ctx context.Context, f models.AnalyticsFilter, q models.SeriesQuery) (models.Series, error) {
	out := models.Series{Metric: q.Metric, Bucket: q.Bucket, Series: []models.SeriesLine{}}
	if err := CheckSeriesQuery(q); err != nil {
		return out, err
	}
	loc := f.Location()
	from, to := hourRange(f)
	start := BucketStart(time.Unix(from*3600, 0), q.Bucket, loc)
	end := time.Unix(to*3600, 0)
	var starts []time.Time
	for t := start; t.Before(end); t = nextBucket(t, q.Bucket) {
		starts = append(starts, t)
		if len(starts) > maxPoints {
			return out, models.Problems("the range has too many buckets", []models.Problem{{Path: "bucket",
				Message: "more than " + strconv.Itoa(maxPoints) + " buckets in the range; choose a larger bucket"}})
		}
	}
	dims := []string{dimHour}
	if q.GroupBy != "" {
		dims = append(dims, groupDim[q.GroupBy])
	}
	switch q.Metric {
	case models.MetricSuccessRate, models.MetricSucceeded, models.MetricFailed:
		dims = append(dims, dimStatus)
	case models.MetricDurationP50, models.MetricDurationP95:
		dims = append(dims, dimBucket)
	}
	if q.GroupBy == models.GroupStatus && !slices.Contains(dims, dimStatus) {
		dims = append(dims, dimStatus)
	}
	// Whole UTC days serve day and week buckets in UTC (weeks start on a
	// Monday, a day boundary).
	useDaily := q.Bucket != models.BucketHour && loc == time.UTC
	facts, err := s.runFacts(ctx, f, useDaily, slices.Compact(dims)...)
	if err != nil {
		return out, err
	}
	type cell struct {
		runs, succeeded, failed, retries int64
		h                                models.Histogram
	}
	lines := map[string]map[int]*cell{}
	index := func(hour int64) int {
		t := time.Unix(hour*3600, 0)
		i := sort.Search(len(starts), func(i int) bool { return starts[i].After(t) }) - 1
		return max(i, 0)
	}
	for _, x := range facts {
		key := "all"
		switch q.GroupBy {
		case models.GroupTemplate:
			key = x.template
		case models.GroupVersion:
			key = strconv.Itoa(x.version)
		case models.GroupTrigger:
			key = x.trigger
		case models.GroupStatus:
			key = x.status
		case models.GroupUser:
			key = x.user
		}
		if lines[key] == nil {
			lines[key] = map[int]*cell{}
		}
		i := index(x.hour)
		c := lines[key][i]
		if c == nil {
			c = &cell{}
			lines[key][i] = c
		}
		c.runs += x.runs
		c.retries += x.retries
		switch models.RunStatus(x.status) {
		case models.RunSucceeded:
			c.succeeded += x.runs
		case models.RunFailed:
			c.failed += x.runs
		}
		c.h.Add(x.dbucket, x.runs, x.dur)
	}
	keys := make([]string, 0, len(lines))
	for k := range lines {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 && q.GroupBy == "" {
		keys = []string{"all"}
	}
	for _, k := range keys {
		line := models.SeriesLine{Key: k, Points: make([]models.Point, len(starts))}
		for i, t := range starts {
			c := lines[k][i]
			if c == nil {
				c = &cell{}
			}
			var v *float64
			count := func(n int64) *float64 { f := float64(n); return &f }
			switch q.Metric {
			case models.MetricRuns:
				v = count(c.runs)
			case models.MetricSucceeded:
				v = count(c.succeeded)
			case models.MetricFailed:
				v = count(c.failed)
			case models.MetricRetries:
				v = count(c.retries)
			case models.MetricSuccessRate:
				v = models.Rate(c.succeeded, c.runs)
			case models.MetricDurationP50:
				v = c.h.Quantile(0.5)
			case models.MetricDurationP95:
				v = c.h.Quantile(0.95)
			}
			line.Points[i] = models.Point{T: t.UTC(), V: v}
		}
		out.Series = append(out.Series, line)
	}
	return out, nil
}

// AnalyticsUsage counts finished runs by weekday and hour (in f's zone),
// trigger, user and template.
func (s *Store) AnalyticsUsage(ctx context.Context, f models.AnalyticsFilter) (models.Usage, error) {
	u := models.Usage{ByTrigger: map[string]int64{}, ByUser: map[string]int64{}, TopTemplates: []models.TemplateCount{}}
	// The grid needs hours (hourly rollups, grouped by hour alone); the
	// totals by trigger, user and template read whole days. One snapshot,
	// so the two agree.
	var hours, totals []fact
	err := s.snapshot(ctx, func(tx *sql.Tx) error {
		var err error
		if hours, err = s.runFactsTx(ctx, tx, f, false, dimHour); err != nil {
			return err
		}
		totals, err = s.runFactsTx(ctx, tx, f, true, dimTemplate, dimTrigger, dimUser)
		return err
	})
	if err != nil {
		return u, err
	}
	loc := f.Location()
	for _, x := range hours {
		t := time.Unix(x.hour*3600, 0).In(loc)
		u.ByWeekdayHour[t.Weekday()][t.Hour()] += x.runs
	}
	byTpl := map[string]int64{}
	for _, x := range totals {
		u.ByTrigger[x.trigger] += x.runs
		u.ByUser[x.user] += x.runs
		byTpl[x.template] += x.runs
	}
	for k, n := range byTpl {
		u.TopTemplates = append(u.TopTemplates, models.TemplateCount{Template: k, Runs: n})
	}
	sort.Slice(u.TopTemplates, func(i, j int) bool {
		a, b := u.TopTemplates[i], u.TopTemplates[j]
		return a.Runs > b.Runs || (a.Runs == b.Runs && a.Template < b.Template)
	})
	if len(u.TopTemplates) > 10 {
		u.TopTemplates = u.TopTemplates[:10]
	}
	return u, nil
}

// stepFilterError refuses the run filters the step and decision rollups
// do not keep.
func stepFilterError(f models.AnalyticsFilter) error {
	var probs []models.Problem
	for _, p := range []struct{ name, v string }{{"trigger", f.Trigger}, {"user", f.User}, {"status", string(f.Status)}} {
		if p.v != "" {
			probs = append(probs, models.Problem{Path: p.name, Message: "step and decision figures cannot be filtered by " + p.name})
		}
	}
	if len(probs) > 0 {
		return models.Problems("step and decision figures are kept by template, version and time only", probs)
	}
	return nil
}

// AnalyticsSteps is where the time and failures of f's runs go: per step
// id, sorted by total time, most first.
func (s *Store) AnalyticsSteps(ctx context.Context, f models.AnalyticsFilter) ([]models.StepStats, error) {
	if err := stepFilterError(f); err != nil {
		return nil, err
	}
	type acc struct {
		st models.StepStats
		h  models.Histogram
	}
	steps := map[string]*acc{}
	add := func(step, status string, dbucket int, attempts, finals, retries int64, dur float64) {
		a := steps[step]
		if a == nil {
			a = &acc{st: models.StepStats{Step: step}}
			steps[step] = a
		}
		a.st.Runs += finals
		switch models.StepStatus(status) {
		case models.StepSucceeded:
			a.st.Succeeded += finals
		case models.StepFailed, models.StepTimedOut:
			a.st.Failed += finals
		case models.StepSkipped:
			a.st.Skipped += finals
		}
		a.st.Retries += retries
		a.st.TotalMs += dur
		if status != string(models.StepSkipped) {
			a.h.Add(dbucket, attempts, dur)
		}
	}
	err := s.snapshot(ctx, func(tx *sql.Tx) error {
		for _, p := range rollupParts(f, true) {
			w, args := rollupWhere(f, false, p)
			rows, err := tx.QueryContext(ctx, s.rebind(`SELECT step_id, status, dbucket, CAST(SUM(attempts) AS BIGINT), CAST(SUM(finals) AS BIGINT),
 CAST(SUM(retries) AS BIGINT), SUM(duration_ms) FROM rollup_steps`+p.g.suffix+` WHERE `+w+` GROUP BY step_id, status, dbucket`), args...)
			if err != nil {
				return s.rawErr(err, "step rollups")
			}
			for rows.Next() {
				var step, status string
				var dbucket int
				var attempts, finals, retries int64
				var dur float64
				if err := rows.Scan(&step, &status, &dbucket, &attempts, &finals, &retries, &dur); err != nil {
					_ = rows.Close()
					return s.rawErr(err, "step rollups")
				}
				add(step, status, dbucket, attempts, finals, retries, dur)
			}
			_ = rows.Close()
			if err := rows.Err(); err != nil {
				return s.rawErr(err, "step rollups")
			}
		}
		r, err := s.unrolled(ctx, tx, f, false, true)
		if err != nil {
			return err
		}
		for k, a := range r.steps {
			add(k.step, k.status, k.dbucket, a.attempts, a.finals, a.retries, a.dur)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]models.StepStats, 0, len(steps))
	for _, a := range steps {
		a.st.TotalMs = round3(a.st.TotalMs)
		a.st.DurationMs = models.Percentiles{P50: a.h.Quantile(0.5), P95: a.h.Quantile(0.95)}
		out = append(out, a.st)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].TotalMs > out[j].TotalMs || (out[i].TotalMs == out[j].TotalMs && out[i].Step < out[j].Step)
	})
	return out, nil
}

func round3(v float64) float64 {
	return float64(int64(v*1000+0.5)) / 1000
}

// AnalyticsDecisions counts the outcomes of each condition step of f's
// runs, by step id.
func (s *Store) AnalyticsDecisions(ctx context.Context, f models.AnalyticsFilter) ([]models.DecisionStats, error) {
	if err := stepFilterError(f); err != nil {
		return nil, err
	}
	steps := map[string]*models.DecisionStats{}
	add := func(step, outcome string, n int64) {
		d := steps[step]
		if d == nil {
			d = &models.DecisionStats{Step: step, Outcomes: map[string]int64{}}
			steps[step] = d
		}
		d.Evaluations += n
		d.Outcomes[outcome] += n
	}
	err := s.snapshot(ctx, func(tx *sql.Tx) error {
		for _, p := range rollupParts(f, true) {
			w, args := rollupWhere(f, false, p)
			rows, err := tx.QueryContext(ctx, s.rebind(`SELECT step_id, outcome, CAST(SUM(n) AS BIGINT) FROM rollup_decisions`+p.g.suffix+` WHERE `+w+
				` GROUP BY step_id, outcome`), args...)
			if err != nil {
				return s.rawErr(err, "decision rollups")
			}
			for rows.Next() {
				var step, outcome string
				var n int64
				if err := rows.Scan(&step, &outcome, &n); err != nil {
					_ = rows.Close()
					return s.rawErr(err, "decision rollups")
				}
				add(step, outcome, n)
			}
			_ = rows.Close()
			if err := rows.Err(); err != nil {
				return s.rawErr(err, "decision rollups")
			}
		}
		r, err := s.unrolled(ctx, tx, f, false, true)
		if err != nil {
			return err
		}
		for k, n := range r.decs {
			add(k.step, k.outcome, n)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]models.DecisionStats, 0, len(steps))
	for _, d := range steps {
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Step < out[j].Step })
	return out, nil
}

// AnalyticsApprovals reports review lead times of versions submitted in
// f's range (f.Template narrows it), from submission to decision.
func (s *Store) AnalyticsApprovals(ctx context.Context, f models.AnalyticsFilter) (models.ApprovalStats, error) {
	out := models.ApprovalStats{ByTemplate: []models.TemplateApprovals{}}
	q := `SELECT t.key, v.status, v.submitted_at, v.reviewed_at FROM template_versions v JOIN templates t ON t.id = v.template_id
 WHERE v.submitted_at >= ? AND v.submitted_at < ?`
	args := []any{utc(f.From), utc(f.To)}
	if f.Template != "" {
		q += " AND t.key = ?"
		args = append(args, f.Template)
	}
	rows, err := s.readDB.QueryContext(ctx, s.rebind(q), args...)
	if err != nil {
		return out, s.rawErr(err, "reviews")
	}
	defer func() { _ = rows.Close() }()
	type acc struct {
		c     models.ApprovalCounts
		leads []float64
	}
	all := &acc{}
	per := map[string]*acc{}
	for rows.Next() {
		var key, status string
		var sub, rev sql.NullTime
		if err := rows.Scan(&key, &status, &sub, &rev); err != nil {
			return out, s.rawErr(err, "reviews")
		}
		if per[key] == nil {
			per[key] = &acc{}
		}
		for _, a := range []*acc{all, per[key]} {
			a.c.Submitted++
			switch models.VersionStatus(status) {
			case models.VersionApproved:
				a.c.Approved++
			case models.VersionRejected:
				a.c.Rejected++
			}
			if rev.Valid && sub.Valid && (status == string(models.VersionApproved) || status == string(models.VersionRejected)) {
				a.leads = append(a.leads, float64(rev.Time.Sub(sub.Time))/float64(time.Millisecond))
			}
		}
	}
	if err := rows.Err(); err != nil {
		return out, s.rawErr(err, "reviews")
	}
	finish := func(a *acc) models.ApprovalCounts {
		c := a.c
		c.LeadTimeMs = models.Percentiles{P50: exactQuantile(a.leads, 0.5), P95: exactQuantile(a.leads, 0.95)}
		return c
	}
	out.ApprovalCounts = finish(all)
	for k, a := range per {
		out.ByTemplate = append(out.ByTemplate, models.TemplateApprovals{Template: k, ApprovalCounts: finish(a)})
	}
	sort.Slice(out.ByTemplate, func(i, j int) bool { return out.ByTemplate[i].Template < out.ByTemplate[j].Template })
	return out, nil
}

// exactQuantile is the nearest-rank quantile of vs (sorted in place).
func exactQuantile(vs []float64, q float64) *float64 {
	if len(vs) == 0 {
		return nil
	}
	sort.Float64s(vs)
	i := cmp.Or(int(float64(len(vs))*q+0.999999999), 1) - 1
	v := round3(vs[min(i, len(vs)-1)])
	return &v
}
