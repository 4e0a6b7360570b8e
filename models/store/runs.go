package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"

	"github.com/baton-run/baton/migrations"
	"github.com/baton-run/baton/models"
)

// This file is the engine's persistence (migration 00002): it makes *Store
// satisfy engine.Store. The engine batches the writes of many runs into one
// ApplyRunWrites call (group commit), so each call is one transaction with a
// few multi-row statements, whatever the number of runs in it.

type runRow struct {
	ID           string `gorm:"primaryKey"`
	Template     string
	Version      int
	Status       string
	RunTrigger   string
	StartedBy    string
	Test         bool
	ParentRunID  string
	ParentStepID string
	Inputs       JSON[map[string]any]
	Outputs      JSON[map[string]any]
	Error        JSON[*models.RunError]
	Definition   JSON[json.RawMessage]
	Generation   int
	Seq          int64
	CreatedAt    time.Time
	StartedAt    *time.Time
	FinishedAt   *time.Time
	DurationMs   *float64
	// The schedule behind a run (migration 00008), NULL for other runs.
	ScheduleID       *int64
	ScheduleFireAt   *time.Time
	ScheduleCaughtUp *bool
	// The owning instance (migration 00016), "" for none.
	Owner string
}

func (runRow) TableName() string { return "runs" }

type stepRunRow struct {
	RunID        string `gorm:"primaryKey"`
	StepID       string `gorm:"primaryKey"`
	Item         int    `gorm:"primaryKey"`
	Compensation bool   `gorm:"primaryKey"`
	Attempt      int    `gorm:"primaryKey"`
	Status       string
	Input        JSON[any]
	Output       JSON[any]
	Error        JSON[*models.StepError]
	Reason       string
	Generation   int
	Ord          int
	StartedAt    *time.Time
	FinishedAt   *time.Time
	DurationMs   *float64
}

func (stepRunRow) TableName() string { return "step_runs" }

type runEventRow struct {
	RunID      string `gorm:"primaryKey"`
	Seq        int64  `gorm:"primaryKey"`
	Type       string
	StepID     string
	Status     string
	Attempt    int
	At         time.Time
	DurationMs *float64
	Error      JSON[*models.StepError]
}

func (runEventRow) TableName() string { return "run_events" }

type runTimerRow struct {
	RunID  string `gorm:"primaryKey"`
	StepID string `gorm:"primaryKey"`
	Kind   string `gorm:"primaryKey"`
	DueAt  time.Time
}

func (runTimerRow) TableName() string { return "run_timers" }

type runSignalRow struct {
	RunID      string `gorm:"primaryKey"`
	Name       string `gorm:"primaryKey"`
	Payload    JSON[json.RawMessage]
	ReceivedAt time.Time
}

func (runSignalRow) TableName() string { return "run_signals" }

// runRowModels lists the row structs of this file, for the column-drift test.
var runRowModels = []any{&runRow{}, &stepRunRow{}, &runEventRow{}, &runTimerRow{}, &runSignalRow{}, &instanceRow{}}

func (r *runRow) model() models.RunRow {
	return models.RunRow{
		Run: models.Run{
			ID: r.ID, Template: r.Template, Version: r.Version, Status: models.RunStatus(r.Status),
			Trigger: r.RunTrigger, StartedBy: r.StartedBy, Test: r.Test, ParentRunID: r.ParentRunID,
			Inputs: r.Inputs.V, Outputs: r.Outputs.V, Error: r.Error.V, CreatedAt: r.CreatedAt.UTC(),
			StartedAt: utcPtr(r.StartedAt), FinishedAt: utcPtr(r.FinishedAt), DurationMs: r.DurationMs,
			Schedule: r.schedule(),
		},
		Definition: r.Definition.V, Generation: r.Generation, ParentStepID: r.ParentStepID, Seq: r.Seq,
		Owner: r.Owner,
	}
}

