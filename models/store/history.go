package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/oklog/ulid/v2"

	"github.com/baton-run/baton/migrations"
	"github.com/baton-run/baton/models"
)

// HistoryOptions says what FillHistory writes. The zero value writes the
// defaults.
type HistoryOptions struct {
	// Runs is how many finished runs to write (default 1,000,000).
	Runs int
	// Templates are the template keys the runs are spread over, in turn
	// (default history-1 … history-4). No template rows are written: runs
	// keep their template's key only, as stored runs do.
	Templates []string
	// Steps is the number of steps (one attempt each) per run (default 3);
	// a run has 2 + 2×Steps + 1 events.
	Steps int
	// Span is how far back the runs go (default 90 days), ending at End
	// (default an hour ago); run ids, like the engine's, are ULIDs of their
	// creation time, so the history sorts before any new run.
	Span time.Duration
	End  time.Time
	// Chunk is the number of runs per transaction (default 5,000).
	Chunk int
	// Progress, when set, is called after each chunk with the runs written
	// so far and the total.
	Progress func(done, total int)
	// Seed makes the statuses and ids reproducible (0: random).
	Seed uint64
	// NoEvents writes runs and step attempts only, for benchmarks of
	// reads that never touch run_events (analytics), at a third of the
	// rows.
	NoEvents bool
}

// HistoryStats is what FillHistory wrote and how long it took.
type HistoryStats struct {
	Runs     int           `json:"runs"`
	StepRuns int           `json:"stepRuns"`
	Events   int           `json:"events"`
	Elapsed  time.Duration `json:"elapsed"`
}

// DefaultHistoryRuns is FillHistory's default number of runs.
const DefaultHistoryRuns = 1_000_000

func (o *HistoryOptions) defaults() {
	if o.Runs <= 0 {
		o.Runs = DefaultHistoryRuns
	}
	if len(o.Templates) == 0 {
		o.Templates = []string{"history-1", "history-2", "history-3", "history-4"}
	}
	if o.Steps <= 0 {
		o.Steps = 3
	}
	if o.Span <= 0 {
		o.Span = 90 * 24 * time.Hour
	}
	if o.End.IsZero() {
		o.End = time.Now().Add(-time.Hour)
	}
	if o.Chunk <= 0 {
		o.Chunk = 5000
	}
}

// FillHistory writes opts.Runs finished runs (succeeded, some failed or
// cancelled) with their step attempts and events, by bulk inserts: COPY on
// PostgreSQL, prepared multi-row INSERTs on SQLite, one transaction per
// chunk. It is for benchmarks and tests of a database with a long
// history (baton bench, the index test). Every run is in a final status,
// so the active-run counters (migration 00009) stay as they are.
func (s *Store) FillHistory(ctx context.Context, opts HistoryOptions) (HistoryStats, error) {
	opts.defaults()
	start := time.Now()
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	rng := rand.New(rand.NewPCG(seed, seed>>1|1))
	def := historyDefinition(opts.Steps)
	step := opts.Span / time.Duration(opts.Runs)
	first := opts.End.Add(-opts.Span)
	var st HistoryStats
	var w models.RunWrites
	for done := 0; done < opts.Runs; {
		n := min(opts.Chunk, opts.Runs-done)
		w.Runs, w.StepRuns, w.Events = w.Runs[:0], w.StepRuns[:0], w.Events[:0]
		for i := done; i < done+n; i++ {
			at := first.Add(time.Duration(i) * step).UTC().Truncate(time.Microsecond)
			historyRun(&w, rng, def, opts.Templates[i%len(opts.Templates)], opts.Steps, at)
		}
		if opts.NoEvents {
			w.Events = w.Events[:0]
		}
		if err := s.writeHistory(ctx, &w); err != nil {
			return st, err
		}
		done += n
		st.Runs += len(w.Runs)
		st.StepRuns += len(w.StepRuns)
		st.Events += len(w.Events)
		if opts.Progress != nil {
			opts.Progress(done, opts.Runs)
		}
	}
	if s.dialect == migrations.Postgres {
		// Fresh statistics, so that the planner knows the tables' sizes
		// before the first query (autovacuum would get there later).
		if _, err := s.sqlDB.ExecContext(ctx, "ANALYZE runs, step_runs, run_events"); err != nil {
			return st, s.rawErr(err, "analyze")
		}
	} else if _, err := s.sqlDB.ExecContext(ctx, "ANALYZE"); err != nil {
		return st, s.rawErr(err, "analyze")
	}
	st.Elapsed = time.Since(start)
	return st, nil
}

