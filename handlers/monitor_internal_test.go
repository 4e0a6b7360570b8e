package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

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

// TestMonitorRatesAndFailures: rates are differences between samples,
// failures count failed, timed-out and rolled-back runs, commit latency
// reads the commits since the sample before.
func TestMonitorRatesAndFailures(t *testing.T) {
	st := storetest.OpenSQLite(t)
	reg := prometheus.NewRegistry()
	started := prometheus.NewCounter(prometheus.CounterOpts{Name: "baton_runs_started_total"})
	finished := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "baton_runs_finished_total"}, []string{"status"})
	commits := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "baton_commit_duration_seconds", Buckets: []float64{0.001, 0.01, 0.1}})
	reg.MustRegister(started, finished, commits)
	d := Deps{Store: st, Insight: st, Registry: reg}.withDefaults()
	s := &server{deps: d, store: d.Store, monitor: &monitorSampler{}}
	ctx := context.Background()
	first, err := s.monitorSample(ctx)
	if err != nil || first.FailuresLast5m != 0 || first.Database != "ok" || first.CommitMs.P50 != nil {
		t.Fatalf("first sample %+v, %v", first, err)
	}
	started.Add(10)
	finished.WithLabelValues("succeeded").Add(4)
	finished.WithLabelValues("cancelled").Add(1)
	finished.WithLabelValues("failed").Add(2)
	finished.WithLabelValues("timed_out").Add(1)
	for range 99 {
		commits.Observe(0.005)
	}
	commits.Observe(0.05)
	s.monitor.last.At = s.monitor.last.At.Add(-time.Second) // as if a second had passed
	m, err := s.monitorSample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.FailuresLast5m != 3 {
		t.Errorf("failuresLast5m = %d, want 3 (failed and timed out, not cancelled)", m.FailuresLast5m)
	}
	if m.StartsPerSec < 5 || m.FinishesPerSec < 4 {
		t.Errorf("rates %v starts/s, %v finishes/s; want about 10 and 8 over the last second", m.StartsPerSec, m.FinishesPerSec)
	}
	if m.CommitMs.P50 == nil || *m.CommitMs.P50 != 10 || m.CommitMs.P99 == nil || *m.CommitMs.P99 != 10 {
		t.Errorf("commit latency %v %v, want the 10 ms bucket for p50 and p99", m.CommitMs.P50, m.CommitMs.P99)
	}
	cached, _ := s.monitorSample(ctx)
	if !cached.At.Equal(m.At) {
		t.Errorf("a second sample within a second was taken again, not shared")
	}
}

// fakeDevices answers Devices with a fixed list (the hub's other methods
// are not used by the monitor).
type fakeDevices struct {
	devicesHub
	list []models.DeviceState
}

type devicesHub = Devices

func (f fakeDevices) Devices(context.Context) ([]models.DeviceState, error) { return f.list, nil }

// The dashboard's devices tile counts the hub's devices: connected (and
// draining) ones as online, away ones as offline, revoked ones not at all.
func TestMonitorCountsDevices(t *testing.T) {
	st := storetest.OpenSQLite(t)
	reg := prometheus.NewRegistry()
	d := Deps{Store: st, Insight: st, Registry: reg, Devices: fakeDevices{list: []models.DeviceState{
		{Name: "a", Status: models.DeviceOnline}, {Name: "b", Status: models.DeviceDraining},
		{Name: "c", Status: models.DeviceOffline}, {Name: "d", Status: models.DeviceRevoked},
	}}}.withDefaults()
	s := &server{deps: d, store: d.Store, monitor: &monitorSampler{}, metrics: newHTTPMetrics(reg, d.Log)}
	m, err := s.monitorSample(context.Background())
	if err != nil || m.Devices.Online != 2 || m.Devices.Offline != 1 {
		t.Fatalf("devices = %+v, %v; want 2 online, 1 offline", m.Devices, err)
	}
}
