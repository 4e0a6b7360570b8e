package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// insightRun is one seeded run, as the figures' expectations read it: the
// rows written are built from it, and every expected figure is computed
// from these values, not through the rollups.
type insightRun struct {
	id, template, trigger, user string
	version                     int
	test                        bool
	status                      models.RunStatus
	finished                    time.Time
	duration                    float64
	steps                       []insightStep
}

type insightStep struct {
	id       string
	attempts []models.StepStatus // the last one is final
	durs     []float64
	outcome  string // condition steps: "true", "false", a next step, "default"
	cond     bool
	output   any
}

var insightDefinition = json.RawMessage(`{"id":"x","name":"X","steps":[
 {"id":"check","type":"condition","action":{"expression":"inputs.n > 2"}},
 {"id":"route","type":"condition","action":{"cases":[{"when":"inputs.n > 4","next":"big"}],"default":"small"}},
 {"id":"work","type":"command","action":{"kind":"set","values":{}}},
 {"id":"later","type":"command","action":{"kind":"set","values":{}}}]}`)

// seedInsight writes n finished runs spread over three days before end,
// across templates, versions, triggers, users, statuses, test runs,
// retries and branches.
func seedInsight(t *testing.T, st *store.Store, rng *rand.Rand, end time.Time, n int, prefix string) []insightRun {
	t.Helper()
	var runs []insightRun
	var w models.RunWrites
	statuses := []models.RunStatus{models.RunSucceeded, models.RunSucceeded, models.RunSucceeded, models.RunFailed,
		models.RunCancelled, models.RunTimedOut, models.RunRolledBack}
	for i := range n {
		r := insightRun{
			id:       fmt.Sprintf("%s%05d", prefix, i),
			template: []string{"alpha", "beta", "gamma"}[rng.IntN(3)],
			version:  1 + rng.IntN(2),
			trigger:  []string{models.TriggerManual, models.TriggerAPI, models.TriggerSchedule}[rng.IntN(3)],
			user:     []string{"ann", "bob", ""}[rng.IntN(3)],
			test:     rng.IntN(10) == 0,
			status:   statuses[rng.IntN(len(statuses))],
			finished: end.Add(-time.Duration(rng.Int64N(int64(72 * time.Hour)))).Truncate(time.Millisecond),
			duration: math.Round(float64(1+rng.IntN(5000))*10) / 100,
		}
		nv := rng.IntN(7)
		check := insightStep{id: "check", cond: true, attempts: []models.StepStatus{models.StepSucceeded}, durs: []float64{0.01}}
		check.outcome = strconv.FormatBool(nv > 2)
		check.output = map[string]any{"result": nv > 2}
		route := insightStep{id: "route", cond: true, attempts: []models.StepStatus{models.StepSucceeded}, durs: []float64{0.02}}
		if nv > 4 {
			route.outcome, route.output = "big", map[string]any{"case": 0, "next": "big"}
		} else {
			route.outcome, route.output = "default", map[string]any{"case": -1, "next": "small"}
		}
		work := insightStep{id: "work"}
		for a := range 1 + rng.IntN(3) {
			work.attempts = append(work.attempts, models.StepFailed)
			work.durs = append(work.durs, float64(10+a*7+rng.IntN(100)))
		}
		if r.status == models.RunSucceeded {
			work.attempts[len(work.attempts)-1] = models.StepSucceeded
		}
		later := insightStep{id: "later", attempts: []models.StepStatus{models.StepSkipped}, durs: []float64{-1}}
		if r.status == models.RunSucceeded {
			later.attempts[0], later.durs[0] = models.StepSucceeded, 3.5
		}
		r.steps = []insightStep{check, route, work, later}
		runs = append(runs, r)

		started := r.finished.Add(-time.Duration(r.duration * float64(time.Millisecond)))
		dur := r.duration
		fin := r.finished
		row := models.RunRow{Run: models.Run{ID: r.id, Template: r.template, Version: r.version, Status: r.status,
			Trigger: r.trigger, StartedBy: r.user, Test: r.test, Inputs: map[string]any{"n": nv}, Outputs: map[string]any{},
			CreatedAt: started, StartedAt: &started, FinishedAt: &fin, DurationMs: &dur}, Definition: insightDefinition}
		w.Runs = append(w.Runs, row)
		for _, s := range r.steps {
			for a, status := range s.attempts {
				sr := models.StepRunRow{StepRun: models.StepRun{RunID: r.id, StepID: s.id, Attempt: a + 1, Status: status, Output: s.output},
					Item: -1}
				if s.durs[a] >= 0 {
					d := s.durs[a]
					sr.DurationMs = &d
					sr.StartedAt, sr.FinishedAt = &started, &fin
				}
				w.StepRuns = append(w.StepRuns, sr)
			}
		}
		// A parallel element's attempt and a compensation are not steps of
		// the run's own: they never count.
		w.StepRuns = append(w.StepRuns, models.StepRunRow{StepRun: models.StepRun{RunID: r.id, StepID: "work", Attempt: 1,
			Status: models.StepSucceeded}, Item: 0}, models.StepRunRow{StepRun: models.StepRun{RunID: r.id, StepID: "work",
			Attempt: 1, Status: models.StepCompensated}, Item: -1, Compensation: true})
	}
	// One run still going: never counted.
	w.Runs = append(w.Runs, models.RunRow{Run: models.Run{ID: prefix + "active", Template: "alpha", Version: 1,
		Status: models.RunRunning, Trigger: models.TriggerAPI, Inputs: map[string]any{}, Outputs: map[string]any{},
		CreatedAt: end.Add(-time.Hour)}, Definition: insightDefinition})
	must(t, st.ApplyRunWrites(context.Background(), &w), "seed runs")
	return runs
}

