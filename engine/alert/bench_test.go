package alert_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/baton-run/baton/engine/alert"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/baton-run/baton/models/store/storetest"
)

// hundredRules stores 100 enabled rules over 10 templates: 20 run_failed,
// 20 failure_rate, 20 duration_over, 20 anomaly, 10 step_stuck and 10 on
// stored state (review_waiting, backlog, database_unavailable).
func hundredRules(tb testing.TB, st *store.Store) {
	ctx := context.Background()
	hour := models.Threshold{Dur: time.Hour, Raw: "1h"}
	share := models.Threshold{Num: 0.5}
	count := models.Threshold{Num: 1000}
	for i := range 100 {
		tmpl := fmt.Sprintf("t%d", i%10)
		c := models.AlertCondition{Template: tmpl}
		switch {
		case i < 20:
			c.Kind = models.CondRunFailed
		case i < 40:
			c.Kind, c.Threshold, c.Window, c.MinRuns = models.CondFailureRate, &share, "10m", 20
		case i < 60:
			c.Kind, c.Threshold = models.CondDurationOver, &hour
		case i < 80:
			c.Kind, c.Metric = models.CondAnomaly, "duration"
			if i%2 == 0 {
				c.Metric = "failure_rate"
			}
		case i < 90:
			c.Kind, c.Step, c.Threshold = models.CondStepStuck, "s5", &hour
		case i < 94:
			c.Kind, c.Template, c.Threshold = models.CondReviewWaiting, "", &hour
		case i < 97:
			c.Kind, c.Template, c.Threshold, c.For = models.CondBacklog, "", &count, "1m"
		default:
			c.Kind, c.Template = models.CondDatabaseDown, ""
		}
		r := models.AlertRule{Name: fmt.Sprintf("rule %d", i), Enabled: true, Condition: c}
		if err := st.CreateAlertRule(ctx, &r); err != nil {
			tb.Fatal(err)
		}
	}
}

// runEvents is what the engine publishes for one run of a 10-step chain.
func runEvents(id, tmpl string, at time.Time, failed bool, ms float64) []models.Event {
	evs := []models.Event{{RunID: id, Type: models.EventRunQueued, At: at, Template: tmpl}, {RunID: id, Type: models.EventRunStarted, At: at, Template: tmpl}}
	for s := range 10 {
		step := fmt.Sprintf("s%d", s)
		evs = append(evs, models.Event{RunID: id, Type: models.EventStepStarted, StepID: step, At: at, Template: tmpl},
			models.Event{RunID: id, Type: models.EventStepSucceeded, StepID: step, At: at, Template: tmpl})
	}
	end := models.EventRunSucceeded
	if failed {
		end = models.EventRunFailed
	}
	return append(evs, models.Event{RunID: id, Type: end, Status: "x", At: at, Template: tmpl, DurationMs: &ms})
}

// BenchmarkEvaluate100Rules is the cost of rule evaluation per run: the
// events of one 10-step run through 100 rules, with no run failing, or 1
// run in 100 failing (which raises alerts in the store: the two run_failed
// rules of its template, then counts the repeats), and the service's tick
// (escalation, deliveries, counted repeats written) once per 5,000 runs,
// about every 3 s at the engine's 1,700 runs/s (it runs every 5 s). Compare
// ns/run with the engine's time per run (docs/performance.md, "Alerts").
func BenchmarkEvaluate100Rules(b *testing.B) {
	for _, fail := range []int{0, 100} {
		for _, db := range storetest.Databases(b) {
			b.Run(fmt.Sprintf("failing=%s/%s", map[int]string{0: "none", 100: "1%"}[fail], db.Name), func(b *testing.B) {
				benchEvaluate(b, db, fail)
			})
		}
	}
}

func benchEvaluate(b *testing.B, db storetest.DB, failEvery int) {
	{
		{
			st := db.Open(b)
			hundredRules(b, st)
			svc := alert.New(alert.Config{Store: st, Clock: clockwork.NewFakeClock(), Log: slog.New(slog.DiscardHandler)})
			ctx := context.Background()
			if err := svc.ReloadRules(ctx); err != nil {
				b.Fatal(err)
			}
			// The same batches every round, built before timing.
			const distinct = 1000
			batches := make([][]models.Event, distinct)
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for i := range batches {
				batches[i] = runEvents(fmt.Sprintf("r%d", i), fmt.Sprintf("t%d", i%10), t0.Add(time.Duration(i)*time.Millisecond),
					failEvery > 0 && i%failEvery == failEvery-1, float64(900+i%200))
			}
			b.ResetTimer()
			for i := range b.N {
				batch := batches[i%distinct]
				at := t0.Add(time.Duration(i) * time.Millisecond) // time moves on, as it does
				for j := range batch {
					batch[j].At = at
				}
				svc.Observe(ctx, batch)
				if i%5000 == 4999 {
					svc.Tick(ctx)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/run")
		}
	}
}

// BenchmarkEvaluatePeriodic is one slow tick (every 30s) with 100 rules
// and 1,000 runs in flight.
func BenchmarkEvaluatePeriodic(b *testing.B) {
	st := storetest.OpenSQLite(b)
	hundredRules(b, st)
	clock := clockwork.NewFakeClock()
	svc := alert.New(alert.Config{Store: st, Clock: clock, Log: slog.New(slog.DiscardHandler),
		Healthy: func() error { return nil }, Backlog: func() int { return 0 }})
	ctx := context.Background()
	if err := svc.ReloadRules(ctx); err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		evs := runEvents(fmt.Sprintf("r%d", i), fmt.Sprintf("t%d", i%10), clock.Now(), false, 1)
		svc.Observe(ctx, evs[:2+2*5+1]) // started, steps s0–s4 done, s5 running
	}
	b.ResetTimer()
	for range b.N {
		svc.EvaluatePeriodic(ctx)
	}
}

// BenchmarkTick is one fast tick (every 5 s): escalation steps due,
// deliveries due, counted repeats written, with 100 rules, 20 open alerts
// and nothing due (the common case).
func BenchmarkTick(b *testing.B) {
	st := storetest.OpenSQLite(b)
	hundredRules(b, st)
	svc := alert.New(alert.Config{Store: st, Clock: clockwork.NewFakeClock(), Log: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	if err := svc.ReloadRules(ctx); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	for i := range 20 {
		svc.Observe(ctx, runEvents(fmt.Sprintf("f%d", i), fmt.Sprintf("t%d", i%10), t0, true, 1))
	}
	b.ResetTimer()
	for range b.N {
		svc.Tick(ctx)
	}
}
