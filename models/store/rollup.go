package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/baton-run/baton/migrations"
	"github.com/baton-run/baton/models"
)

// Rollups (migration 00014) are kept by an incremental job, RollUp, not by
// the engine's writer: the writer's transactions are the engine's
// throughput, and counting a run needs its step attempts and definition,
// which the writer does not hold together. RollUp counts runs whose
// finish is committed (runs.rolled = 0), in transactions of rollupBatch
// runs, and marks them; queries add the finished runs it has not reached
// yet from the raw rows, in the same snapshot, so figures are current.
// Prune calls RollUp first and deletes counted runs only, so the figures
// of pruned runs stay in the rollups.

// rollupBatch is the number of runs RollUp counts per transaction on
// PostgreSQL; sqliteRollupBatch on SQLite, where the transaction holds the
// one writer connection the engine's commits wait for, so it stays short
// (about 25 ms for 10-step runs on the shared machine).
const (
	rollupBatch       = 500
	sqliteRollupBatch = 100
)

func (s *Store) rollupBatchSize() int {
	if s.dialect == migrations.SQLite {
		return sqliteRollupBatch
	}
	return rollupBatch
}

// hourOf is t as whole hours since the Unix epoch.
func hourOf(t time.Time) int64 {
	return floorDiv(t.Unix(), 3600)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// finishedRun is what a rollup needs of a run row.
type finishedRun struct {
	id, template, trigger, user string
	version                     int
	test                        bool
	status                      string
	finished                    time.Time
	duration                    *float64
}

type runKey struct {
	hour          int64
	template      string
	version       int
	trigger, user string
	test          bool
	status        string
	dbucket       int
}

type runAgg struct {
	runs           int64
	dur            float64
	steps, retries int64
}

type stepKey struct {
	hour         int64
	template     string
	version      int
	test         bool
	step, status string
	dbucket      int
}

type stepAgg struct {
	attempts, finals, retries int64
	dur                       float64
}

type decKey struct {
	hour          int64
	template      string
	version       int
	test          bool
	step, outcome string
}

// rollup is the counts of a set of runs, keyed as the rollup tables are.
type rollup struct {
	runs  map[runKey]*runAgg
	steps map[stepKey]*stepAgg
	decs  map[decKey]int64
}

func newRollup() *rollup {
	return &rollup{runs: map[runKey]*runAgg{}, steps: map[stepKey]*stepAgg{}, decs: map[decKey]int64{}}
}

// queryer is a transaction or a pool.
type queryer interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

const finishedRunCols = "id, template, version, run_trigger, started_by, test, status, finished_at, duration_ms"

func scanFinishedRuns(rows *sql.Rows) ([]finishedRun, error) {
	defer func() { _ = rows.Close() }()
	var out []finishedRun
	for rows.Next() {
		var r finishedRun
		var fin sql.NullTime
		var dur sql.NullFloat64
		if err := rows.Scan(&r.id, &r.template, &r.version, &r.trigger, &r.user, &r.test, &r.status, &fin, &dur); err != nil {
			return nil, err
		}
		r.finished = fin.Time.UTC()
		if dur.Valid {
			d := dur.Float64
			r.duration = &d
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// inList is "(?, ?, …)" for n values.
func inList(n int) string {
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
}

// count adds runs (and, when withSteps, their step attempts and
// decisions) to r, reading what it needs through q.
func (s *Store) count(ctx context.Context, q queryer, r *rollup, runs []finishedRun, withSteps bool) error {
	if len(runs) == 0 {
		return nil
	}
	byID := make(map[string]*finishedRun, len(runs))
	ids := make([]any, 0, len(runs)+1)
	for i := range runs {
		byID[runs[i].id] = &runs[i]
		ids = append(ids, runs[i].id)
	}
	type attempt struct {
		step, status string
		attempt      int
		dur          *float64
	}
	perRun := map[string][]attempt{}
	rows, err := q.QueryContext(ctx, s.rebind("SELECT run_id, step_id, attempt, status, duration_ms FROM step_runs WHERE run_id IN "+
		inList(len(ids))+" AND item = -1 AND compensation = ?"), append(ids, false)...)
	if err != nil {
		return s.rawErr(err, "step attempts")
	}
	for rows.Next() {
		var id string
		var a attempt
		var dur sql.NullFloat64
		if err := rows.Scan(&id, &a.step, &a.attempt, &a.status, &dur); err != nil {
			_ = rows.Close()
			return s.rawErr(err, "step attempts")
		}
		if dur.Valid {
			d := dur.Float64
			a.dur = &d
		}
		perRun[id] = append(perRun[id], a)
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return s.rawErr(err, "step attempts")
	}
	for i := range runs {
		run := &runs[i]
		hour := hourOf(run.finished)
		var steps, retries int64
		last := map[string]int{}
		for _, a := range perRun[run.id] {
			if a.status != string(models.StepSkipped) && a.status != string(models.StepPending) {
				steps++
			}
			if a.attempt > 1 {
				retries++
			}
			if a.attempt > last[a.step] {
				last[a.step] = a.attempt
			}
		}
		k := runKey{hour, run.template, run.version, run.trigger, run.user, run.test, run.status, models.DurationBucket(run.duration)}
		agg := r.runs[k]
		if agg == nil {
			agg = &runAgg{}
			r.runs[k] = agg
		}
		agg.runs++
		if run.duration != nil {
			agg.dur += *run.duration
		}
		agg.steps += steps
		agg.retries += retries
		if !withSteps {
			continue
		}
		for _, a := range perRun[run.id] {
			sk := stepKey{hour, run.template, run.version, run.test, a.step, a.status, models.DurationBucket(a.dur)}
			sa := r.steps[sk]
			if sa == nil {
				sa = &stepAgg{}
				r.steps[sk] = sa
			}
			sa.attempts++
			if a.attempt == last[a.step] {
				sa.finals++
			}
			if a.attempt > 1 {
				sa.retries++
			}
			if a.dur != nil {
				sa.dur += *a.dur
			}
		}
	}
	if !withSteps {
		return nil
	}
	return s.countDecisions(ctx, q, r, runs, byID)
}

// countDecisions adds the outcomes of the runs' condition steps.
func (s *Store) countDecisions(ctx context.Context, q queryer, r *rollup, runs []finishedRun, byID map[string]*finishedRun) error {
	conds := map[string]bool{} // condition step ids of any of the runs
	runConds := make(map[string]map[string]bool, len(runs))
	for i := range runs {
		c, err := s.conditionSteps(ctx, q, &runs[i])
		if err != nil {
			return err
		}
		runConds[runs[i].id] = c
		for id := range c {
			conds[id] = true
		}
	}
	if len(conds) == 0 {
		return nil
	}
	args := make([]any, 0, len(runs)+len(conds)+1)
	for i := range runs {
		args = append(args, runs[i].id)
	}
	condIDs := make([]string, 0, len(conds))
	for id := range conds {
		condIDs = append(condIDs, id)
	}
	sort.Strings(condIDs)
	for _, id := range condIDs {
		args = append(args, id)
	}
	args = append(args, false)
	rows, err := q.QueryContext(ctx, s.rebind("SELECT run_id, step_id, attempt, status, output FROM step_runs WHERE run_id IN "+
		inList(len(runs))+" AND step_id IN "+inList(len(condIDs))+" AND item = -1 AND compensation = ? ORDER BY run_id, step_id, attempt"), args...)
	if err != nil {
		return s.rawErr(err, "decisions")
	}
	defer func() { _ = rows.Close() }()
	type last struct {
		status, outcome string
	}
	lasts := map[[2]string]last{}
	for rows.Next() {
		var runID, step, status string
		var attempt int
		var out []byte
		if err := rows.Scan(&runID, &step, &attempt, &status, &out); err != nil {
			return s.rawErr(err, "decisions")
		}
		if !runConds[runID][step] {
			continue
		}
		lasts[[2]string{runID, step}] = last{status, decisionOutcome(status, out)}
	}
	if err := rows.Err(); err != nil {
		return s.rawErr(err, "decisions")
	}
	for k, l := range lasts {
		if l.outcome == "" {
			continue
		}
		run := byID[k[0]]
		r.decs[decKey{hourOf(run.finished), run.template, run.version, run.test, k[1], l.outcome}]++
	}
	return nil
}

// decisionOutcome reads a condition step's outcome from its output:
// "true"/"false" for a condition, the next step's id (or "default") for a
// decision table, "error" when it failed, "" when it did not run.
func decisionOutcome(status string, out []byte) string {
	switch models.StepStatus(status) {
	case models.StepSucceeded:
	case models.StepFailed, models.StepTimedOut:
		return "error"
	default:
		return ""
	}
	var o struct {
		Result *bool   `json:"result"`
		Case   *int    `json:"case"`
		Next   *string `json:"next"`
	}
	if json.Unmarshal(out, &o) != nil {
		return ""
	}
	switch {
	case o.Result != nil:
		return strconv.FormatBool(*o.Result)
	case o.Case != nil && *o.Case < 0:
		return "default"
	case o.Next != nil:
		return *o.Next
	}
	return ""
}

// condCache holds the condition step ids of approved versions' runs,
// keyed "template@version": a version's definition does not change.
var condCache sync.Map

// conditionSteps returns the ids of the run's condition steps (from the
// definition stored with it).
func (s *Store) conditionSteps(ctx context.Context, q queryer, run *finishedRun) (map[string]bool, error) {
	key := run.template + "@" + strconv.Itoa(run.version) + "@" + s.dialect
	if !run.test {
		if v, ok := condCache.Load(key); ok {
			return v.(map[string]bool), nil
		}
	}
	rows, err := q.QueryContext(ctx, s.rebind("SELECT definition FROM runs WHERE id = ?"), run.id)
	if err != nil {
		return nil, s.rawErr(err, "definition")
	}
	var def []byte
	if rows.Next() {
		if err := rows.Scan(&def); err != nil {
			_ = rows.Close()
			return nil, s.rawErr(err, "definition")
		}
	}
	_ = rows.Close()
	ids := map[string]bool{}
	var d struct {
		Steps []struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		} `json:"steps"`
	}
	if json.Unmarshal(def, &d) == nil {
		for _, st := range d.Steps {
			if st.Type == models.StepCondition {
				ids[st.ID] = true
			}
		}
	}
	if !run.test && len(def) > 0 {
		condCache.Store(key, ids)
	}
	return ids, nil
}

// RollUp counts every finished run not yet counted into the rollups, in
// transactions of a few hundred runs, and returns how many it counted.
// `baton serve` calls it every few seconds; Prune calls it first. On
// PostgreSQL several instances may run it at once: each claims its runs
// with FOR UPDATE SKIP LOCKED.
func (s *Store) RollUp(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := s.rollUpBatch(ctx)
		total += n
		if err != nil || n < s.rollupBatchSize() {
			if err == nil && total >= analyzeAfter {
				err = s.analyzeRollups(ctx)
			}
			return total, err
		}
	}
}

// analyzeAfter is the number of runs one RollUp must count before it
// refreshes PostgreSQL's statistics.
const analyzeAfter = 10_000

// analyzeRollups refreshes PostgreSQL's statistics after a large catch-up
// (an upgraded database's history, a long stop): until autovacuum gets
// there, the planner would believe most runs are still uncounted and
// read the runs of a range instead of the partial index runs_unrolled,
// which costs analytics queries seconds at a million runs. SQLite names
// the index in the query (unrolledSQL) and needs nothing.
func (s *Store) analyzeRollups(ctx context.Context) error {
	if s.dialect != migrations.Postgres {
		return nil
	}
	_, err := s.sqlDB.ExecContext(ctx, "ANALYZE runs, rollup_runs, rollup_runs_daily, rollup_steps, rollup_steps_daily, rollup_decisions, rollup_decisions_daily")
	return s.rawErr(err, "analyze")
}

// unrolledSQL selects finished runs not yet counted; on SQLite it names
// the partial index, which the planner would otherwise weigh against the
// status index.
func (s *Store) unrolledSQL(where string) string {
	from := "runs"
	if s.dialect == migrations.SQLite {
		from = "runs INDEXED BY runs_unrolled"
	}
	return "SELECT " + finishedRunCols + " FROM " + from + " WHERE rolled = 0 AND " + finalSQL + where
}

func (s *Store) rollUpBatch(ctx context.Context) (int, error) {
	tx, err := s.sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return 0, s.rawErr(err, "rollup")
	}
	defer func() { _ = tx.Rollback() }()
	q := s.unrolledSQL(" ORDER BY id LIMIT " + strconv.Itoa(s.rollupBatchSize()))
	if s.dialect == migrations.Postgres {
		q += " FOR UPDATE SKIP LOCKED"
	}
	rows, err := tx.QueryContext(ctx, q)
	if err != nil {
		return 0, s.rawErr(err, "runs to roll up")
	}
	runs, err := scanFinishedRuns(rows)
	if err != nil {
		return 0, s.rawErr(err, "runs to roll up")
	}
	if len(runs) == 0 {
		return 0, nil
	}
	r := newRollup()
	if err := s.count(ctx, tx, r, runs, true); err != nil {
		return 0, err
	}
	if err := s.writeRollup(ctx, tx, r, hourly); err != nil {
		return 0, err
	}
	if err := s.writeRollup(ctx, tx, r.daily(), daily); err != nil {
		return 0, err
	}
	ids := make([]any, len(runs))
	for i := range runs {
		ids[i] = runs[i].id
	}
	if _, err := tx.ExecContext(ctx, s.rebind("UPDATE runs SET rolled = 1 WHERE id IN "+inList(len(ids))), ids...); err != nil {
		return 0, s.rawErr(err, "rollup")
	}
	return len(runs), s.rawErr(tx.Commit(), "rollup")
}

// grain is one level of the rollup tables: by hour, or by day.
type grain struct {
	suffix string // of the table names
	col    string // the time column
	hours  int64  // hours per unit
}

var (
	hourly = grain{"", "hour", 1}
	daily  = grain{"_daily", "day", 24}
)

// daily is r with its hours turned into days (the hour fields hold days).
func (r *rollup) daily() *rollup {
	d := newRollup()
	for k, a := range r.runs {
		k.hour = floorDiv(k.hour, 24)
		x := d.runs[k]
		if x == nil {
			x = &runAgg{}
			d.runs[k] = x
		}
		x.runs += a.runs
		x.dur += a.dur
		x.steps += a.steps
		x.retries += a.retries
	}
	for k, a := range r.steps {
		k.hour = floorDiv(k.hour, 24)
		x := d.steps[k]
		if x == nil {
			x = &stepAgg{}
			d.steps[k] = x
		}
		x.attempts += a.attempts
		x.finals += a.finals
		x.retries += a.retries
		x.dur += a.dur
	}
	for k, n := range r.decs {
		k.hour = floorDiv(k.hour, 24)
		d.decs[k] += n
	}
	return d
}

// writeRollup adds r to the rollup tables of grain g (upserts that add, in
// key order so that two instances never lock rows in opposite orders).
func (s *Store) writeRollup(ctx context.Context, tx *sql.Tx, r *rollup, g grain) error {
	rk := make([]runKey, 0, len(r.runs))
	for k := range r.runs {
		rk = append(rk, k)
	}
	sort.Slice(rk, func(i, j int) bool { return lessRunKey(rk[i], rk[j]) })
	rows := make([][]any, 0, len(rk))
	for _, k := range rk {
		a := r.runs[k]
		rows = append(rows, []any{k.hour, k.template, k.version, k.trigger, k.user, k.test, k.status, k.dbucket, a.runs, a.dur, a.steps, a.retries})
	}
	if err := s.upsertRows(ctx, tx, "rollup_runs"+g.suffix, []string{g.col, "template", "version", "run_trigger", "started_by", "test", "status", "dbucket"},
		[]string{"runs", "duration_ms", "steps", "retries"}, rows); err != nil {
		return err
	}
	sk := make([]stepKey, 0, len(r.steps))
	for k := range r.steps {
		sk = append(sk, k)
	}
	sort.Slice(sk, func(i, j int) bool {
		a, b := sk[i], sk[j]
		if a.template != b.template {
			return a.template < b.template
		}
		if a.hour != b.hour {
			return a.hour < b.hour
		}
		return strconv.Itoa(a.version)+"\x00"+strconv.FormatBool(a.test)+"\x00"+a.step+"\x00"+a.status+"\x00"+strconv.Itoa(a.dbucket) <
			strconv.Itoa(b.version)+"\x00"+strconv.FormatBool(b.test)+"\x00"+b.step+"\x00"+b.status+"\x00"+strconv.Itoa(b.dbucket)
	})
	rows = rows[:0]
	for _, k := range sk {
		a := r.steps[k]
		rows = append(rows, []any{k.template, k.hour, k.version, k.test, k.step, k.status, k.dbucket, a.attempts, a.finals, a.retries, a.dur})
	}
	if err := s.upsertRows(ctx, tx, "rollup_steps"+g.suffix, []string{"template", g.col, "version", "test", "step_id", "status", "dbucket"},
		[]string{"attempts", "finals", "retries", "duration_ms"}, rows); err != nil {
		return err
	}
	dk := make([]decKey, 0, len(r.decs))
	for k := range r.decs {
		dk = append(dk, k)
	}
	sort.Slice(dk, func(i, j int) bool {
		a, b := dk[i], dk[j]
		if a.template != b.template {
			return a.template < b.template
		}
		if a.hour != b.hour {
			return a.hour < b.hour
		}
		return strconv.Itoa(a.version)+"\x00"+strconv.FormatBool(a.test)+"\x00"+a.step+"\x00"+a.outcome <
			strconv.Itoa(b.version)+"\x00"+strconv.FormatBool(b.test)+"\x00"+b.step+"\x00"+b.outcome
	})
	rows = rows[:0]
	for _, k := range dk {
		rows = append(rows, []any{k.template, k.hour, k.version, k.test, k.step, k.outcome, r.decs[k]})
	}
	return s.upsertRows(ctx, tx, "rollup_decisions"+g.suffix, []string{"template", g.col, "version", "test", "step_id", "outcome"},
		[]string{"n"}, rows)
}

// upsertPer is the number of rows per multi-row upsert: the SQLite driver
// binds parameters in time quadratic in their number.
const upsertPer = 40

// upsertRows inserts rows (key columns, then sums) or, where the key
// exists, adds the sums to it, a few dozen rows per statement. Keys must
// be distinct (PostgreSQL refuses to update one row twice in a statement).
func (s *Store) upsertRows(ctx context.Context, tx *sql.Tx, table string, keys, sums []string, rows [][]any) error {
	cols := append(slices.Clone(keys), sums...)
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	sets := make([]string, len(sums))
	for i, c := range sums {
		sets[i] = c + " = x." + c + " + excluded." + c
	}
	tail := " ON CONFLICT (" + strings.Join(keys, ", ") + ") DO UPDATE SET " + strings.Join(sets, ", ")
	args := make([]any, 0, upsertPer*len(cols))
	for start := 0; start < len(rows); start += upsertPer {
		chunk := rows[start:min(len(rows), start+upsertPer)]
		args = args[:0]
		for _, r := range chunk {
			args = append(args, r...)
		}
		q := "INSERT INTO " + table + " AS x (" + strings.Join(cols, ", ") + ") VALUES " +
			strings.TrimSuffix(strings.Repeat(one+", ", len(chunk)), ", ") + tail
		if _, err := tx.ExecContext(ctx, s.rebind(q), args...); err != nil {
			return s.rawErr(err, table)
		}
	}
	return nil
}

func lessRunKey(a, b runKey) bool {
	if a.hour != b.hour {
		return a.hour < b.hour
	}
	if a.template != b.template {
		return a.template < b.template
	}
	if a.version != b.version {
		return a.version < b.version
	}
	if a.trigger != b.trigger {
		return a.trigger < b.trigger
	}
	if a.user != b.user {
		return a.user < b.user
	}
	if a.test != b.test {
		return !a.test
	}
	if a.status != b.status {
		return a.status < b.status
	}
	return a.dbucket < b.dbucket
}