// schedule is the run's schedule info, nil for a run no schedule started.
func (r *runRow) schedule() *models.RunSchedule {
	if r.ScheduleID == nil || r.ScheduleFireAt == nil {
		return nil
	}
	return &models.RunSchedule{ID: *r.ScheduleID, FireAt: r.ScheduleFireAt.UTC(),
		CaughtUp: r.ScheduleCaughtUp != nil && *r.ScheduleCaughtUp}
}

func (r *stepRunRow) model() models.StepRunRow {
	return models.StepRunRow{
		StepRun: models.StepRun{
			RunID: r.RunID, StepID: r.StepID, Attempt: r.Attempt, Status: models.StepStatus(r.Status),
			Input: r.Input.V, Output: r.Output.V, Error: r.Error.V, Reason: r.Reason,
			StartedAt: utcPtr(r.StartedAt), FinishedAt: utcPtr(r.FinishedAt),
		},
		Item: r.Item, Compensation: r.Compensation, Generation: r.Generation, Order: r.Ord, DurationMs: r.DurationMs,
	}
}

// batchRows is how many rows one INSERT carries: well under SQLite's and
// PostgreSQL's limits on bound parameters (32766 and 65535) for our widest
// row of 22 columns.
const batchRows = 1000

// sqliteBatchRows is the rows per INSERT on SQLite; see batchInsert.exec.
const sqliteBatchRows = 16

// ApplyRunWrites applies one batch of run changes in one transaction: run
// and attempt rows are upserted, events inserted (a duplicate (run, seq) is
// a Conflict), timers and signals upserted or deleted.
//
// This is the engine's hot path, so it speaks database/sql directly with
// multi-row statements built here, instead of GORM's reflection: it halves
// the cost of a commit. The SQL is portable (INSERT … ON CONFLICT … DO
// UPDATE SET col = excluded.col works on SQLite ≥ 3.24 and PostgreSQL); only
// the placeholders differ.
func (s *Store) ApplyRunWrites(ctx context.Context, w *models.RunWrites) error {
	if w.Empty() {
		return nil
	}
	if s.dialect == migrations.Postgres {
		return s.applyRunWritesPipelined(ctx, w)
	}
	tx, err := s.sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return s.rawErr(err, "run changes")
	}
	if w.Owner != "" {
		if err := s.fenceTx(ctx, tx, w); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	err = s.applyRunWrites(onePerKey(w), func(q string, args []any, subject string) error {
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return s.rawErr(err, subject)
		}
		return nil
	})
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.rawErr(err, "run changes")
	}
	return nil
}

// applyRunWritesPipelined is ApplyRunWrites on PostgreSQL: every statement
// of the batch goes to the server at once, as one pipeline ending in one
// Sync, which PostgreSQL runs as one implicit transaction (committed at the
// Sync, rolled back as a whole if a statement fails). That is one round
// trip per commit instead of one per statement plus BEGIN and COMMIT.
func (s *Store) applyRunWritesPipelined(ctx context.Context, w *models.RunWrites) error {
	type statement struct {
		query   string
		args    []any
		subject string
	}
	var stmts []statement
	if w.Owner != "" {
		// First in the transaction: lock the batch's runs and check that
		// this instance still owns them (see baton_fence, migration 00016).
		stmts = append(stmts, statement{"SELECT baton_fence($1, $2)", []any{fenceIDs(w), w.Owner}, "run owners"})
	}
	err := s.applyRunWrites(onePerKey(w), func(q string, args []any, subject string) error {
		// The caller reuses args for the next statement.
		stmts = append(stmts, statement{q, slices.Clone(args), subject})
		return nil
	})
	if err != nil || len(stmts) == 0 {
		return err
	}
	conn, err := s.sqlDB.Conn(ctx)
	if err != nil {
		return s.rawErr(err, "run changes")
	}
	// Close hands the connection back to the pool; Raw's error says all.
	defer func() { _ = conn.Close() }()
	return conn.Raw(func(driverConn any) error {
		c, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("store: the PostgreSQL driver is %T, not pgx", driverConn)
		}
		var batch pgx.Batch
		for _, st := range stmts {
			batch.Queue(st.query, st.args...)
		}
		results := c.Conn().SendBatch(ctx, &batch)
		for _, st := range stmts {
			if _, err := results.Exec(); err != nil {
				_ = results.Close()
				if f := fencedErr(err, w.Owner); f != nil {
					return f
				}
				return s.rawErr(err, st.subject)
			}
		}
		// Close reads up to the Sync's reply: only then is the implicit
		// transaction committed (and durable).
		if err := results.Close(); err != nil {
			return s.rawErr(err, "run changes")
		}
		return nil
	})
}

