package handlers_test

import (
	"encoding/hex"
	"strconv"
	"strings"
	"testing"

	"github.com/baton-run/baton/handlers"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// hook posts body to a webhook URL with the given headers.
func (f *flow) hook(t *testing.T, url, body string, headers map[string]string) response {
	t.Helper()
	return f.do(t, request{method: "POST", path: url, body: body, headers: headers})
}

// signed is the headers of a webhook call signed now (by the test clock).
func (f *flow) signed(secret, body, delivery string) map[string]string {
	ts := strconv.FormatInt(f.clock.Now().Unix(), 10)
	h := map[string]string{
		"X-Baton-Timestamp": ts,
		"X-Baton-Signature": "v1=" + hex.EncodeToString(handlers.HookSignatureV1(secret, ts, delivery, []byte(body))),
	}
	if delivery != "" {
		h["X-Baton-Delivery"] = delivery
	}
	return h
}

func TestWebhooks(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f := newFlow(t, open, flowOptions{hookLimit: 512})
		f.publish(t, greetDef)
		api := "/api/v1/templates/greet/webhook"
		f.refused(t, "POST", api, f.designer, "", 403, models.Forbidden)
		f.refused(t, "POST", "/api/v1/templates/nope/webhook", f.operator, "", 404, models.NotFound)
		f.refused(t, "POST", api, f.operator, `{"mode":"carrier-pigeon"}`, 422, models.Invalid)
		created := f.call(t, "POST", api, f.operator, `{"mode":"hmac"}`, 201)
		secret, url := created["secret"].(string), created["url"].(string)
		if secret == "" || !strings.HasPrefix(url, "/hooks/") {
			t.Fatalf("created webhook: %v", created)
		}
		f.refused(t, "POST", api, f.operator, "", 409, models.Conflict)
		if got := f.do(t, request{method: "GET", path: api, bearer: f.viewerToken}); got.status != 200 || strings.Contains(got.body, secret) {
			t.Fatalf("GET webhook = %d, must not show the secret:\n%s", got.status, got.body)
		}

		body := `{"who":"hook"}`
		good := f.signed(secret, body, "d-1")
		// Refusals: bad signature, no signature, no delivery id, wrong key,
		// a body too large.
		if r := f.hook(t, url, body, f.signed("wrong", body, "d-0")); r.status != 401 || !strings.Contains(r.body, `"code":"unauthenticated"`) {
			t.Fatalf("bad signature = %d\n%s", r.status, r.body)
		}
		if r := f.hook(t, url, `{"who":"tampered"}`, good); r.status != 401 {
			t.Fatalf("signature of another body = %d\n%s", r.status, r.body)
		}
		if r := f.hook(t, url, body, map[string]string{"X-Baton-Delivery": "d-0"}); r.status != 401 {
			t.Fatalf("no signature = %d\n%s", r.status, r.body)
		}
		if r := f.hook(t, url, body, f.signed(secret, body, "")); r.status != 400 || !strings.Contains(r.body, "X-Baton-Delivery") {
			t.Fatalf("no delivery id = %d\n%s", r.status, r.body)
		}
		if r := f.hook(t, "/hooks/nosuchhook", body, good); r.status != 404 {
			t.Fatalf("unknown hook = %d\n%s", r.status, r.body)
		}
		big := `{"who":"` + strings.Repeat("x", 600) + `"}`
		if r := f.hook(t, url, big, f.signed(secret, big, "d-big")); r.status != 413 || !strings.Contains(r.body, `"code":"too_large"`) {
			t.Fatalf("big body = %d\n%s", r.status, r.body)
		}

		// A good call starts a run; the same delivery again starts nothing.
		r := f.hook(t, url, body, good)
		if r.status != 201 || !strings.Contains(r.body, `"trigger":"webhook"`) || !strings.Contains(r.body, `"startedBy":"webhook:`) {
			t.Fatalf("good webhook call = %d\n%s", r.status, r.body)
		}
		if r := f.hook(t, url, body, good); r.status != 409 || !strings.Contains(r.body, "received before") {
			t.Fatalf("replay = %d\n%s", r.status, r.body)
		}
		// Inputs are checked like any run's.
		bad := `{"whom":"x"}`
		if r := f.hook(t, url, bad, f.signed(secret, bad, "d-2")); r.status != 422 || !strings.Contains(r.body, `"path":"inputs.who"`) {
			t.Fatalf("bad inputs = %d\n%s", r.status, r.body)
		}

		// Token mode, disabling, rotation.
		f.call(t, "PATCH", api, f.operator, `{"mode":"token"}`, 200)
		if r := f.hook(t, url, body, map[string]string{"Authorization": "Bearer " + secret, "X-Baton-Delivery": "d-3"}); r.status != 201 {
			t.Fatalf("token mode = %d\n%s", r.status, r.body)
		}
		if r := f.hook(t, url, body, map[string]string{"X-Baton-Token": "nope", "X-Baton-Delivery": "d-4"}); r.status != 401 {
			t.Fatalf("wrong token = %d\n%s", r.status, r.body)
		}
		rotated := f.call(t, "POST", api+"/rotate", f.operator, "", 200)
		if rotated["secret"] == secret {
			t.Fatal("rotation kept the secret")
		}
		if r := f.hook(t, url, body, map[string]string{"X-Baton-Token": secret, "X-Baton-Delivery": "d-5"}); r.status != 401 {
			t.Fatalf("old secret after rotation = %d\n%s", r.status, r.body)
		}
		f.call(t, "PATCH", api, f.operator, `{"enabled":false}`, 200)
		if r := f.hook(t, url, body, map[string]string{"X-Baton-Token": rotated["secret"].(string), "X-Baton-Delivery": "d-6"}); r.status != 409 {
			t.Fatalf("disabled = %d\n%s", r.status, r.body)
		}
		f.call(t, "DELETE", api, f.operator, "", 204)
		if r := f.hook(t, url, body, good); r.status != 404 {
			t.Fatalf("deleted = %d\n%s", r.status, r.body)
		}
	})
}
