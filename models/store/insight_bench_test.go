package store_test

import (
	"context"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/baton-run/baton/models/store/storetest"
)

// insightHistory is one filled and rolled-up store per dialect, shared by
// the sub-benchmarks of BenchmarkAnalytics.
var insightHistory sync.Map // dialect → *store.Store

// reuse opens the SQLite history kept at path by an earlier run
// (BATON_BENCH_SQLITE), when it holds runs.
func reuse(b *testing.B, path string, st **store.Store) bool {
	if _, err := os.Stat(path); err != nil {
		return false
	}
	s, err := store.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		b.Fatal(err)
	}
	runs, err := s.ListRuns(context.Background(), models.RunFilter{Limit: 1})
	if err != nil || len(runs) == 0 {
		_ = s.Close()
		_ = os.Remove(path)
		return false
	}
	*st = s
	return true
}

// BenchmarkAnalytics times every analytics and report query against a
// long history: BATON_BENCH_HISTORY_RUNS finished runs (default 100,000;
// docs/performance.md uses 1,000,000) of four templates, 10 step attempts
// each, over 90 days, counted into the rollups first. Each sub-benchmark
// is one query as the API sends it. BATON_BENCH_SQLITE=/path/file.db keeps
// the SQLite history there and reuses it on the next run (ranges end now,
// so a later run sees that history slightly older); BATON_BENCH_POSTGRES=URL
// reads a PostgreSQL database filled by an earlier run instead of filling
// one.
func BenchmarkAnalytics(b *testing.B) {
	runs := 100_000
	if v, err := strconv.Atoi(os.Getenv("BATON_BENCH_HISTORY_RUNS")); err == nil && v > 0 {
		runs = v
	}
	end := time.Now().Truncate(time.Hour)
	for _, db := range storetest.Databases(b) {
		b.Run(db.Name, func(b *testing.B) {
			ctx := context.Background()
			var st *store.Store
			keep := os.Getenv("BATON_BENCH_SQLITE")
			pgKeep := os.Getenv("BATON_BENCH_POSTGRES")
			if v, ok := insightHistory.Load(db.Name); ok {
				st = v.(*store.Store)
			} else if pgKeep != "" && db.Name == "postgres" {
				var err error
				if st, err = store.Open(ctx, pgKeep); err != nil {
					b.Fatal(err)
				}
				insightHistory.Store(db.Name, st)
			} else if keep != "" && db.Name == "sqlite" && reuse(b, keep, &st) {
				// Runs not counted yet (none, unless reset by hand) are
				// counted now.
				start := time.Now()
				n, err := st.RollUp(ctx)
				if err != nil {
					b.Fatal(err)
				}
				b.Logf("%s: rolled up %d runs in %s", db.Name, n, time.Since(start).Round(time.Second))
				insightHistory.Store(db.Name, st)
			} else {
				if keep != "" && db.Name == "sqlite" {
					var err error
					if st, err = store.Open(ctx, "sqlite:"+keep); err != nil {
						b.Fatal(err)
					}
				} else {
					st = db.Open(b)
				}
				start := time.Now()
				stats, err := st.FillHistory(ctx, store.HistoryOptions{Runs: runs, Steps: 10, End: end.Add(-time.Minute), Seed: 13, NoEvents: true})
				if err != nil {
					b.Fatal(err)
				}
				b.Logf("%s: filled %d runs, %d step attempts in %s", db.Name, stats.Runs, stats.StepRuns, time.Since(start).Round(time.Second))
				start = time.Now()
				n, err := st.RollUp(ctx)
				if err != nil {
					b.Fatal(err)
				}
				b.Logf("%s: rolled up %d runs in %s", db.Name, n, time.Since(start).Round(time.Second))
				insightHistory.Store(db.Name, st)
			}
			week := models.AnalyticsFilter{From: end.Add(-7 * 24 * time.Hour), To: end}
			quarter := models.AnalyticsFilter{From: end.Add(-90 * 24 * time.Hour), To: end}
			tpl := func(f models.AnalyticsFilter) models.AnalyticsFilter { f.Template = "history-2"; return f }
			paris, _ := time.LoadLocation("Europe/Paris")
			tz := func(f models.AnalyticsFilter) models.AnalyticsFilter { f.Loc = paris; return f }
			for _, c := range []struct {
				name string
				fn   func() error
			}{
				{"summary/7d", func() error { _, err := st.AnalyticsSummary(ctx, week); return err }},
				{"summary/90d", func() error { _, err := st.AnalyticsSummary(ctx, quarter); return err }},
				{"summary/90d/template", func() error { _, err := st.AnalyticsSummary(ctx, tpl(quarter)); return err }},
				{"series/7d/day/template", func() error {
					_, err := st.AnalyticsSeries(ctx, tz(week), models.SeriesQuery{Metric: models.MetricRuns, Bucket: models.BucketDay, GroupBy: models.GroupTemplate})
					return err
				}},
				{"series/7d/hour/p95", func() error {
					_, err := st.AnalyticsSeries(ctx, week, models.SeriesQuery{Metric: models.MetricDurationP95, Bucket: models.BucketHour})
					return err
				}},
				{"series/90d/week/success_rate/template", func() error {
					_, err := st.AnalyticsSeries(ctx, quarter, models.SeriesQuery{Metric: models.MetricSuccessRate, Bucket: models.BucketWeek, GroupBy: models.GroupTemplate})
					return err
				}},
				{"steps/7d/template", func() error { _, err := st.AnalyticsSteps(ctx, tpl(week)); return err }},
				{"steps/90d/template", func() error { _, err := st.AnalyticsSteps(ctx, tpl(quarter)); return err }},
				{"decisions/7d/template", func() error { _, err := st.AnalyticsDecisions(ctx, tpl(week)); return err }},
				{"usage/7d", func() error { _, err := st.AnalyticsUsage(ctx, tz(week)); return err }},
				{"usage/90d", func() error { _, err := st.AnalyticsUsage(ctx, quarter); return err }},
				{"approvals/7d", func() error { _, err := st.AnalyticsApprovals(ctx, week); return err }},
			} {
				b.Run(c.name, func(b *testing.B) {
					for b.Loop() {
						if err := c.fn(); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}
