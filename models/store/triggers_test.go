package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

func TestSchedules(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		mustCreate(t, st, "orders", "dana")
		mustCreate(t, st, "reports", "dana")

		sc, err := st.CreateSchedule(ctx, "orders", models.Schedule{Cron: " 0 9 * * 1-5 ", TimeZone: "Europe/Berlin", Enabled: true,
			Inputs: map[string]any{"region": "eu", "n": 3.0}}, "dana")
		ok(t, err, "create")
		if sc.ID == 0 || sc.Template != "orders" || sc.Cron != "0 9 * * 1-5" || sc.TimeZone != "Europe/Berlin" || !sc.Enabled ||
			sc.Overlap != models.OverlapSkip || sc.Inputs["region"] != "eu" || sc.CreatedBy != "dana" || sc.LastFireAt != nil {
			t.Errorf("created = %+v", sc)
		}
		off, err := st.CreateSchedule(ctx, "reports", models.Schedule{Cron: "@hourly", Overlap: models.OverlapAllow}, "dana")
		ok(t, err, "create disabled")
		if off.TimeZone != "UTC" || off.Enabled || off.Inputs == nil || off.Overlap != models.OverlapAllow {
			t.Errorf("defaults = %+v", off)
		}

		for _, c := range []struct {
			sc   models.Schedule
			want string
		}{
			{models.Schedule{Cron: ""}, "cron expression"},
			{models.Schedule{Cron: "* * *"}, "3 fields"},
			{models.Schedule{Cron: "* * * * *", TimeZone: "Mars/Olympus"}, "unknown time zone"},
			{models.Schedule{Cron: "* * * * *", Overlap: "queue"}, "overlap policy"},
		} {
			_, err := st.CreateSchedule(ctx, "orders", c.sc, "dana")
			wantErr(t, err, models.Invalid, fmt.Sprintf("create %+v", c.sc), c.want)
		}
		_, err = st.CreateSchedule(ctx, "nope", models.Schedule{Cron: "* * * * *"}, "dana")
		wantErr(t, err, models.NotFound, "unknown template")
		_, err = st.CreateSchedule(ctx, "orders", models.Schedule{Cron: "* * * * *"}, "")
		wantErr(t, err, models.Invalid, "no creator")

		got, err := st.Schedule(ctx, sc.ID)
		ok(t, err, "get")
		if got.Cron != sc.Cron || !got.CreatedAt.Equal(sc.CreatedAt) || got.Inputs["n"] != 3.0 {
			t.Errorf("Schedule = %+v, want %+v", got, sc)
		}
		_, err = st.Schedule(ctx, 999)
		wantErr(t, err, models.NotFound, "unknown schedule", "schedule 999")

		all, err := st.ListSchedules(ctx, "", false)
		ok(t, err, "list all")
		enabled, err := st.ListSchedules(ctx, "", true)
		ok(t, err, "list enabled")
		mine, err := st.ListSchedules(ctx, "reports", false)
		ok(t, err, "list reports")
		if len(all) != 2 || len(enabled) != 1 || enabled[0].ID != sc.ID || len(mine) != 1 || mine[0].ID != off.ID {
			t.Errorf("lists: all %d, enabled %+v, reports %+v", len(all), enabled, mine)
		}
		_, err = st.ListSchedules(ctx, "nope", false)
		wantErr(t, err, models.NotFound, "list unknown template")

		cron, tz, on, allow := "*/5 * * * *", "", true, models.OverlapAllow
		inputs := map[string]any(nil)
		up, err := st.UpdateSchedule(ctx, off.ID, models.ScheduleUpdate{Cron: &cron, TimeZone: &tz, Enabled: &on, Overlap: &allow, Inputs: &inputs})
		ok(t, err, "update")
		if up.Cron != cron || up.TimeZone != "UTC" || !up.Enabled || up.Inputs == nil || up.UpdatedAt.Before(off.UpdatedAt) {
			t.Errorf("updated = %+v", up)
		}
		same, err := st.UpdateSchedule(ctx, off.ID, models.ScheduleUpdate{})
		ok(t, err, "empty update")
		if !same.UpdatedAt.Equal(up.UpdatedAt) {
			t.Errorf("an empty update changed UpdatedAt")
		}
		bad, badTZ, badOverlap := "nope", "Nowhere/Land", models.OverlapPolicy("x")
		for _, u := range []models.ScheduleUpdate{{Cron: &bad}, {TimeZone: &badTZ}, {Overlap: &badOverlap}} {
			_, err = st.UpdateSchedule(ctx, off.ID, u)
			wantErr(t, err, models.Invalid, "bad update")
		}
		_, err = st.UpdateSchedule(ctx, 999, models.ScheduleUpdate{Enabled: &on})
		wantErr(t, err, models.NotFound, "update unknown")

		ok(t, st.DeleteSchedule(ctx, off.ID), "delete")
		wantErr(t, st.DeleteSchedule(ctx, off.ID), models.NotFound, "delete again")
	})
}