func (r insightRun) matches(f models.AnalyticsFilter) bool {
	from := f.From.Truncate(time.Hour)
	to := f.To.Truncate(time.Hour)
	if !to.Equal(f.To) {
		to = to.Add(time.Hour)
	}
	return !r.finished.Before(from) && r.finished.Before(to) &&
		(f.Template == "" || r.template == f.Template) && (f.Version == 0 || r.version == f.Version) &&
		(f.Trigger == "" || r.trigger == f.Trigger) && (f.User == "" || r.user == f.User) &&
		(f.Status == "" || r.status == f.Status) && (f.Test || !r.test)
}

// nearest is the exact nearest-rank quantile.
func nearest(vs []float64, q float64) float64 {
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(i, 0)]
}

// closeTo checks an estimate from the histogram against the exact value:
// within one bucket (2^(1/8), 9 %).
func closeTo(t *testing.T, what string, got *float64, want float64) {
	t.Helper()
	if got == nil {
		t.Errorf("%s = null, want %.3f", what, want)
		return
	}
	if r := *got / want; r < 1/1.0905 || r > 1.0905 {
		t.Errorf("%s = %.3f, want %.3f within 9%%", what, *got, want)
	}
}

func exerciseInsightFigures(t *testing.T, st *store.Store) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(13, 17))
	end := time.Date(2026, 3, 9, 5, 30, 0, 0, time.UTC) // a Monday
	runs := seedInsight(t, st, rng, end, 150, "01INS")

	check := func(phase string) {
		t.Helper()
		ny, _ := time.LoadLocation("America/New_York")
		filters := []models.AnalyticsFilter{
			{From: end.Add(-96 * time.Hour), To: end},
			{From: end.Add(-96 * time.Hour), To: end, Test: true},
			{From: end.Add(-30 * time.Hour), To: end.Add(-90 * time.Minute), Template: "alpha"},
			{From: end.Add(-96 * time.Hour), To: end, Version: 2, Trigger: models.TriggerAPI},
			{From: end.Add(-96 * time.Hour), To: end, User: "ann", Status: models.RunFailed},
			{From: end.Add(-96 * time.Hour), To: end, Template: "beta", Loc: ny},
		}
		for fi, f := range filters {
			name := fmt.Sprintf("%s filter %d", phase, fi)
			var want models.AnalyticsSummary
			var durs []float64
			for _, r := range runs {
				if !r.matches(f) {
					continue
				}
				want.Runs++
				durs = append(durs, r.duration)
				switch r.status {
				case models.RunSucceeded:
					want.Succeeded++
				case models.RunFailed:
					want.Failed++
				case models.RunCancelled:
					want.Cancelled++
				case models.RunTimedOut:
					want.TimedOut++
				case models.RunRolledBack:
					want.RolledBack++
				}
				for _, s := range r.steps {
					for a, status := range s.attempts {
						if status != models.StepSkipped {
							want.Steps++
						}
						if a > 0 {
							want.Retries++
						}
					}
				}
			}
			got, err := st.AnalyticsSummary(ctx, f)
			must(t, err, name)
			gotCounts := [...]int64{got.Runs, got.Succeeded, got.Failed, got.Cancelled, got.TimedOut, got.RolledBack, got.Steps, got.Retries}
			wantCounts := [...]int64{want.Runs, want.Succeeded, want.Failed, want.Cancelled, want.TimedOut, want.RolledBack, want.Steps, want.Retries}
			if gotCounts != wantCounts {
				t.Errorf("%s: summary counts (runs, succeeded, failed, cancelled, timedOut, rolledBack, steps, retries) = %v, want %v", name, gotCounts, wantCounts)
			}
			if want.Runs == 0 {
				t.Fatalf("%s: the seed has no runs for this filter; the test proves nothing", name)
			}
			if got.SuccessRate == nil || math.Abs(*got.SuccessRate-float64(want.Succeeded)/float64(want.Runs)) > 1e-9 {
				t.Errorf("%s: successRate = %v, want %d/%d", name, got.SuccessRate, want.Succeeded, want.Runs)
			}
			closeTo(t, name+" p50", got.DurationMs.P50, nearest(durs, 0.5))
			closeTo(t, name+" p95", got.DurationMs.P95, nearest(durs, 0.95))
			closeTo(t, name+" p99", got.DurationMs.P99, nearest(durs, 0.99))
			var sum float64
			for _, d := range durs {
				sum += d
			}
			if got.DurationMs.Mean == nil || math.Abs(*got.DurationMs.Mean-sum/float64(len(durs))) > 0.001 {
				t.Errorf("%s: mean = %v, want %.3f", name, got.DurationMs.Mean, sum/float64(len(durs)))
			}

			// Series: runs per day in the filter's zone, by template.
			ser, err := st.AnalyticsSeries(ctx, f, models.SeriesQuery{Metric: models.MetricRuns, Bucket: models.BucketDay, GroupBy: models.GroupTemplate})
			must(t, err, name+" series")
			wantDays := map[string]map[time.Time]float64{}
			for _, r := range runs {
				if r.matches(f) {
					d := store.BucketStart(r.finished, models.BucketDay, f.Location()).UTC()
					if wantDays[r.template] == nil {
						wantDays[r.template] = map[time.Time]float64{}
					}
					wantDays[r.template][d]++
				}
			}
			if len(ser.Series) != len(wantDays) {
				t.Errorf("%s: %d series, want %d", name, len(ser.Series), len(wantDays))
			}
			for _, line := range ser.Series {
				var total float64
				for _, p := range line.Points {
					if p.V == nil {
						t.Fatalf("%s: a count is null", name)
					}
					if *p.V != wantDays[line.Key][p.T] {
						t.Errorf("%s: %s on %s = %v, want %v", name, line.Key, p.T, *p.V, wantDays[line.Key][p.T])
					}
					total += *p.V
				}
				var wantTotal float64
				for _, v := range wantDays[line.Key] {
					wantTotal += v
				}
				if total != wantTotal {
					t.Errorf("%s: %s totals %v, want %v (a run outside every bucket)", name, line.Key, total, wantTotal)
				}
			}

			// Usage.
			u, err := st.AnalyticsUsage(ctx, f)
			must(t, err, name+" usage")
			var wantWH [7][24]int64
			wantTrig := map[string]int64{}
			for _, r := range runs {
				if r.matches(f) {
					h := r.finished.Truncate(time.Hour).In(f.Location())
					wantWH[h.Weekday()][h.Hour()]++
					wantTrig[r.trigger]++
				}
			}
			if u.ByWeekdayHour != wantWH {
				t.Errorf("%s: byWeekdayHour = %v, want %v", name, u.ByWeekdayHour, wantWH)
			}
			if fmt.Sprint(u.ByTrigger) != fmt.Sprint(wantTrig) {
				t.Errorf("%s: byTrigger = %v, want %v", name, u.ByTrigger, wantTrig)
			}

			if f.Trigger != "" || f.User != "" || f.Status != "" {
				if _, err := st.AnalyticsSteps(ctx, f); models.ErrorCode(err) != models.Invalid {
					t.Errorf("%s: steps with a run filter: %v, want Invalid", name, err)
				}
				continue
			}
			// Steps and decisions.
			type stepWant struct {
				runs, succeeded, failed, skipped, retries int64
				total                                     float64
				durs                                      []float64
			}
			wantSteps := map[string]*stepWant{}
			wantDec := map[string]map[string]int64{}
			for _, r := range runs {
				if !r.matches(f) {
					continue
				}
				for _, s := range r.steps {
					sw := wantSteps[s.id]
					if sw == nil {
						sw = &stepWant{}
						wantSteps[s.id] = sw
					}
					sw.runs++
					switch s.attempts[len(s.attempts)-1] {
					case models.StepSucceeded:
						sw.succeeded++
					case models.StepFailed:
						sw.failed++
					case models.StepSkipped:
						sw.skipped++
					}
					sw.retries += int64(len(s.attempts) - 1)
					for a, d := range s.durs {
						if d >= 0 {
							sw.total += d
							if s.attempts[a] != models.StepSkipped {
								sw.durs = append(sw.durs, d)
							}
						}
					}
					if s.cond {
						if wantDec[s.id] == nil {
							wantDec[s.id] = map[string]int64{}
						}
						wantDec[s.id][s.outcome]++
					}
				}
			}
			steps, err := st.AnalyticsSteps(ctx, f)
			must(t, err, name+" steps")
			if len(steps) != len(wantSteps) {
				t.Errorf("%s: %d steps, want %d", name, len(steps), len(wantSteps))
			}
			for i, s := range steps {
				sw := wantSteps[s.Step]
				if sw == nil {
					t.Errorf("%s: unexpected step %q", name, s.Step)
					continue
				}
				if i > 0 && s.TotalMs > steps[i-1].TotalMs {
					t.Errorf("%s: steps not sorted by totalMs", name)
				}
				got := [...]int64{s.Runs, s.Succeeded, s.Failed, s.Skipped, s.Retries}
				want := [...]int64{sw.runs, sw.succeeded, sw.failed, sw.skipped, sw.retries}
				if got != want {
					t.Errorf("%s: step %s (runs, succeeded, failed, skipped, retries) = %v, want %v", name, s.Step, got, want)
				}
				if math.Abs(s.TotalMs-sw.total) > 0.01 {
					t.Errorf("%s: step %s totalMs = %v, want %v", name, s.Step, s.TotalMs, sw.total)
				}
				closeTo(t, name+" step "+s.Step+" p50", s.DurationMs.P50, nearest(sw.durs, 0.5))
				closeTo(t, name+" step "+s.Step+" p95", s.DurationMs.P95, nearest(sw.durs, 0.95))
			}
			decs, err := st.AnalyticsDecisions(ctx, f)
			must(t, err, name+" decisions")
			if len(decs) != len(wantDec) {
				t.Errorf("%s: %d decision steps, want %d", name, len(decs), len(wantDec))
			}
			for _, d := range decs {
				var evals int64
				for _, n := range wantDec[d.Step] {
					evals += n
				}
				if d.Evaluations != evals || fmt.Sprint(d.Outcomes) != fmt.Sprint(wantDec[d.Step]) {
					t.Errorf("%s: decisions of %s = %d %v, want %d %v", name, d.Step, d.Evaluations, d.Outcomes, evals, wantDec[d.Step])
				}
			}
		}
	}

	check("raw")
	n, err := st.RollUp(ctx)
	must(t, err, "roll up")
	if n != len(runs) {
		t.Errorf("RollUp counted %d runs, want %d", n, len(runs))
	}
	check("rolled up")
	// More runs, in the same hours: half the figures come from the rollups,
	// half from raw rows.
	runs = append(runs, seedInsight(t, st, rng, end, 60, "01INT")...)
	check("mixed")
	if n, err := st.RollUp(ctx); err != nil || n != 60 {
		t.Errorf("second RollUp = %d, %v; want 60", n, err)
	}
	if n, err := st.RollUp(ctx); err != nil || n != 0 {
		t.Errorf("third RollUp = %d, %v; want 0 (nothing counted twice)", n, err)
	}
	// Retention deletes every finished run: the figures stay.
	pruned, err := st.Prune(ctx, store.PruneOptions{OlderThan: time.Minute, Now: end.Add(time.Hour)})
	must(t, err, "prune")
	if pruned.Runs != len(runs) {
		t.Errorf("pruned %d runs, want %d", pruned.Runs, len(runs))
	}
	check("pruned")
}

