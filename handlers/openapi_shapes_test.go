package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/baton-run/baton/models"
)

// TestOpenAPIShapes makes the calls a client generated from the document
// makes, on a server wired as `baton serve` wires it, and checks each request
// and response against handlers/openapi.yaml: status documented, body of the
// documented shape (required fields, types, enums), parameters as declared.
func TestOpenAPIShapes(t *testing.T) {
	spec, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := libopenapi.NewDocument(spec)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	f := newFlow(t, openSQLite)
	admin := f.adminToken
	on := f.bundle // the server the calls go to

	call := func(method, path, token, body string, want int) map[string]any {
		t.Helper()
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Authorization", "Bearer "+token)
		res := on.do(t, request{method: method, path: path, bearer: token, body: body})
		if res.status != want {
			t.Fatalf("%s %s = %d; want %d\n%s", method, path, res.status, want, res.body)
		}
		// Validate against fresh copies: the validator reads both bodies.
		req.Body = io.NopCloser(strings.NewReader(body))
		check := &http.Response{StatusCode: res.status, Header: res.res.Header, Body: io.NopCloser(bytes.NewReader([]byte(res.body))), Request: req}
		if ok, verrs := v.ValidateHttpRequestResponse(req, check); !ok {
			for _, e := range verrs {
				t.Errorf("%s %s → %d: %s: %s", method, path, res.status, e.Message, e.Reason)
				for _, se := range e.SchemaValidationErrors {
					t.Errorf("    %s at %s", se.Reason, se.FieldPath)
				}
			}
		}
		var out map[string]any
		_ = json.Unmarshal([]byte(res.body), &out)
		return out
	}

	call("GET", "/healthz", "", "", 200)
	call("GET", "/api/v1/me", f.operator, "", 200)
	call("POST", "/api/v1/tokens", f.operator, `{"name":"laptop","rateLimit":50}`, 201)
	call("GET", "/api/v1/tokens", f.operator, "", 200)
	call("GET", "/api/v1/users", admin, "", 200)
	call("POST", "/api/v1/users", admin, `{"name":"nia","password":"a long enough password","roles":["viewer"]}`, 201)
	call("PUT", "/api/v1/users/nia/roles", admin, `{"roles":["operator"]}`, 200)
	call("POST", "/api/v1/validate", f.designer, greetDef, 200)
	call("POST", "/api/v1/validate", f.designer, `{"id":"x","name":"x","steps":[]}`, 422)

	call("POST", "/api/v1/templates", f.designer, greetDef, 201)
	call("GET", "/api/v1/templates", f.operator, "", 200)
	call("GET", "/api/v1/templates/greet", f.operator, "", 200)
	call("POST", "/api/v1/templates/greet/versions/1/submit", f.designer, "", 200)
	call("GET", "/api/v1/approvals", f.approver, "", 200)
	call("POST", "/api/v1/templates/greet/versions/1/approve", f.approver, `{"comment":"ok"}`, 200)
	call("PUT", "/api/v1/templates/greet/draft", f.designer, greetDef2, 200)
	call("GET", "/api/v1/templates/greet/versions", f.operator, "", 200)
	call("GET", "/api/v1/templates/greet/versions/2", f.operator, "", 200)
	call("GET", "/api/v1/templates/greet/versions/1/diff/2", f.operator, "", 200)
	call("GET", "/api/v1/templates/greet/versions/1/events", f.operator, "", 200)
	call("GET", "/api/v1/templates/greet/events", f.operator, "", 200)
	call("PATCH", "/api/v1/templates/greet/settings", admin, `{"requiredApprovals":1,"retention":"90d"}`, 200)

	run := call("POST", "/api/v1/templates/greet/runs?wait=10s", f.operator, `{"inputs":{"who":"ada"}}`, 201)
	id, _ := run["id"].(string)
	call("GET", "/api/v1/runs?template=greet&limit=10", f.operator, "", 200)
	call("GET", "/api/v1/runs/"+id, f.operator, "", 200)
	call("POST", "/api/v1/runs/"+id+"/rerun", f.operator, `{"version":"same"}`, 201)
	call("POST", "/api/v1/runs/"+id+"/cancel", f.operator, "", 409)
	call("GET", "/api/v1/runs/01JDNOSUCHRUN0000000000000", f.operator, "", 404)

	call("POST", "/api/v1/templates/greet/webhook", f.operator, `{"mode":"hmac"}`, 201)
	call("GET", "/api/v1/templates/greet/webhook", f.operator, "", 200)
	call("PATCH", "/api/v1/templates/greet/webhook", f.operator, `{"enabled":false}`, 200)
	call("POST", "/api/v1/templates/greet/webhook/rotate", f.operator, "", 200)
	sc := call("POST", "/api/v1/templates/greet/schedules", f.operator, `{"cron":"0 9 * * 1-5","timeZone":"Europe/Berlin","inputs":{"who":"cron"}}`, 201)
	call("GET", "/api/v1/templates/greet/schedules", f.operator, "", 200)
	sid, ok := sc["id"].(float64)
	if !ok {
		t.Fatalf("schedule without an id: %v", sc)
	}
	{
		p := fmt.Sprintf("/api/v1/templates/greet/schedules/%d", int64(sid))
		call("GET", p, f.operator, "", 200)
		call("GET", p+"/fires", f.operator, "", 200)
		call("PATCH", p, f.operator, `{"enabled":false}`, 200)
	}
	call("GET", "/api/v1/openapi.json", "", "", 200)

	// The alerts API, on a server with an alert store as `baton serve` wires it.
	ab := setup(t, openSQLite)
	on = ab
	admin, viewer := ab.adminToken, ab.viewerToken
	operator := ab.token(t, ab.user(t, "otto", models.RoleOperator))
	call("POST", "/api/v1/alerts/channels", admin, `{"name":"ops","kind":"webhook","config":{"url":"https://hooks.example.test/baton","secret":"whsec_x"}}`, 201)
	call("POST", "/api/v1/alerts/channels", admin, `{"name":"bell","kind":"inapp","config":{"roles":["operator"]}}`, 201)
	call("GET", "/api/v1/alerts/channels", viewer, "", 200)
	call("PUT", "/api/v1/alerts/channels/1", admin, `{"name":"ops","kind":"webhook","config":{"url":"https://hooks.example.test/v2"}}`, 200)
	call("POST", "/api/v1/alerts/policies", admin, `{"name":"on-call","levels":[{"after":"0s","channels":[2]},{"after":"5m","channels":[1]}],"repeat":1}`, 201)
	call("GET", "/api/v1/alerts/policies/1", viewer, "", 200)
	call("POST", "/api/v1/alerts/rules", admin, `{"name":"orders failing","severity":"critical","policy":1,"condition":{"kind":"run_failed","template":"orders"}}`, 201)
	call("POST", "/api/v1/alerts/rules", admin, `{"name":"slow","condition":{"kind":"duration_over","template":"orders","threshold":"10m"}}`, 201)
	call("GET", "/api/v1/alerts/rules", viewer, "", 200)
	call("POST", "/api/v1/alerts/rules", admin, `{"name":"r","condition":{"kind":"failure_rate","threshold":1.5}}`, 422)
	ctx := context.Background()
	a, _, err := ab.store.RaiseAlert(ctx, models.AlertRaise{Rule: 1, Subject: "orders", Summary: "Run r1 of orders ended failed",
		Links: models.AlertLinks{Run: "r1", Template: "orders"}, At: ab.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ab.store.EscalateDue(ctx, ab.clock.Now()); err != nil {
		t.Fatal(err)
	}
	{
		p := fmt.Sprintf("/api/v1/alerts/%d", a.ID)
		call("GET", "/api/v1/alerts?state=open&limit=10", viewer, "", 200)
		call("GET", p, viewer, "", 200)
		call("GET", p+"/deliveries", viewer, "", 200)
		call("POST", p+"/snooze", operator, `{"until":"2h"}`, 200)
		call("POST", p+"/ack", operator, "", 200)
		call("POST", p+"/resolve", operator, "", 200)
		call("POST", p+"/resolve", operator, "", 409)
	}
	call("PUT", "/api/v1/notifications/settings", viewer, `{"email":"victor@example.test"}`, 200)
	call("GET", "/api/v1/notifications/settings", viewer, "", 200)
	call("GET", "/api/v1/notifications", operator, "", 200)
	call("POST", "/api/v1/notifications/read", operator, "", 204)
	call("DELETE", "/api/v1/alerts/rules/2", admin, "", 204)

	// The insight API: analytics over seeded runs, reports and the monitor.
	seedAnalytics(t, ab)
	call("GET", "/api/v1/analytics/summary", viewer, "", 200)
	call("GET", "/api/v1/analytics/summary?tz=Mars/Olympus", viewer, "", 400)
	call("GET", "/api/v1/analytics/series?metric=success_rate&bucket=hour&groupBy=template&tz=Europe/Paris", viewer, "", 200)
	call("GET", "/api/v1/analytics/series?metric=runs&format=csv", viewer, "", 200)
	call("GET", "/api/v1/analytics/steps?template=orders", viewer, "", 200)
	call("GET", "/api/v1/analytics/decisions?template=orders", viewer, "", 200)
	call("GET", "/api/v1/analytics/decisions/export?template=orders&format=jsonl", viewer, "", 200)
	call("GET", "/api/v1/analytics/decisions/export?template=orders", viewer, "", 200)
	call("GET", "/api/v1/analytics/decisions/export", viewer, "", 400)
	call("GET", "/api/v1/analytics/usage?test=true", viewer, "", 200)
	call("GET", "/api/v1/analytics/approvals", viewer, "", 200)
	rep := call("POST", "/api/v1/reports", operator, `{"name":"Orders per day","query":{"metric":"runs","bucket":"day","groupBy":"status","filters":{"template":"orders"},"range":"30d"},"chart":"bar","sharedWith":["viewer"]}`, 201)
	call("POST", "/api/v1/reports", viewer, `{"name":"mine","query":{}}`, 403)
	call("POST", "/api/v1/reports", operator, `{"name":"bad","query":{"range":"soon"}}`, 422)
	call("GET", "/api/v1/reports", viewer, "", 200)
	rid, ok := rep["id"].(float64)
	if !ok {
		t.Fatalf("report without an id: %v", rep)
	}
	{
		p := fmt.Sprintf("/api/v1/reports/%d", int64(rid))
		call("GET", p, viewer, "", 200)
		call("PUT", p, operator, `{"name":"Orders","query":{"metric":"duration_p95","bucket":"week","range":{"from":"2026-10-01T00:00:00Z","to":"2026-11-27T00:00:00Z"},"tz":"Europe/Paris"},"chart":"line","sharedWith":[]}`, 200)
		call("GET", p+"/data", operator, "", 200)
		call("GET", p+"/data?format=csv", operator, "", 200)
		call("GET", p, viewer, "", 404) // no longer shared
		call("DELETE", p, viewer, "", 404)
		call("DELETE", p, operator, "", 204)
	}
	call("GET", "/api/v1/monitor", viewer, "", 200)

	// The devices API, on a server with a device hub.
	db := deviceBundle(t, openSQLite)
	on = db
	call("POST", "/api/v1/devices", db.adminToken, `{"name":"pi-1","capabilities":["linux","usb"],"labels":{"site":"berlin"}}`, 201)
	call("POST", "/api/v1/devices", db.adminToken, `{"name":"bare"}`, 201)
	call("POST", "/api/v1/devices", db.adminToken, `{"name":"pi-1"}`, 409)
	call("POST", "/api/v1/devices", db.viewerToken, `{"name":"x"}`, 403)
	call("GET", "/api/v1/devices", db.viewerToken, "", 200)
	call("POST", "/api/v1/devices/pi-1/drain", db.adminToken, "", 204)
	call("POST", "/api/v1/devices/pi-1/resume", db.adminToken, "", 204)
	call("POST", "/api/v1/devices/ghost/drain", db.adminToken, "", 404)
	call("GET", "/api/v1/devices/pi-1/commands?limit=10", db.viewerToken, "", 200)
	call("DELETE", "/api/v1/devices/pi-1", db.adminToken, "", 204)
	call("DELETE", "/api/v1/devices/pi-1", db.adminToken, "", 409)
	call("GET", "/api/v1/devices", db.viewerToken, "", 200)
}