func historyDefinition(steps int) json.RawMessage {
	d := models.Definition{ID: "history", Name: "History"}
	for i := range steps {
		d.Steps = append(d.Steps, models.Step{ID: "s" + strconv.Itoa(i+1), Type: models.StepCommand,
			Action: models.Action{Kind: "set", Values: map[string]any{"n": i}}})
	}
	b, _ := json.Marshal(d) // a definition of strings and ints always encodes
	return b
}

// historyRun appends one finished run created at at: 90 % succeeded, 8 %
// failed at their last step, 2 % cancelled.
func historyRun(w *models.RunWrites, rng *rand.Rand, def json.RawMessage, template string, steps int, at time.Time) {
	id := ulid.MustNew(ulid.Timestamp(at), readerOf{rng}).String()
	status, last := models.RunSucceeded, models.StepSucceeded
	var runErr *models.RunError
	switch p := rng.IntN(100); {
	case p < 8:
		status, last = models.RunFailed, models.StepFailed
		runErr = &models.RunError{Code: "step_failed", Message: "step s" + strconv.Itoa(steps) + " failed", StepID: "s" + strconv.Itoa(steps)}
	case p < 10:
		status, last = models.RunCancelled, models.StepCancelled
	}
	seq := int64(0)
	ev := func(typ, step, st string, t time.Time, dur *float64) {
		seq++
		w.Events = append(w.Events, models.Event{RunID: id, Seq: seq, Type: typ, StepID: step, Status: st, At: t, DurationMs: dur})
	}
	ev(models.EventRunQueued, "", string(models.RunQueued), at, nil)
	ev(models.EventRunStarted, "", string(models.RunRunning), at, nil)
	t := at
	for i := range steps {
		sid := "s" + strconv.Itoa(i+1)
		started := t
		t = t.Add(time.Duration(200+rng.IntN(800)) * time.Microsecond)
		finished := t
		dur := float64(finished.Sub(started)) / float64(time.Millisecond)
		st := models.StepSucceeded
		if i == steps-1 {
			st = last
		}
		w.StepRuns = append(w.StepRuns, models.StepRunRow{
			StepRun: models.StepRun{RunID: id, StepID: sid, Attempt: 1, Status: st,
				Output: map[string]any{"n": i}, StartedAt: &started, FinishedAt: &finished},
			Item: -1, Order: i + 1, DurationMs: &dur,
		})
		ev(models.EventStepStarted, sid, string(models.StepRunning), started, nil)
		ev("step."+string(st), sid, string(st), finished, &dur)
	}
	total := float64(t.Sub(at)) / float64(time.Millisecond)
	ev("run."+string(status), "", string(status), t, &total)
	started, finished := at, t
	w.Runs = append(w.Runs, models.RunRow{
		Run: models.Run{ID: id, Template: template, Version: 1, Status: status, Trigger: models.TriggerManual,
			StartedBy: "history", Inputs: map[string]any{}, Outputs: map[string]any{}, Error: runErr,
			CreatedAt: at, StartedAt: &started, FinishedAt: &finished, DurationMs: &total},
		Definition: def, Seq: seq, InputsJSON: models.EncodedJSON("{}"),
	})
}

// readerOf makes a math/rand/v2 generator an io.Reader, for ulid.
type readerOf struct{ r *rand.Rand }

func (r readerOf) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r.r.Uint32())
	}
	return len(p), nil
}

var (
	historyStepCols = []string{"run_id", "step_id", "item", "compensation", "attempt", "status", "input", "output", "error",
		"reason", "generation", "ord", "started_at", "finished_at", "duration_ms"}
	historyEventCols = []string{"run_id", "seq", "type", "step_id", "status", "attempt", "at", "duration_ms", "error"}
)