// onePerKey returns w with at most one row per key in Runs, StepRuns,
// Timers and Signals, as if its rows were upserted one after the other:
// the last row of a key wins, except that a run keeps the columns of its
// first row that only an insert writes (an update never changes inputs,
// definition and the like). PostgreSQL refuses a statement that upserts
// one row twice ("ON CONFLICT DO UPDATE command cannot affect row a second
// time"), while SQLite applies the rows in order: without this, a batch
// naming a key twice committed on SQLite and failed on PostgreSQL. w is
// not changed.
func onePerKey(w *models.RunWrites) *models.RunWrites {
	runs := lastPerKey(w.Runs, func(r *models.RunRow) string { return r.ID },
		func(first, last *models.RunRow) models.RunRow {
			r := *first
			r.Status, r.Outputs, r.Error, r.Generation, r.Seq = last.Status, last.Outputs, last.Error, last.Generation, last.Seq
			r.StartedAt, r.FinishedAt, r.DurationMs = last.StartedAt, last.FinishedAt, last.DurationMs
			return r
		})
	type stepKey struct {
		run, step string
		item      int
		comp      bool
		attempt   int
	}
	steps := lastPerKey(w.StepRuns, func(r *models.StepRunRow) stepKey {
		return stepKey{r.RunID, r.StepID, r.Item, r.Compensation, r.Attempt}
	}, nil)
	timers := lastPerKey(w.Timers, func(t *models.RunTimer) [3]string { return [3]string{t.RunID, t.StepID, t.Kind} }, nil)
	signals := lastPerKey(w.Signals, func(sg *models.RunSignal) [2]string { return [2]string{sg.RunID, sg.Name} }, nil)
	// A repeat always shortens its slice; the usual batch has none.
	if len(runs) == len(w.Runs) && len(steps) == len(w.StepRuns) && len(timers) == len(w.Timers) && len(signals) == len(w.Signals) {
		return w
	}
	out := *w
	out.Runs, out.StepRuns, out.Timers, out.Signals = runs, steps, timers, signals
	return &out
}

// lastPerKey keeps one row per key, where the key's first row was: the
// merge of its first and last rows, or the last row when merge is nil.
// rows is returned as it is when no key repeats.
func lastPerKey[T any, K comparable](rows []T, key func(*T) K, merge func(first, last *T) T) []T {
	if len(rows) < 2 || (len(rows) <= smallBatch && !repeats(rows, key)) {
		return rows
	}
	at := make(map[K]int, len(rows))
	var out []T // nil until a key repeats
	for i := range rows {
		k := key(&rows[i])
		j, seen := at[k]
		if !seen {
			at[k] = i
			if out != nil {
				at[k] = len(out)
				out = append(out, rows[i])
			}
			continue
		}
		if out == nil {
			// The first repeat: rows[:i] held each key once.
			out = append(make([]T, 0, len(rows)), rows[:i]...)
		}
		if merge != nil {
			out[j] = merge(&out[j], &rows[i])
		} else {
			out[j] = rows[i]
		}
	}
	if out == nil {
		return rows
	}
	return out
}

// smallBatch is the size up to which lastPerKey looks for a repeated key
// by comparing pairs, which costs less than a map and allocates nothing: a
// typical commit of the engine is 16 runs, with no key repeated.
const smallBatch = 32