func TestClaimScheduleFire(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		mustCreate(t, st, "orders", "dana")
		sc, err := st.CreateSchedule(ctx, "orders", models.Schedule{Cron: "* * * * *", Enabled: true}, "dana")
		ok(t, err, "create")
		zone := time.FixedZone("CET", 3600)
		fire := time.Date(2026, 11, 27, 10, 0, 0, 0, zone)

		_, err = st.LastScheduleFire(ctx, sc.ID)
		wantErr(t, err, models.NotFound, "never fired")

		// Racing instances: exactly one wins each fire time.
		const n = 8
		var wg sync.WaitGroup
		wins := make([]bool, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { wins[i], errs[i] = st.ClaimScheduleFire(ctx, sc.ID, fire) })
		}
		wg.Wait()
		won := 0
		for i := range n {
			ok(t, errs[i], "claim")
			if wins[i] {
				won++
			}
		}
		if won != 1 {
			t.Fatalf("%d of %d racing claims won, want 1", won, n)
		}
		// The same instant in another zone is the same fire (a restart).
		again, err := st.ClaimScheduleFire(ctx, sc.ID, fire.UTC())
		ok(t, err, "claim after restart")
		if again {
			t.Error("a fire claimed before was won again")
		}
		next, err := st.ClaimScheduleFire(ctx, sc.ID, fire.Add(time.Minute))
		ok(t, err, "next minute")
		if !next {
			t.Error("the next fire time was not won")
		}
		// An older fire noticed late does not move LastFireAt back.
		late, err := st.ClaimScheduleFire(ctx, sc.ID, fire.Add(-time.Minute))
		ok(t, err, "late claim")
		if !late {
			t.Error("an unclaimed older fire time was not won")
		}
		got, err := st.Schedule(ctx, sc.ID)
		ok(t, err, "reload")
		if got.LastFireAt == nil || !got.LastFireAt.Equal(fire.Add(time.Minute)) {
			t.Errorf("LastFireAt = %v, want %v", got.LastFireAt, fire.Add(time.Minute))
		}

		ok(t, st.SetScheduleFireRun(ctx, sc.ID, fire.Add(time.Minute), "01RUN"), "set run")
		wantErr(t, st.SetScheduleFireRun(ctx, sc.ID, fire.Add(time.Hour), "01RUN"), models.NotFound, "set run of unclaimed fire")
		last, err := st.LastScheduleFire(ctx, sc.ID)
		ok(t, err, "last fire")
		if !last.FireAt.Equal(fire.Add(time.Minute)) || last.RunID != "01RUN" || last.ScheduleID != sc.ID || last.ClaimedAt.IsZero() {
			t.Errorf("last fire = %+v", last)
		}

		// A disabled schedule never wins; an unknown one is NotFound.
		off := false
		_, err = st.UpdateSchedule(ctx, sc.ID, models.ScheduleUpdate{Enabled: &off})
		ok(t, err, "disable")
		w, err := st.ClaimScheduleFire(ctx, sc.ID, fire.Add(2*time.Minute))
		ok(t, err, "claim while disabled")
		if w {
			t.Error("a disabled schedule won a claim")
		}
		_, err = st.ClaimScheduleFire(ctx, 999, fire)
		wantErr(t, err, models.NotFound, "claim unknown schedule")
		_, err = st.ClaimScheduleFire(ctx, sc.ID, time.Time{})
		wantErr(t, err, models.Invalid, "zero fire time")

		pruned, err := st.PruneScheduleFires(ctx, time.Now().Add(time.Hour))
		ok(t, err, "prune")
		if pruned != 3 {
			t.Errorf("pruned %d fires, want 3", pruned)
		}
	})
}