// writeHistory writes one chunk in one transaction.
func (s *Store) writeHistory(ctx context.Context, w *models.RunWrites) error {
	var jerr error
	j := func(v any) string {
		out, err := jsonArg(v)
		if err != nil && jerr == nil {
			jerr = err
		}
		return out
	}
	tables := []struct {
		name string
		cols []string
		n    int
		row  func(i int, a []any) []any
	}{
		{"runs", runCols, len(w.Runs), func(i int, a []any) []any { return runArgs(&w.Runs[i], a, j) }},
		{"step_runs", historyStepCols, len(w.StepRuns), func(i int, a []any) []any {
			r := &w.StepRuns[i]
			return append(a, r.RunID, r.StepID, r.Item, r.Compensation, r.Attempt, string(r.Status), "null",
				j(r.Output), "null", r.Reason, r.Generation, r.Order, utcPtr(r.StartedAt), utcPtr(r.FinishedAt), r.DurationMs)
		}},
		{"run_events", historyEventCols, len(w.Events), func(i int, a []any) []any {
			e := &w.Events[i]
			return append(a, e.RunID, e.Seq, e.Type, e.StepID, e.Status, e.Attempt, utc(e.At), e.DurationMs, "null")
		}},
	}
	if s.dialect == migrations.Postgres {
		conn, err := s.sqlDB.Conn(ctx)
		if err != nil {
			return s.rawErr(err, "history")
		}
		defer func() { _ = conn.Close() }()
		return conn.Raw(func(driverConn any) error {
			c, ok := driverConn.(*stdlib.Conn)
			if !ok {
				return fmt.Errorf("store: the PostgreSQL driver is %T, not pgx", driverConn)
			}
			tx, err := c.Conn().Begin(ctx)
			if err != nil {
				return s.rawErr(err, "history")
			}
			defer func() { _ = tx.Rollback(ctx) }()
			for _, tb := range tables {
				_, err := tx.CopyFrom(ctx, pgx.Identifier{tb.name}, tb.cols, pgx.CopyFromFunc(func() func() ([]any, error) {
					i := 0
					return func() ([]any, error) {
						if i == tb.n {
							return nil, nil
						}
						row := tb.row(i, make([]any, 0, len(tb.cols)))
						i++
						return row, jerr
					}
				}()))
				if err != nil {
					return s.rawErr(err, tb.name)
				}
			}
			return s.rawErr(tx.Commit(ctx), "history")
		})
	}
	tx, err := s.sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return s.rawErr(err, "history")
	}
	defer func() { _ = tx.Rollback() }()
	for _, tb := range tables {
		if err := insertLiteralRows(ctx, tx, tb.name, tb.cols, tb.n, tb.row); err != nil {
			return s.rawErr(err, tb.name)
		}
		if jerr != nil {
			return jerr
		}
	}
	return s.rawErr(tx.Commit(), "history")
}

// insertLiteralRows is SQLite's bulk insert: multi-row INSERTs of a few
// hundred rows with the values written into the SQL as literals. The
// driver parses every statement it executes (prepared or not) and binds
// parameters in time quadratic in their number, so literals, parsed once
// by SQLite's tokenizer, cost the least. Every value is ours (ids, keys,
// numbers, JSON we encoded) and is quoted; times are written as the driver
// writes them (RFC 3339, UTC).
func insertLiteralRows(ctx context.Context, tx *sql.Tx, table string, cols []string, n int, row func(int, []any) []any) error {
	const per = 500
	head := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES "
	var q strings.Builder
	args := make([]any, 0, len(cols))
	for start := 0; start < n; start += per {
		q.Reset()
		q.WriteString(head)
		for i := start; i < min(n, start+per); i++ {
			if i > start {
				q.WriteByte(',')
			}
			q.WriteByte('(')
			args = row(i, args[:0])
			for c, v := range args {
				if c > 0 {
					q.WriteByte(',')
				}
				if err := writeLiteral(&q, v); err != nil {
					return err
				}
			}
			q.WriteByte(')')
		}
		if _, err := tx.ExecContext(ctx, q.String()); err != nil {
			return err
		}
	}
	return nil
}

// writeLiteral writes v as an SQLite literal.
func writeLiteral(q *strings.Builder, v any) error {
	switch x := v.(type) {
	case nil:
		q.WriteString("NULL")
	case string:
		q.WriteByte('\'')
		q.WriteString(strings.ReplaceAll(x, "'", "''"))
		q.WriteByte('\'')
	case int:
		q.WriteString(strconv.Itoa(x))
	case int64:
		q.WriteString(strconv.FormatInt(x, 10))
	case bool:
		if x {
			q.WriteByte('1')
		} else {
			q.WriteByte('0')
		}
	case *float64:
		if x == nil {
			q.WriteString("NULL")
		} else {
			q.WriteString(strconv.FormatFloat(*x, 'g', -1, 64))
		}
	case time.Time:
		q.WriteByte('\'')
		q.WriteString(x.UTC().Format(time.RFC3339Nano))
		q.WriteByte('\'')
	case *time.Time:
		if x == nil {
			q.WriteString("NULL")
		} else {
			return writeLiteral(q, *x)
		}
	default:
		return fmt.Errorf("store: no SQLite literal for a %T", v)
	}
	return nil
}
