package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store/storetest"
)

// BenchmarkMonitorSample is what one dashboard costs the server: one
// sample (run counts, a ping, the registry's metrics, the process's
// figures), taken once a second however many dashboards are open, on a
// database holding 10,000 unfinished runs. ns/op ÷ 1 s is the share of
// one core the dashboard takes.
func BenchmarkMonitorSample(b *testing.B) {
	st := storetest.OpenSQLite(b)
	var w models.RunWrites
	for i := range 10_000 {
		w.Runs = append(w.Runs, models.RunRow{Run: models.Run{ID: fmt.Sprintf("01MON%08d", i), Template: "t", Version: 1,
			Status: models.RunWaiting, Inputs: map[string]any{}, Outputs: map[string]any{}}, Definition: json.RawMessage(`{}`)})
	}
	if err := st.ApplyRunWrites(context.Background(), &w); err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	engine.NewMetrics(reg)
	d := Deps{Store: st, Insight: st, Registry: reg}.withDefaults()
	s := &server{deps: d, store: d.Store, monitor: &monitorSampler{}, metrics: newHTTPMetrics(reg, d.Log)}
	ctx := context.Background()
	for b.Loop() {
		s.monitor.last = nil // take a new sample every time
		m, err := s.monitorSample(ctx)
		if err != nil || m.WaitingRuns != 10_000 {
			b.Fatalf("sample %+v, %v", m, err)
		}
	}
}