func TestScheduleCatchUpPolicy(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		mustCreate(t, st, "orders", "dana")
		plain, err := st.CreateSchedule(ctx, "orders", models.Schedule{Cron: "@hourly", Enabled: true}, "dana")
		ok(t, err, "create without a policy")
		if plain.CatchUp != models.CatchUpNone {
			t.Errorf("default catch-up = %q, want none", plain.CatchUp)
		}
		all, err := st.CreateSchedule(ctx, "orders", models.Schedule{Cron: "@hourly", Enabled: true, CatchUp: models.CatchUpAll}, "dana")
		ok(t, err, "create with all")
		got, err := st.Schedule(ctx, all.ID)
		ok(t, err, "get")
		if got.CatchUp != models.CatchUpAll {
			t.Errorf("stored catch-up = %q, want all", got.CatchUp)
		}
		latest := models.CatchUpLatest
		changed, err := st.UpdateSchedule(ctx, all.ID, models.ScheduleUpdate{CatchUp: &latest})
		ok(t, err, "update")
		listed, err := st.ListSchedules(ctx, "orders", true)
		ok(t, err, "list")
		if changed.CatchUp != latest || len(listed) != 2 || listed[1].CatchUp != latest {
			t.Errorf("after the update: %+v, listed %+v", changed, listed)
		}

		_, err = st.CreateSchedule(ctx, "orders", models.Schedule{Cron: "@hourly", CatchUp: "everything"}, "dana")
		wantErr(t, err, models.Invalid, "create with an unknown policy", "catch-up policy", "everything")
		if d := models.ErrorDetails(err); len(d) != 1 || d[0].Path != "catchUp" {
			t.Errorf("problems = %+v, want one at catchUp", d)
		}
		bad := models.CatchUpPolicy("ALL")
		_, err = st.UpdateSchedule(ctx, all.ID, models.ScheduleUpdate{CatchUp: &bad})
		wantErr(t, err, models.Invalid, "update with an unknown policy", "catch-up policy")
		got, err = st.Schedule(ctx, all.ID)
		ok(t, err, "get after the refused update")
		if got.CatchUp != latest {
			t.Errorf("a refused update changed the policy to %q", got.CatchUp)
		}
	})
}

// TestSkippedScheduleFires: a time skipped by the overlap policy is claimed
// once, listed as skipped, and neither moves LastFireAt nor counts as the
// last fire; claims leave UpdatedAt, the time of the last change, alone.
func TestSkippedScheduleFires(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		mustCreate(t, st, "orders", "dana")
		sc, err := st.CreateSchedule(ctx, "orders", models.Schedule{Cron: "* * * * *", Enabled: true}, "dana")
		ok(t, err, "create")
		fire := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

		won, err := st.ClaimScheduleFire(ctx, sc.ID, fire)
		ok(t, err, "claim")
		ok(t, st.SetScheduleFireRun(ctx, sc.ID, fire, "01RUN"), "set run")
		// Racing instances: one wins the skip.
		const n = 4
		var wg sync.WaitGroup
		wins := make([]bool, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { wins[i], errs[i] = st.SkipScheduleFire(ctx, sc.ID, fire.Add(time.Minute)) })
		}
		wg.Wait()
		skips := 0
		for i := range n {
			ok(t, errs[i], "skip")
			if wins[i] {
				skips++
			}
		}
		if !won || skips != 1 {
			t.Fatalf("claim won %v, %d of %d skips won; want true and 1", won, skips, n)
		}
		if again, err := st.ClaimScheduleFire(ctx, sc.ID, fire.Add(time.Minute)); err != nil || again {
			t.Errorf("a skipped time was claimed again: %v, %v", again, err)
		}

		got, err := st.Schedule(ctx, sc.ID)
		ok(t, err, "get")
		if got.LastFireAt == nil || !got.LastFireAt.Equal(fire) || !got.UpdatedAt.Equal(sc.UpdatedAt) {
			t.Errorf("LastFireAt = %v (want %v), UpdatedAt = %v (want %v)", got.LastFireAt, fire, got.UpdatedAt, sc.UpdatedAt)
		}
		last, err := st.LastScheduleFire(ctx, sc.ID)
		ok(t, err, "last fire")
		if !last.FireAt.Equal(fire) || last.RunID != "01RUN" || last.Skipped {
			t.Errorf("last fire = %+v, want the one at %v with its run", last, fire)
		}
		fires, err := st.ScheduleFires(ctx, sc.ID, 10)
		ok(t, err, "fires")
		if len(fires) != 2 || !fires[0].FireAt.Equal(fire.Add(time.Minute)) || !fires[0].Skipped || fires[0].RunID != "" ||
			!fires[1].FireAt.Equal(fire) || fires[1].Skipped || fires[1].RunID != "01RUN" || fires[1].ClaimedAt.IsZero() {
			t.Errorf("fires = %+v", fires)
		}
		if one, err := st.ScheduleFires(ctx, sc.ID, 1); err != nil || len(one) != 1 || !one[0].Skipped {
			t.Errorf("latest fire = %+v, %v; want the skipped one", one, err)
		}
		_, err = st.ScheduleFires(ctx, 999, 10)
		wantErr(t, err, models.NotFound, "fires of an unknown schedule")
		_, err = st.SkipScheduleFire(ctx, 999, fire)
		wantErr(t, err, models.NotFound, "skip of an unknown schedule")
	})
}