func repeats[T any, K comparable](rows []T, key func(*T) K) bool {
	for i := 1; i < len(rows); i++ {
		k := key(&rows[i])
		for j := range i {
			if key(&rows[j]) == k {
				return true
			}
		}
	}
	return false
}

// batchInsert writes rows of cols into table, upserting on conflict with
// key: update sets every other column (or the given ones).
type batchInsert struct {
	s      *Store
	table  string
	cols   []string
	key    []string
	update []string // nil: every non-key column; empty non-nil: DO NOTHING is not used, plain insert
	plain  bool     // a plain INSERT: conflicts are errors
}

// rawErr maps an error of a database/sql call as GORM's TranslateError
// would (unique violations become gorm.ErrDuplicatedKey), then as mapErr.
func (s *Store) rawErr(err error, subject string) error {
	if t, ok := s.db.Dialector.(gorm.ErrorTranslator); ok && err != nil {
		err = t.Translate(err)
	}
	return mapErr(err, subject)
}

// stmtFunc runs (or queues) one statement of a batch of run changes;
// subject names what it writes, for errors.
type stmtFunc func(query string, args []any, subject string) error

func (b batchInsert) exec(run stmtFunc, n int, row func(i int, args []any) []any, subject string) error {
	per := batchRows
	if b.s.dialect != migrations.Postgres {
		// The SQLite driver binds each parameter by scanning the argument
		// list (quadratic in the parameters of a statement): many small
		// statements beat one big one there.
		per = sqliteBatchRows
	}
	args := make([]any, 0, min(n, per)*len(b.cols))
	for start := 0; start < n; start += per {
		end := min(n, start+per)
		args = args[:0]
		for i := start; i < end; i++ {
			args = row(i, args)
		}
		if err := run(b.sql(end-start), args, subject); err != nil {
			return err
		}
	}
	return nil
}

func (b batchInsert) sql(rows int) string {
	var q strings.Builder
	replace := !b.plain && b.update == nil && b.s.dialect != migrations.Postgres
	if replace {
		// SQLite: a whole-row upsert parses faster spelled as REPLACE, and
		// parsing is a fifth of a small commit there. Nothing references
		// these rows, so delete-and-insert is the same as an update.
		q.WriteString("INSERT OR REPLACE INTO ")
	} else {
		q.WriteString("INSERT INTO ")
	}
	q.WriteString(b.table)
	q.WriteString(" (")
	q.WriteString(strings.Join(b.cols, ", "))
	q.WriteString(") VALUES ")
	p := 0
	for r := 0; r < rows; r++ {
		if r > 0 {
			q.WriteString(", ")
		}
		q.WriteByte('(')
		for c := range b.cols {
			if c > 0 {
				q.WriteString(", ")
			}
			p++
			if b.s.dialect == migrations.Postgres {
				q.WriteString("$" + strconv.Itoa(p))
			} else {
				q.WriteByte('?')
			}
		}
		q.WriteByte(')')
	}
	if b.plain || replace {
		return q.String()
	}
	q.WriteString(" ON CONFLICT (")
	q.WriteString(strings.Join(b.key, ", "))
	q.WriteString(") DO UPDATE SET ")
	upd := b.update
	if upd == nil {
		for _, c := range b.cols {
			if !slices.Contains(b.key, c) {
				upd = append(upd, c)
			}
		}
	}
	for i, c := range upd {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(c + " = excluded." + c)
	}
	return q.String()
}

// jsonArg encodes v for a JSON column (text on SQLite, jsonb on PostgreSQL).
// A value the engine has encoded already (models.EncodedJSON) is sent as it
// is: encoding large step outputs is most of a commit's CPU in the engine.
func jsonArg(v any) (string, error) {
	if e, ok := v.(models.EncodedJSON); ok && e != nil {
		return string(e), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", models.Errorf(models.Invalid, "a value cannot be stored as JSON: %v", err)
	}
	return string(b), nil
}