// exerciseInsightPruneCountsFirst: runs pruned before any RollUp still
// count (Prune rolls up first).
func exerciseInsightPruneCountsFirst(t *testing.T, st *store.Store) {
	ctx := context.Background()
	end := time.Date(2026, 3, 9, 5, 30, 0, 0, time.UTC)
	runs := seedInsight(t, st, rand.New(rand.NewPCG(1, 2)), end, 40, "01PRN")
	f := models.AnalyticsFilter{From: end.Add(-96 * time.Hour), To: end, Test: true}
	before, err := st.AnalyticsSummary(ctx, f)
	must(t, err, "summary")
	if before.Runs != int64(len(runs)) {
		t.Fatalf("summary counts %d runs, want %d", before.Runs, len(runs))
	}
	if _, err := st.Prune(ctx, store.PruneOptions{OlderThan: time.Minute, Now: end.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	after, err := st.AnalyticsSummary(ctx, f)
	must(t, err, "summary after prune")
	a, _ := json.Marshal(after)
	b, _ := json.Marshal(before)
	if string(a) != string(b) {
		t.Errorf("after pruning: %s, want %s", a, b)
	}
}

func exerciseDecisionRecords(t *testing.T, st *store.Store) {
	ctx := context.Background()
	end := time.Date(2026, 3, 9, 5, 30, 0, 0, time.UTC)
	runs := seedInsight(t, st, rand.New(rand.NewPCG(3, 4)), end, 30, "01DEC")
	f := models.AnalyticsFilter{From: end.Add(-96 * time.Hour), To: end, Template: "alpha"}
	want := map[string]string{} // run/step → outcome
	for _, r := range runs {
		if r.template == "alpha" && !r.test {
			for _, s := range r.steps {
				if s.cond {
					want[r.id+"/"+s.id] = s.outcome
				}
			}
		}
	}
	got := map[string]string{}
	err := st.DecisionRecords(ctx, f, func(rec models.DecisionRecord) error {
		got[rec.RunID+"/"+rec.Step] = rec.Outcome
		if rec.Step == "check" {
			n, ok := rec.Read["inputs.n"].(float64)
			if !ok || strconv.FormatBool(n > 2) != rec.Outcome {
				t.Errorf("%s: read %v, outcome %s: the values read do not explain the outcome", rec.RunID, rec.Read, rec.Outcome)
			}
		}
		if rec.RunStatus == "" || rec.Version == 0 || rec.At == nil {
			t.Errorf("record lacks the run's end, version or time: %+v", rec)
		}
		return nil
	})
	must(t, err, "export")
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("exported %v, want %v", got, want)
	}
	if err := st.DecisionRecords(ctx, models.AnalyticsFilter{From: f.From, To: f.To}, func(models.DecisionRecord) error { return nil }); models.ErrorCode(err) != models.Invalid {
		t.Errorf("export without a template: %v, want Invalid", err)
	}
}

func exerciseReports(t *testing.T, st *store.Store) {
	ctx := context.Background()
	r := &models.Report{Owner: "ann", Name: "Failures", Description: "d", Chart: models.ChartLine,
		Query:      models.ReportQuery{Metric: models.MetricFailed, Bucket: models.BucketDay, GroupBy: models.GroupTemplate, Range: models.ReportRange{Last: "30d"}, TZ: "Europe/Paris"},
		SharedWith: []models.Role{models.RoleOperator}}
	must(t, st.CreateReport(ctx, r), "create")
	if r.ID == 0 {
		t.Fatal("no id")
	}
	got, err := st.ReportByID(ctx, r.ID)
	must(t, err, "get")
	if got.Name != "Failures" || got.Query.Range.Last != "30d" || got.Query.TZ != "Europe/Paris" || len(got.SharedWith) != 1 || got.Query.GroupBy != "template" {
		t.Errorf("read back %+v", got)
	}
	from, to := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	got.Query.Range = models.ReportRange{From: &from, To: &to}
	got.Name = "Failures by day"
	must(t, st.UpdateReport(ctx, got), "update")
	again, err := st.ReportByID(ctx, r.ID)
	must(t, err, "get again")
	if again.Name != "Failures by day" || again.Query.Range.From == nil || !again.Query.Range.From.Equal(from) || again.Owner != "ann" {
		t.Errorf("after update %+v", again)
	}
	list, err := st.ListReports(ctx)
	must(t, err, "list")
	if len(list) != 1 {
		t.Errorf("list has %d reports", len(list))
	}
	must(t, st.DeleteReport(ctx, r.ID), "delete")
	if _, err := st.ReportByID(ctx, r.ID); models.ErrorCode(err) != models.NotFound {
		t.Errorf("deleted report: %v", err)
	}
	if err := st.DeleteReport(ctx, r.ID); models.ErrorCode(err) != models.NotFound {
		t.Errorf("delete twice: %v", err)
	}
}

func exerciseRunCounts(t *testing.T, st *store.Store) {
	ctx := context.Background()
	seedInsight(t, st, rand.New(rand.NewPCG(5, 6)), time.Now(), 5, "01CNT")
	got, err := st.RunCounts(ctx)
	must(t, err, "counts")
	if got[models.RunRunning] != 1 || len(got) != 1 {
		t.Errorf("RunCounts = %v, want one running", got)
	}
	if st.OpenConnections() < 1 {
		t.Errorf("no open connections")
	}
}

func exerciseInsightApprovals(t *testing.T, st *store.Store) {
	ctx := context.Background()
	var leads []float64
	for _, k := range []string{"apr", "rej", "open"} {
		MustCreateTemplate(t, st, k, "dana")
		_, err := st.SubmitVersion(ctx, k, 1, "dana")
		must(t, err, "submit "+k)
	}
	time.Sleep(20 * time.Millisecond)
	a, err := st.ApproveVersion(ctx, "apr", 1, "carl", "")
	must(t, err, "approve")
	r, err := st.RejectVersion(ctx, "rej", 1, "carl", "no")
	must(t, err, "reject")
	for _, d := range []*models.VersionDetail{a, r} {
		leads = append(leads, float64(d.ReviewedAt.Sub(*d.SubmittedAt))/float64(time.Millisecond))
	}
	now := time.Now()
	got, err := st.AnalyticsApprovals(ctx, models.AnalyticsFilter{From: now.Add(-time.Hour), To: now.Add(time.Minute)})
	must(t, err, "approvals")
	if got.Submitted != 3 || got.Approved != 1 || got.Rejected != 1 || len(got.ByTemplate) != 3 {
		t.Errorf("approvals = %+v, want 3 submitted, 1 approved, 1 rejected, 3 templates", got)
	}
	if got.LeadTimeMs.P50 == nil || math.Abs(*got.LeadTimeMs.P50-nearest(leads, 0.5)) > 0.01 ||
		got.LeadTimeMs.P95 == nil || math.Abs(*got.LeadTimeMs.P95-nearest(leads, 0.95)) > 0.01 {
		t.Errorf("lead times = %v %v, want p50 %.3f p95 %.3f", got.LeadTimeMs.P50, got.LeadTimeMs.P95, nearest(leads, 0.5), nearest(leads, 0.95))
	}
	one, err := st.AnalyticsApprovals(ctx, models.AnalyticsFilter{From: now.Add(-time.Hour), To: now.Add(time.Minute), Template: "open"})
	must(t, err, "approvals of one template")
	if one.Submitted != 1 || one.Approved != 0 || one.LeadTimeMs.P50 != nil {
		t.Errorf("open template: %+v", one)
	}
	old, err := st.AnalyticsApprovals(ctx, models.AnalyticsFilter{From: now.Add(-48 * time.Hour), To: now.Add(-24 * time.Hour)})
	must(t, err, "approvals of another day")
	if old.Submitted != 0 {
		t.Errorf("a range without submissions counts %d", old.Submitted)
	}
}

// exerciseInsightRetriedRun: a finished run that is retried counts again
// when it finishes again (the trigger clears its rolled flag), and not
// before.
func exerciseInsightRetriedRun(t *testing.T, st *store.Store) {
	ctx := context.Background()
	end := time.Date(2026, 3, 9, 5, 30, 0, 0, time.UTC)
	fin := end.Add(-time.Hour)
	row := models.RunRow{Run: models.Run{ID: "01RETRY", Template: "alpha", Version: 1, Status: models.RunFailed, Trigger: models.TriggerAPI,
		Inputs: map[string]any{}, Outputs: map[string]any{}, CreatedAt: fin, StartedAt: &fin, FinishedAt: &fin}, Definition: insightDefinition}
	must(t, st.ApplyRunWrites(ctx, &models.RunWrites{Runs: []models.RunRow{row}}), "finish")
	if n, err := st.RollUp(ctx); err != nil || n != 1 {
		t.Fatalf("RollUp = %d, %v", n, err)
	}
	f := models.AnalyticsFilter{From: end.Add(-24 * time.Hour), To: end}
	count := func(what string, runs, failed, succeeded int64) {
		t.Helper()
		s, err := st.AnalyticsSummary(ctx, f)
		must(t, err, what)
		if s.Runs != runs || s.Failed != failed || s.Succeeded != succeeded {
			t.Errorf("%s: runs %d, failed %d, succeeded %d; want %d, %d, %d", what, s.Runs, s.Failed, s.Succeeded, runs, failed, succeeded)
		}
	}
	count("failed once", 1, 1, 0)
	row.Stored, row.Status, row.FinishedAt = true, models.RunRunning, nil
	must(t, st.ApplyRunWrites(ctx, &models.RunWrites{Runs: []models.RunRow{row}}), "retry")
	count("while retried", 1, 1, 0)
	if n, err := st.RollUp(ctx); err != nil || n != 0 {
		t.Errorf("RollUp of a running run = %d, %v; want 0", n, err)
	}
	fin2 := fin.Add(time.Minute)
	row.Status, row.FinishedAt = models.RunSucceeded, &fin2
	must(t, st.ApplyRunWrites(ctx, &models.RunWrites{Runs: []models.RunRow{row}}), "finish again")
	count("finished again, not rolled up yet", 2, 1, 1)
	if n, err := st.RollUp(ctx); err != nil || n != 1 {
		t.Errorf("RollUp after the second finish = %d, %v; want 1", n, err)
	}
	count("finished again", 2, 1, 1)
}