func TestWebhooks(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		mustCreate(t, st, "orders", "dana")
		mustCreate(t, st, "reports", "dana")

		wh, err := st.CreateWebhook(ctx, "orders", models.WebhookHMAC, "dana")
		ok(t, err, "create")
		secret := wh.Secret.Reveal()
		if wh.ID == 0 || wh.Template != "orders" || len(wh.Key) < 20 || len(secret) < 40 || wh.Mode != models.WebhookHMAC || !wh.Enabled {
			t.Errorf("created = %+v (secret length %d)", wh, len(secret))
		}
		other, err := st.CreateWebhook(ctx, "reports", models.WebhookToken, "dana")
		ok(t, err, "create second")
		if other.Key == wh.Key || other.Secret.Reveal() == secret {
			t.Error("two webhooks share a key or a secret")
		}
		_, err = st.CreateWebhook(ctx, "orders", models.WebhookToken, "dana")
		wantErr(t, err, models.Conflict, "second webhook of a template")
		_, err = st.CreateWebhook(ctx, "orders", "basic", "dana")
		wantErr(t, err, models.Invalid, "unknown mode", "basic")
		_, err = st.CreateWebhook(ctx, "nope", models.WebhookHMAC, "dana")
		wantErr(t, err, models.NotFound, "unknown template")
		_, err = st.CreateWebhook(ctx, "orders", models.WebhookHMAC, "")
		wantErr(t, err, models.Invalid, "no creator")

		// The secret is usable, and never printed.
		byKey, err := st.WebhookByKey(ctx, wh.Key)
		ok(t, err, "by key")
		if byKey.Secret.Reveal() != secret || byKey.Template != "orders" {
			t.Errorf("WebhookByKey = %+v", byKey)
		}
		var logged bytes.Buffer
		slog.New(slog.NewJSONHandler(&logged, nil)).Info("hook", "webhook", byKey, "secret", byKey.Secret)
		js, err := json.Marshal(byKey)
		ok(t, err, "marshal")
		for _, out := range []string{fmt.Sprint(byKey), fmt.Sprintf("%+v", byKey), fmt.Sprintf("%#v", byKey), string(js), logged.String(), fmt.Sprint(byKey.Secret)} {
			if strings.Contains(out, secret) {
				t.Errorf("the secret leaks in %q", out)
			}
		}
		if fmt.Sprint(byKey.Secret) != "[redacted]" {
			t.Errorf("Secret prints as %q", fmt.Sprint(byKey.Secret))
		}
		_, err = st.WebhookByKey(ctx, "nope")
		wantErr(t, err, models.NotFound, "unknown key")
		tw, err := st.TemplateWebhook(ctx, "reports")
		ok(t, err, "template webhook")
		if tw.ID != other.ID {
			t.Errorf("TemplateWebhook(reports) = %+v", tw)
		}
		_, err = st.TemplateWebhook(ctx, "nope")
		wantErr(t, err, models.NotFound, "webhook of unknown template")

		off, token := false, models.WebhookToken
		up, err := st.UpdateWebhook(ctx, "orders", models.WebhookUpdate{Enabled: &off, Mode: &token})
		ok(t, err, "update")
		if up.Enabled || up.Mode != models.WebhookToken || up.Secret.Reveal() != secret {
			t.Errorf("updated = %+v", up)
		}
		bad := models.WebhookMode("x")
		_, err = st.UpdateWebhook(ctx, "orders", models.WebhookUpdate{Mode: &bad})
		wantErr(t, err, models.Invalid, "bad mode")
		mustCreate(t, st, "bare", "dana")
		_, err = st.UpdateWebhook(ctx, "bare", models.WebhookUpdate{Enabled: &off})
		wantErr(t, err, models.NotFound, "update a template without webhook")

		rot, err := st.RotateWebhookSecret(ctx, "orders", "dana")
		ok(t, err, "rotate")
		if rot.Secret.Reveal() == secret || rot.Key != wh.Key {
			t.Error("rotation kept the secret or changed the key")
		}
		_, err = st.RotateWebhookSecret(ctx, "bare", "dana")
		wantErr(t, err, models.NotFound, "rotate without webhook")
		_, err = st.RotateWebhookSecret(ctx, "orders", "")
		wantErr(t, err, models.Invalid, "rotate without actor")
		audit, err := st.ListAudit(ctx, 50, 0)
		ok(t, err, "audit")
		for _, a := range audit {
			if b, _ := json.Marshal(a); bytes.Contains(b, []byte(secret)) || bytes.Contains(b, []byte(rot.Secret.Reveal())) {
				t.Errorf("the audit log holds a secret: %s", b)
			}
		}

		ok(t, st.DeleteWebhook(ctx, "reports"), "delete")
		wantErr(t, st.DeleteWebhook(ctx, "reports"), models.NotFound, "delete again")
		wantErr(t, st.DeleteWebhook(ctx, "nope"), models.NotFound, "delete of unknown template")
	})
}

