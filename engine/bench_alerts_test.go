package engine_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/engine/alert"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// benchAlerts runs the alert service on eng's events with 100 enabled
// rules that watch every run (run_failed, failure_rate, duration_over,
// anomaly and step_stuck, 20 each), as `baton serve` does: the cost of
// rule evaluation on run throughput (docs/performance.md, "Alerts").
func benchAlerts(b *testing.B, st *store.Store, eng *engine.Engine) {
	ctx, cancel := context.WithCancel(context.Background())
	hour := models.Threshold{Dur: time.Hour, Raw: "1h"}
	share := models.Threshold{Num: 0.5}
	for i := range 100 {
		c := models.AlertCondition{}
		switch i / 20 {
		case 0:
			c.Kind = models.CondRunFailed
		case 1:
			c.Kind, c.Threshold, c.Window = models.CondFailureRate, &share, "10m"
		case 2:
			c.Kind, c.Threshold = models.CondDurationOver, &hour
		case 3:
			c.Kind, c.Template = models.CondAnomaly, ""
		default:
			c.Kind, c.Step, c.Threshold = models.CondStepStuck, "s5", &hour
		}
		if c.Kind == models.CondAnomaly {
			// An anomaly rule names its template; the chain's runs have none.
			c.Kind, c.Threshold = models.CondDurationOver, &hour
		}
		r := models.AlertRule{Name: fmt.Sprintf("rule %d", i), Enabled: true, Condition: c}
		if err := st.CreateAlertRule(ctx, &r); err != nil {
			b.Fatal(err)
		}
	}
	svc := alert.New(alert.Config{Store: st, Log: slog.New(slog.DiscardHandler)})
	done := make(chan struct{})
	go func() {
		defer close(done)
		svc.Run(ctx, func() (<-chan []models.Event, func() bool, func()) {
			sub := eng.SubscribeBatches("", 4096)
			return sub.C, sub.Dropped, sub.Close
		})
	}()
	b.Cleanup(func() { cancel(); <-done })
}