func (s *Store) applyRunWrites(w *models.RunWrites, run stmtFunc) error {
	var jerr error
	j := func(v any) string {
		out, err := jsonArg(v)
		if err != nil && jerr == nil {
			jerr = err
		}
		return out
	}
	if len(w.Runs) > 0 {
		if s.dialect == migrations.Postgres && len(w.Runs) > 1 {
			// The triggers of migration 00009 lock each run's counter row
			// (template_active_runs) as the rows are written: writing them
			// in one order, by template, keeps two instances' commits from
			// locking two templates in opposite orders (a deadlock).
			slices.SortStableFunc(w.Runs, func(a, b models.RunRow) int { return strings.Compare(a.Template, b.Template) })
		}
		b := batchInsert{s: s, table: "runs", key: []string{"id"}, update: runUpdateCols, cols: runCols}
		err := b.exec(run, len(w.Runs), func(i int, a []any) []any {
			return runArgs(&w.Runs[i], a, j)
		}, "run")
		if err != nil {
			return err
		}
	}
	if len(w.StepRuns) > 0 {
		b := batchInsert{s: s, table: "step_runs", key: []string{"run_id", "step_id", "item", "compensation", "attempt"},
			cols: []string{"run_id", "step_id", "item", "compensation", "attempt", "status", "input", "output", "error",
				"reason", "generation", "ord", "started_at", "finished_at", "duration_ms"}}
		err := b.exec(run, len(w.StepRuns), func(i int, a []any) []any {
			r := &w.StepRuns[i]
			return append(a, r.RunID, r.StepID, r.Item, r.Compensation, r.Attempt, string(r.Status), j(r.Input),
				j(r.Output), j(r.Error), r.Reason, r.Generation, r.Order, utcPtr(r.StartedAt), utcPtr(r.FinishedAt), r.DurationMs)
		}, "step attempt")
		if err != nil {
			return err
		}
	}
	if len(w.Events) > 0 {
		b := batchInsert{s: s, table: "run_events", plain: true,
			cols: []string{"run_id", "seq", "type", "step_id", "status", "attempt", "at", "duration_ms", "error"}}
		err := b.exec(run, len(w.Events), func(i int, a []any) []any {
			e := &w.Events[i]
			return append(a, e.RunID, e.Seq, e.Type, e.StepID, e.Status, e.Attempt, utc(e.At), e.DurationMs, j(e.Error))
		}, "run event")
		if err != nil {
			return err
		}
	}
	if jerr != nil {
		return jerr
	}
	for _, t := range w.DeleteTimers {
		if err := run(s.rebind("DELETE FROM run_timers WHERE run_id = ? AND step_id = ? AND kind = ?"),
			[]any{t.RunID, t.StepID, t.Kind}, "run timer"); err != nil {
			return err
		}
	}
	if len(w.Timers) > 0 {
		b := batchInsert{s: s, table: "run_timers", key: []string{"run_id", "step_id", "kind"},
			cols: []string{"run_id", "step_id", "kind", "due_at"}}
		err := b.exec(run, len(w.Timers), func(i int, a []any) []any {
			t := &w.Timers[i]
			return append(a, t.RunID, t.StepID, t.Kind, utc(t.DueAt))
		}, "run timer")
		if err != nil {
			return err
		}
	}
	for _, sg := range w.DeleteSignals {
		if err := run(s.rebind("DELETE FROM run_signals WHERE run_id = ? AND name = ?"),
			[]any{sg.RunID, sg.Name}, "run signal"); err != nil {
			return err
		}
	}
	if len(w.Signals) > 0 {
		b := batchInsert{s: s, table: "run_signals", key: []string{"run_id", "name"},
			cols: []string{"run_id", "name", "payload", "received_at"}}
		err := b.exec(run, len(w.Signals), func(i int, a []any) []any {
			sg := &w.Signals[i]
			p := string(sg.Payload)
			if p == "" {
				p = "null"
			}
			return append(a, sg.RunID, sg.Name, p, utc(sg.ReceivedAt))
		}, "run signal")
		if err != nil {
			return err
		}
	}
	return nil
}

