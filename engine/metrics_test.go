package engine_test

import (
	"strings"
	"testing"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/prometheus/client_golang/prometheus"
)

func TestMetricsAndProcessLimit(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		reg := prometheus.NewRegistry()
		m := engine.NewMetrics(reg)
		h := newHarness(t, open, func(c *engine.Config) { c.Metrics = m; c.MaxActions = 1 })
		srv := newServer(t)
		run := h.run(strings.ReplaceAll(`
id: metrics
name: metrics
errorHandling: {strategy: continue}
steps:
  - {id: a, type: command, action: {kind: http, url: "{{URL}}/slow/20"}}
  - {id: b, type: command, action: {kind: http, url: "{{URL}}/slow/20"}}
  - {id: c, type: command, retryPolicy: {maxAttempts: 2, initialInterval: 1}, action: {kind: http, url: "{{URL}}/flaky/1/c"}}
  - {id: d, type: command, action: {kind: fail, message: x}}
`, "{{URL}}", srv.URL), nil)
		if run.Status != models.RunFailed {
			t.Fatalf("status = %s", run.Status)
		}
		if n := srv.maxIn.Load(); n != 1 {
			t.Errorf("max concurrent actions = %d; want 1 (MaxActions)", n)
		}
		checks := map[string]float64{
			"baton_runs_started_total":  1,
			"baton_steps_started_total": 5,
			"baton_step_retries_total":  1,
			"baton_active_runs":         0,
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, mf := range mfs {
			for _, mm := range mf.GetMetric() {
				switch {
				case mm.Counter != nil:
					got[mf.GetName()] += mm.Counter.GetValue()
				case mm.Gauge != nil:
					got[mf.GetName()] += mm.Gauge.GetValue()
				case mm.Histogram != nil:
					got[mf.GetName()+"_count"] += float64(mm.Histogram.GetSampleCount())
				}
			}
		}
		for name, want := range checks {
			if got[name] != want {
				t.Errorf("%s = %v; want %v", name, got[name], want)
			}
		}
		if got["baton_commit_batch_size_count"] == 0 || got["baton_run_duration_seconds_count"] != 1 {
			t.Errorf("histograms = %v", got)
		}
		if got["baton_runs_finished_total"] != 1 {
			t.Errorf("runs_finished = %v; want 1", got["baton_runs_finished_total"])
		}
		if a, w := h.eng.QueueDepth(); a != 0 || w != 0 {
			t.Errorf("QueueDepth = %d, %d; want 0, 0 when idle", a, w)
		}
	})
}
