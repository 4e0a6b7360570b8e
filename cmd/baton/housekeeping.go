package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/baton-run/baton/models/store"
)

// housekeeper removes what has outlived its use (Store.Housekeep: expired
// sessions, old login failures, schedule-fire claims, webhook delivery ids,
// and runs past their retention) on a gocron job: once within a minute of
// start, then every interval. Instances sharing a database claim each
// round (Store.ClaimHousekeeping), so one of them does it.
type housekeeper struct {
	st        *store.Store
	log       *slog.Logger
	retention time.Duration
	every     time.Duration
	instance  string
	deleted   *prometheus.CounterVec
	sched     gocron.Scheduler
}

// DefaultHousekeepingInterval is how often serve houses-keeps by default.
const DefaultHousekeepingInterval = time.Hour

func newHousekeeper(st *store.Store, log *slog.Logger, reg prometheus.Registerer, retention, every time.Duration) (*housekeeper, error) {
	host, _ := os.Hostname()
	h := &housekeeper{st: st, log: log, retention: retention, every: every,
		instance: fmt.Sprintf("%s/%d", host, os.Getpid()),
		deleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "baton_housekeeping_deleted_total",
			Help: "Rows removed by housekeeping, by kind (sessions, login_failures, schedule_fires, webhook_deliveries, runs).",
		}, []string{"kind"}),
	}
	if err := reg.Register(h.deleted); err != nil {
		return nil, err
	}
	s, err := gocron.NewScheduler(gocron.WithLocation(time.UTC))
	if err != nil {
		return nil, err
	}
	h.sched = s
	first := time.Now().Add(min(time.Minute, every)) // not in the way of start-up
	_, err = s.NewJob(gocron.DurationJob(every), gocron.NewTask(h.round),
		gocron.WithName("baton-housekeeping"),
		gocron.WithSingletonMode(gocron.LimitModeReschedule),
		gocron.WithStartAt(gocron.WithStartDateTime(first)))
	if err != nil {
		return nil, fmt.Errorf("arm housekeeping: %w", err)
	}
	return h, nil
}

// start starts the job; stop waits for a round in progress.
func (h *housekeeper) start()      { h.sched.Start() }
func (h *housekeeper) stop() error { return h.sched.Shutdown() }

// round claims the current interval's round and, when won, housekeeps.
func (h *housekeeper) round(ctx context.Context) {
	slot := time.Now().UTC().Truncate(h.every)
	won, err := h.st.ClaimHousekeeping(ctx, "housekeeping", slot, h.instance)
	if err != nil {
		h.log.Warn("housekeeping: could not claim this round; trying again next time", "err", err)
		return
	}
	if !won {
		return // another instance sharing the database does this round
	}
	start := time.Now()
	stats, err := h.st.Housekeep(ctx, store.HousekeepingOptions{Retention: h.retention})
	for kind, n := range map[string]int64{"sessions": stats.Sessions, "login_failures": stats.LoginFailures,
		"schedule_fires": stats.ScheduleFires, "webhook_deliveries": stats.Deliveries, "runs": int64(stats.Runs.Runs)} {
		h.deleted.WithLabelValues(kind).Add(float64(n))
	}
	attrs := []any{"sessions", stats.Sessions, "login_failures", stats.LoginFailures, "schedule_fires", stats.ScheduleFires,
		"webhook_deliveries", stats.Deliveries, "runs", stats.Runs.Runs, "took", time.Since(start).Round(time.Millisecond)}
	if err != nil && ctx.Err() == nil {
		h.log.Warn("housekeeping failed in part; trying again next round", append(attrs, "err", err)...)
		return
	}
	h.log.Info("housekeeping done", attrs...)
}