// runCols are the columns of a run row the engine writes; runUpdateCols
// those an update of a stored run changes.
var (
	runCols = []string{"id", "template", "version", "status", "run_trigger", "started_by", "test", "parent_run_id",
		"parent_step_id", "inputs", "outputs", "error", "definition", "generation", "seq", "created_at",
		"started_at", "finished_at", "duration_ms", "schedule_id", "schedule_fire_at", "schedule_caught_up", "owner"}
	runUpdateCols = []string{"status", "outputs", "error", "generation", "seq", "started_at", "finished_at", "duration_ms"}
)

// runArgs appends the values of r's runCols to a; j encodes JSON values.
func runArgs(r *models.RunRow, a []any, j func(any) string) []any {
	// A row that exists is updated by the conflict clause, which never
	// changes inputs and definition: they are only placeholders then, so
	// large inputs and definitions are not encoded, sent and re-parsed with
	// every change of the run. The schedule columns, likewise never
	// updated, are NULL placeholders then (and for runs no schedule
	// started).
	def, in := "{}", "{}"
	var schedID, schedFireAt, schedCaughtUp any
	if !r.Stored {
		if sc := r.Schedule; sc != nil {
			schedID, schedFireAt, schedCaughtUp = sc.ID, utc(sc.FireAt), sc.CaughtUp
		}
		if len(r.Definition) > 0 {
			def = string(r.Definition)
		}
		switch {
		case r.InputsJSON != nil:
			in = string(r.InputsJSON)
		case r.Inputs != nil:
			in = j(r.Inputs)
		}
	}
	return append(a, r.ID, r.Template, r.Version, string(r.Status), r.Trigger, r.StartedBy, r.Test,
		r.ParentRunID, r.ParentStepID, in, j(r.Outputs), j(r.Error), def, r.Generation,
		r.Seq, utc(r.CreatedAt), utcPtr(r.StartedAt), utcPtr(r.FinishedAt), r.DurationMs,
		schedID, schedFireAt, schedCaughtUp, r.Owner)
}

