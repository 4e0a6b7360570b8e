package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// Conformance cases of housekeeping: what outlived its use goes, what is
// still read stays, and one instance per round does the work.

func exerciseHousekeep(t *testing.T, st *store.Store) {
	ctx := context.Background()
	ann := mustUser(t, st, "ann", models.RoleViewer)
	MustCreateTemplate(t, st, "orders", "dana")
	nowT := time.Now()
	must(t, st.CreateSession(ctx, &models.Session{UserID: ann.ID, Hash: "live", CSRFToken: "c1", ExpiresAt: nowT.Add(time.Hour)}), "live session")
	must(t, st.CreateSession(ctx, &models.Session{UserID: ann.ID, Hash: "expired", CSRFToken: "c2", ExpiresAt: nowT.Add(-time.Minute)}), "expired session")
	must(t, st.RecordLoginFailure(ctx, "ann", "10.0.0.1", nowT.Add(-48*time.Hour)), "old failure")
	must(t, st.RecordLoginFailure(ctx, "ann", "10.0.0.1", nowT), "new failure")
	sc, err := st.CreateSchedule(ctx, "orders", models.Schedule{Cron: "@hourly", Enabled: true}, "dana")
	must(t, err, "schedule")
	if won, err := st.ClaimScheduleFire(ctx, sc.ID, nowT.Truncate(time.Hour)); err != nil || !won {
		t.Fatalf("claim fire: %v %v", won, err)
	}
	wh, err := st.CreateWebhook(ctx, "orders", models.WebhookHMAC, "dana")
	must(t, err, "webhook")
	if won, err := st.ClaimDelivery(ctx, wh.ID, "d-1"); err != nil || !won {
		t.Fatalf("claim delivery: %v %v", won, err)
	}

	// Now: only the expired session and the two-day-old failure go.
	stats, err := st.Housekeep(ctx, store.HousekeepingOptions{Now: nowT})
	must(t, err, "housekeep now")
	if stats.Sessions != 1 || stats.LoginFailures != 1 || stats.ScheduleFires != 0 || stats.Deliveries != 0 || stats.Runs.Runs != 0 {
		t.Errorf("housekeeping now removed %+v; want the expired session and the old failure only", stats)
	}
	if _, _, err := st.SessionByHash(ctx, "live", nowT); err != nil {
		t.Errorf("the live session went: %v", err)
	}
	if n, err := st.CountLoginFailures(ctx, "ann", "10.0.0.1", nowT.Add(-time.Hour)); err != nil || n != 1 {
		t.Errorf("recent login failures = %d, %v; want 1 kept", n, err)
	}
	// Forty days on, the fire claim and the delivery id have outlived
	// their windows too.
	stats, err = st.Housekeep(ctx, store.HousekeepingOptions{Now: nowT.Add(40 * 24 * time.Hour)})
	must(t, err, "housekeep later")
	if stats.Sessions != 1 || stats.LoginFailures != 1 || stats.ScheduleFires != 1 || stats.Deliveries != 1 {
		t.Errorf("housekeeping 40 days on removed %+v; want one of each", stats)
	}
	if replay, err := st.ClaimDelivery(ctx, wh.ID, "d-1"); err != nil || !replay {
		t.Errorf("a pruned delivery id is claimable again: %v %v", replay, err)
	}
}

func exerciseClaimHousekeeping(t *testing.T, st *store.Store) {
	ctx := context.Background()
	slot := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	const n = 6
	var wg sync.WaitGroup
	wins := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { wins[i], errs[i] = st.ClaimHousekeeping(ctx, "housekeeping", slot, "instance") })
	}
	wg.Wait()
	won := 0
	for i := range n {
		must(t, errs[i], "claim")
		if wins[i] {
			won++
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d instances won one round; want 1", won, n)
	}
	next, err := st.ClaimHousekeeping(ctx, "housekeeping", slot.Add(time.Hour), "instance")
	if err != nil || !next {
		t.Errorf("the next round: %v %v; want won", next, err)
	}
	other, err := st.ClaimHousekeeping(ctx, "other-job", slot, "instance")
	if err != nil || !other {
		t.Errorf("another job's round: %v %v; want won", other, err)
	}
}