func TestClaimDelivery(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		mustCreate(t, st, "orders", "dana")
		mustCreate(t, st, "reports", "dana")
		wh, err := st.CreateWebhook(ctx, "orders", models.WebhookHMAC, "dana")
		ok(t, err, "create")
		other, err := st.CreateWebhook(ctx, "reports", models.WebhookHMAC, "dana")
		ok(t, err, "create")

		const n = 8
		var wg sync.WaitGroup
		wins := make([]bool, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { wins[i], errs[i] = st.ClaimDelivery(ctx, wh.ID, "delivery-1") })
		}
		wg.Wait()
		won := 0
		for i := range n {
			ok(t, errs[i], "claim")
			if wins[i] {
				won++
			}
		}
		if won != 1 {
			t.Fatalf("%d of %d racing deliveries won, want 1", won, n)
		}
		replay, err := st.ClaimDelivery(ctx, wh.ID, "delivery-1")
		ok(t, err, "replay")
		if replay {
			t.Error("a replayed delivery was accepted")
		}
		// Delivery ids are per webhook.
		fresh, err := st.ClaimDelivery(ctx, other.ID, "delivery-1")
		ok(t, err, "same id, other webhook")
		if !fresh {
			t.Error("another webhook's delivery with the same id was refused")
		}
		ok(t, st.SetDeliveryRun(ctx, wh.ID, "delivery-1", "01RUN"), "set run")
		wantErr(t, st.SetDeliveryRun(ctx, wh.ID, "delivery-2", "01RUN"), models.NotFound, "set run of unknown delivery")

		_, err = st.ClaimDelivery(ctx, wh.ID, "")
		wantErr(t, err, models.Invalid, "empty id")
		_, err = st.ClaimDelivery(ctx, wh.ID, strings.Repeat("x", store.MaxDeliveryIDLength+1))
		wantErr(t, err, models.Invalid, "long id")
		_, err = st.ClaimDelivery(ctx, 999, "d")
		wantErr(t, err, models.NotFound, "unknown webhook")

		pruned, err := st.PruneDeliveries(ctx, time.Now().Add(time.Hour))
		ok(t, err, "prune")
		if pruned != 2 {
			t.Errorf("pruned %d deliveries, want 2", pruned)
		}
		again, err := st.ClaimDelivery(ctx, wh.ID, "delivery-1")
		ok(t, err, "claim after prune")
		if !again {
			t.Error("a pruned delivery id was refused")
		}
	})
}