// rebind turns ? placeholders into PostgreSQL's $n.
func (s *Store) rebind(q string) string {
	if s.dialect != migrations.Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// LoadRun returns everything stored about one run.
func (s *Store) LoadRun(ctx context.Context, id string) (*models.RunSnapshot, error) {
	db := s.read.WithContext(ctx)
	var rr runRow
	if err := db.Where("id = ?", id).Take(&rr).Error; err != nil {
		return nil, mapErr(err, "run "+id)
	}
	var steps []stepRunRow
	if err := db.Where("run_id = ?", id).Order("step_id, item, compensation, attempt").Find(&steps).Error; err != nil {
		return nil, mapErr(err, "step attempts of run "+id)
	}
	var timers []runTimerRow
	if err := db.Where("run_id = ?", id).Find(&timers).Error; err != nil {
		return nil, mapErr(err, "timers of run "+id)
	}
	var signals []runSignalRow
	if err := db.Where("run_id = ?", id).Order("received_at").Find(&signals).Error; err != nil {
		return nil, mapErr(err, "signals of run "+id)
	}
	// The run row's seq may lag its events (the engine writes the row only
	// when the run's fields change); the events are the truth.
	var maxSeq *int64
	if err := db.Model(&runEventRow{}).Where("run_id = ?", id).Select("MAX(seq)").Scan(&maxSeq).Error; err != nil {
		return nil, mapErr(err, "events of run "+id)
	}
	snap := &models.RunSnapshot{Run: rr.model()}
	if maxSeq != nil && *maxSeq > snap.Run.Seq {
		snap.Run.Seq = *maxSeq
	}
	snap.StepRuns = make([]models.StepRunRow, len(steps))
	for i := range steps {
		snap.StepRuns[i] = steps[i].model()
	}
	for _, t := range timers {
		snap.Timers = append(snap.Timers, models.RunTimer{RunID: t.RunID, StepID: t.StepID, Kind: t.Kind, DueAt: t.DueAt.UTC()})
	}
	for _, sg := range signals {
		snap.Signals = append(snap.Signals, models.RunSignal{RunID: sg.RunID, Name: sg.Name, Payload: sg.Payload.V, ReceivedAt: sg.ReceivedAt.UTC()})
	}
	return snap, nil
}

// finalStatuses are the run statuses that never change by themselves; the
// partial index runs_unfinished lists the others.
var finalStatuses = []string{
	string(models.RunSucceeded), string(models.RunFailed), string(models.RunCancelled),
	string(models.RunTimedOut), string(models.RunRolledBack),
}

// unfinishedSQL selects the runs not in a final status. The statuses are
// literals, not parameters, so that SQLite can use the partial index
// runs_unfinished, whose WHERE clause it matches word for word.
var unfinishedSQL = "status NOT IN ('" + strings.Join(finalStatuses, "', '") + "')"

// UnfinishedRunIDs lists the runs not in a final status, oldest first.
func (s *Store) UnfinishedRunIDs(ctx context.Context) ([]string, error) {
	var ids []string
	err := s.read.WithContext(ctx).Model(&runRow{}).
		Where(unfinishedSQL).Order("id").Pluck("id", &ids).Error
	if err != nil {
		return nil, mapErr(err, "unfinished runs")
	}
	return ids, nil
}

// ListRuns lists runs, newest first, without their steps or definitions.
func (s *Store) ListRuns(ctx context.Context, f models.RunFilter) ([]models.Run, error) {
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = 50
	case limit > 500:
		limit = 500
	}
	q := s.read.WithContext(ctx).Model(&runRow{}).Omit("definition")
	if f.Template != "" {
		q = q.Where("template = ?", f.Template)
	}
	if len(f.Statuses) > 0 {
		st := make([]string, len(f.Statuses))
		for i, x := range f.Statuses {
			st[i] = string(x)
		}
		q = q.Where("status IN ?", st)
	}
	if f.ParentRunID != "" {
		// The second term lets both databases use the partial index
		// runs_parent (SQLite cannot tell that a bound value is not '').
		q = q.Where("parent_run_id = ? AND parent_run_id <> ''", f.ParentRunID)
	}
	if f.ScheduleID != 0 {
		// The partial index runs_schedule serves this (00008).
		q = q.Where("schedule_id = ?", f.ScheduleID)
	}
	if f.Before != "" {
		q = q.Where("id < ?", f.Before)
	}
	var rows []runRow
	if err := q.Order("id DESC").Limit(limit).Find(&rows).Error; err != nil {
		return nil, mapErr(err, "runs")
	}
	out := make([]models.Run, len(rows))
	for i := range rows {
		out[i] = rows[i].model().Run
	}
	return out, nil
}

// RunEvents returns a run's events with seq > afterSeq, in order.
func (s *Store) RunEvents(ctx context.Context, runID string, afterSeq int64, limit int) ([]models.Event, error) {
	q := s.read.WithContext(ctx).Where("run_id = ? AND seq > ?", runID, afterSeq).Order("seq")
	if limit > 0 {
		q = q.Limit(limit)
	}
	var rows []runEventRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, mapErr(err, "events of run "+runID)
	}
	out := make([]models.Event, len(rows))
	for i, r := range rows {
		out[i] = models.Event{RunID: r.RunID, Seq: r.Seq, Type: r.Type, StepID: r.StepID, Status: r.Status,
			Attempt: r.Attempt, At: r.At.UTC(), DurationMs: r.DurationMs, Error: r.Error.V}
	}
	return out, nil
}
