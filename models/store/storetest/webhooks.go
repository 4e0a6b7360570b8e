package storetest

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

// Conformance cases of webhooks and their claimed deliveries.

func exerciseWebhooks(t *testing.T, st *store.Store) {
	ctx := context.Background()
	MustCreateTemplate(t, st, "orders", "dana")
	MustCreateTemplate(t, st, "reports", "dana")

	wh, err := st.CreateWebhook(ctx, "orders", models.WebhookHMAC, "dana")
	must(t, err, "create")
	secret := wh.Secret.Reveal()
	if wh.ID == 0 || wh.Template != "orders" || len(wh.Key) < 20 || len(secret) < 40 || wh.Mode != models.WebhookHMAC || !wh.Enabled {
		t.Errorf("created = %+v (secret length %d)", wh, len(secret))
	}
	other, err := st.CreateWebhook(ctx, "reports", models.WebhookToken, "dana")
	must(t, err, "create second")
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
	must(t, err, "by key")
	if byKey.Secret.Reveal() != secret || byKey.Template != "orders" {
		t.Errorf("WebhookByKey = %+v", byKey)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("hook", "webhook", byKey, "secret", byKey.Secret)
	js, err := json.Marshal(byKey)
	must(t, err, "marshal")
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
	must(t, err, "template webhook")
	if tw.ID != other.ID {
		t.Errorf("TemplateWebhook(reports) = %+v", tw)
	}
	_, err = st.TemplateWebhook(ctx, "nope")
	wantErr(t, err, models.NotFound, "webhook of unknown template")

	off, token := false, models.WebhookToken
	up, err := st.UpdateWebhook(ctx, "orders", models.WebhookUpdate{Enabled: &off, Mode: &token})
	must(t, err, "update")
	if up.Enabled || up.Mode != models.WebhookToken || up.Secret.Reveal() != secret {
		t.Errorf("updated = %+v", up)
	}
	bad := models.WebhookMode("x")
	_, err = st.UpdateWebhook(ctx, "orders", models.WebhookUpdate{Mode: &bad})
	wantErr(t, err, models.Invalid, "bad mode")
	MustCreateTemplate(t, st, "bare", "dana")
	_, err = st.UpdateWebhook(ctx, "bare", models.WebhookUpdate{Enabled: &off})
	wantErr(t, err, models.NotFound, "update a template without webhook")

	rot, err := st.RotateWebhookSecret(ctx, "orders", "dana")
	must(t, err, "rotate")
	if rot.Secret.Reveal() == secret || rot.Key != wh.Key {
		t.Error("rotation kept the secret or changed the key")
	}
	_, err = st.RotateWebhookSecret(ctx, "bare", "dana")
	wantErr(t, err, models.NotFound, "rotate without webhook")
	_, err = st.RotateWebhookSecret(ctx, "orders", "")
	wantErr(t, err, models.Invalid, "rotate without actor")
	audit, err := st.ListAudit(ctx, 50, 0)
	must(t, err, "audit")
	for _, a := range audit {
		if b, _ := json.Marshal(a); bytes.Contains(b, []byte(secret)) || bytes.Contains(b, []byte(rot.Secret.Reveal())) {
			t.Errorf("the audit log holds a secret: %s", b)
		}
	}

	must(t, st.DeleteWebhook(ctx, "reports"), "delete")
	wantErr(t, st.DeleteWebhook(ctx, "reports"), models.NotFound, "delete again")
	wantErr(t, st.DeleteWebhook(ctx, "nope"), models.NotFound, "delete of unknown template")
}

func exerciseClaimDelivery(t *testing.T, st *store.Store) {
	ctx := context.Background()
	MustCreateTemplate(t, st, "orders", "dana")
	MustCreateTemplate(t, st, "reports", "dana")
	wh, err := st.CreateWebhook(ctx, "orders", models.WebhookHMAC, "dana")
	must(t, err, "create")
	other, err := st.CreateWebhook(ctx, "reports", models.WebhookHMAC, "dana")
	must(t, err, "create")

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
		must(t, errs[i], "claim")
		if wins[i] {
			won++
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d racing deliveries won, want 1", won, n)
	}
	replay, err := st.ClaimDelivery(ctx, wh.ID, "delivery-1")
	must(t, err, "replay")
	if replay {
		t.Error("a replayed delivery was accepted")
	}
	// Delivery ids are per webhook.
	fresh, err := st.ClaimDelivery(ctx, other.ID, "delivery-1")
	must(t, err, "same id, other webhook")
	if !fresh {
		t.Error("another webhook's delivery with the same id was refused")
	}
	must(t, st.SetDeliveryRun(ctx, wh.ID, "delivery-1", "01RUN"), "set run")
	wantErr(t, st.SetDeliveryRun(ctx, wh.ID, "delivery-2", "01RUN"), models.NotFound, "set run of unknown delivery")

	_, err = st.ClaimDelivery(ctx, wh.ID, "")
	wantErr(t, err, models.Invalid, "empty id")
	_, err = st.ClaimDelivery(ctx, wh.ID, strings.Repeat("x", store.MaxDeliveryIDLength+1))
	wantErr(t, err, models.Invalid, "long id")
	_, err = st.ClaimDelivery(ctx, 999, "d")
	wantErr(t, err, models.NotFound, "unknown webhook")

	pruned, err := st.PruneDeliveries(ctx, time.Now().Add(time.Hour))
	must(t, err, "prune")
	if pruned != 2 {
		t.Errorf("pruned %d deliveries, want 2", pruned)
	}
	again, err := st.ClaimDelivery(ctx, wh.ID, "delivery-1")
	must(t, err, "claim after prune")
	if !again {
		t.Error("a pruned delivery id was refused")
	}
}
