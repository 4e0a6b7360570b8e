package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

func TestAPIScenarios(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		b := setup(t, open)
		admin, viewer := b.adminToken, b.viewerToken
		scenarios := []scenario{
			{name: "me without authentication", req: request{method: "GET", path: "/api/v1/me"},
				status: 401, contains: []string{`"code":"unauthenticated"`, `"requestId":"`, `"details":[]`}},
			{name: "me with a token", req: request{method: "GET", path: "/api/v1/me", bearer: viewer},
				status: 200, contains: []string{`"name":"victor"`, `"roles":["viewer"]`}, notContains: []string{"$2a", "password"}},
			{name: "junk token", req: request{method: "GET", path: "/api/v1/me", bearer: "nonsense"},
				status: 401, contains: []string{"invalid or revoked API token"}},
			{name: "unknown well-formed token", req: request{method: "GET", path: "/api/v1/me", bearer: "bt_" + strings.Repeat("A", 43)},
				status: 401, contains: []string{"invalid or revoked API token"}},
			{name: "basic auth", req: request{method: "GET", path: "/api/v1/me", headers: map[string]string{"Authorization": "Basic YTpi"}},
				status: 401, contains: []string{`Bearer \u003ctoken\u003e`}},
			{name: "users needs admin", req: request{method: "GET", path: "/api/v1/users", bearer: viewer},
				status: 403, contains: []string{`"code":"forbidden"`, "admin role"}},
			{name: "users as admin", req: request{method: "GET", path: "/api/v1/users", bearer: admin},
				status: 200, contains: []string{`"users":[`, `"alice"`, `"victor"`}, notContains: []string{"$2a"}},
			{name: "create user", req: request{method: "POST", path: "/api/v1/users", bearer: admin,
				body: `{"name":"dora","password":"longenough","roles":["designer","operator","designer"]}`},
				status: 201, contains: []string{`"name":"dora"`, `"roles":["designer","operator"]`}, notContains: []string{"longenough"}},
			{name: "create user twice", req: request{method: "POST", path: "/api/v1/users", bearer: admin,
				body: `{"name":"victor","password":"longenough","roles":["viewer"]}`},
				status: 409, contains: []string{`"code":"conflict"`}},
			{name: "create invalid user", req: request{method: "POST", path: "/api/v1/users", bearer: admin,
				body: `{"name":"no spaces","password":"short","roles":["boss"]}`},
				status: 422, contains: []string{`"code":"invalid"`, `"path":"name"`, `"path":"password"`, `"path":"roles[0]"`, `unknown role \"boss\"`}},
			{name: "create user without roles", req: request{method: "POST", path: "/api/v1/users", bearer: admin,
				body: `{"name":"eve","password":"longenough"}`},
				status: 422, contains: []string{`"path":"roles"`}},
			{name: "create user as viewer", req: request{method: "POST", path: "/api/v1/users", bearer: viewer,
				body: `{"name":"mallory","password":"longenough","roles":["admin"]}`},
				status: 403, contains: []string{`"code":"forbidden"`}},
			{name: "malformed JSON", req: request{method: "POST", path: "/api/v1/users", bearer: admin, body: `{"name":`},
				status: 400, contains: []string{`"code":"bad_request"`, "malformed JSON"}},
			{name: "unknown field", req: request{method: "POST", path: "/api/v1/users", bearer: admin, body: `{"nam":"x"}`},
				status: 400, contains: []string{`unknown field \"nam\"`}},
			{name: "two JSON values", req: request{method: "POST", path: "/api/v1/users", bearer: admin, body: `{} {}`},
				status: 400, contains: []string{"more than one JSON value"}},
			{name: "empty body", req: request{method: "POST", path: "/api/v1/tokens", bearer: admin, contentType: "application/json"},
				status: 400, contains: []string{"the body is empty"}},
			{name: "form instead of JSON", req: request{method: "POST", path: "/api/v1/users", bearer: admin, body: "name=x", contentType: "application/x-www-form-urlencoded"},
				status: 400, contains: []string{"must be JSON"}},
			{name: "set roles", req: request{method: "PUT", path: "/api/v1/users/victor/roles", bearer: admin, body: `{"roles":["approver","viewer"]}`},
				status: 200, contains: []string{`"roles":["approver","viewer"]`}},
			{name: "set roles of nobody", req: request{method: "PUT", path: "/api/v1/users/nobody/roles", bearer: admin, body: `{"roles":["viewer"]}`},
				status: 404, contains: []string{`"code":"not_found"`}},
			{name: "drop own admin role", req: request{method: "PUT", path: "/api/v1/users/alice/roles", bearer: admin, body: `{"roles":["viewer"]}`},
				status: 409, contains: []string{"own admin role"}},
			{name: "set unknown role", req: request{method: "PUT", path: "/api/v1/users/victor/roles", bearer: admin, body: `{"roles":["root"]}`},
				status: 422, contains: []string{`"path":"roles[0]"`}},
			{name: "valid definition", req: request{method: "POST", path: "/api/v1/validate", bearer: viewer, body: `{"id":"x","steps":[]}`},
				status: 200, contains: []string{`{"valid":true}`}},
			{name: "invalid definition", req: request{method: "POST", path: "/api/v1/validate", bearer: viewer, body: `{"id":"x"}`},
				status: 422, contains: []string{`"code":"invalid"`, `"details":[{"path":"steps","message":"is required"}]`}},
			{name: "definition syntax error", req: request{method: "POST", path: "/api/v1/validate", bearer: viewer, body: `{"id":`},
				status: 400, contains: []string{`"code":"bad_request"`}},
			{name: "YAML definition", req: request{method: "POST", path: "/api/v1/validate", bearer: viewer, body: "id: x\nsteps: []\n", contentType: "application/yaml; charset=utf-8"},
				status: 200, contains: []string{`{"valid":true}`}},
			{name: "YAML as text/yaml", req: request{method: "POST", path: "/api/v1/validate", bearer: viewer, body: "id: x\n", contentType: "text/yaml"},
				status: 422, contains: []string{`"path":"steps"`}},
			{name: "definition as text", req: request{method: "POST", path: "/api/v1/validate", bearer: viewer, body: "hello", contentType: "text/plain"},
				status: 400, contains: []string{"application/json or application/yaml"}},
			{name: "validate without authentication", req: request{method: "POST", path: "/api/v1/validate", body: `{}`},
				status: 401},
			{name: "schema", req: request{method: "GET", path: "/api/v1/schema/workflow.json", bearer: viewer},
				status: 200, contains: []string{`"$id":"workflow.json"`}, headers: map[string]string{"Content-Type": "application/schema+json"}},
			{name: "unknown API route", req: request{method: "GET", path: "/api/v1/nothing-here", bearer: viewer},
				status: 404, contains: []string{`"code":"not_found"`, `"requestId"`}},
			{name: "unknown API route without authentication", req: request{method: "GET", path: "/api/v1/nothing-here"},
				status: 404, contains: []string{`"code":"not_found"`}},
			{name: "bad token id", req: request{method: "DELETE", path: "/api/v1/tokens/abc", bearer: viewer},
				status: 400, contains: []string{"positive whole number"}},
			{name: "unknown token id", req: request{method: "DELETE", path: "/api/v1/tokens/999999", bearer: viewer},
				status: 404},
			{name: "token without a name", req: request{method: "POST", path: "/api/v1/tokens", bearer: viewer, body: `{"name":"  "}`},
				status: 422, contains: []string{`"path":"name"`}},
			{name: "token with a long name", req: request{method: "POST", path: "/api/v1/tokens", bearer: viewer, body: `{"name":"` + strings.Repeat("n", 101) + `"}`},
				status: 422, contains: []string{"at most 100"}},
			{name: "logout with a token", req: request{method: "POST", path: "/logout", bearer: viewer, headers: map[string]string{"Accept": "application/json"}},
				status: 400, contains: []string{"revoke it"}},
			{name: "health", req: request{method: "GET", path: "/healthz"},
				status: 200, contains: []string{`{"status":"ok","database":"ok"}`}},
			{name: "security headers", req: request{method: "GET", path: "/healthz"},
				status: 200, headers: map[string]string{
					"Content-Security-Policy": "default-src 'self'", "X-Frame-Options": "DENY",
					"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "X-Request-ID": "",
				}},
			{name: "wrong method", req: request{method: "PATCH", path: "/api/v1/tokens", bearer: viewer},
				status: 405, contains: []string{`"code":"method_not_allowed"`}},
		}
		for _, sc := range scenarios {
			b.run(t, sc)
		}

		audit, err := b.store.ListAudit(context.Background(), 100, 0)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{models.AuditUserCreated: "dora", models.AuditRolesChanged: "victor"}
		for _, e := range audit {
			if want[e.Action] == e.Target && e.Actor == "alice" {
				delete(want, e.Action)
			}
		}
		if len(want) > 0 {
			t.Errorf("audit log lacks %v; has %+v", want, audit)
		}
	})
}

func TestTokenLifecycle(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		b := setup(t, open)
		created := b.do(t, request{method: "POST", path: "/api/v1/tokens", bearer: b.viewerToken, body: `{"name":"ci"}`})
		if created.status != http.StatusCreated {
			t.Fatalf("POST /api/v1/tokens = %d; want 201\n%s", created.status, created.body)
		}
		var tok struct {
			ID     int64  `json:"id"`
			Token  string `json:"token"`
			Prefix string `json:"prefix"`
		}
		if err := json.Unmarshal([]byte(created.body), &tok); err != nil || tok.Token == "" || !strings.HasPrefix(tok.Token, tok.Prefix) {
			t.Fatalf("created token %s: %v; want id, token and its prefix", created.body, err)
		}
		if strings.Contains(created.body, `"hash"`) {
			t.Errorf("created token exposes its hash: %s", created.body)
		}
		id := itoa(tok.ID)

		b.run(t, scenario{name: "new token works", req: request{method: "GET", path: "/api/v1/me", bearer: tok.Token},
			status: 200, contains: []string{`"victor"`}})
		b.run(t, scenario{name: "list shows it without the secret", req: request{method: "GET", path: "/api/v1/tokens", bearer: b.viewerToken},
			status: 200, contains: []string{`"tokens":[`, `"name":"ci"`, tok.Prefix, `"lastUsedAt":"`}, notContains: []string{tok.Token}})
		b.run(t, scenario{name: "another user cannot revoke it", req: request{method: "DELETE", path: "/api/v1/tokens/" + id, bearer: b.token(t, b.user(t, "olga", models.RoleOperator))},
			status: 404})
		b.run(t, scenario{name: "owner revokes it", req: request{method: "DELETE", path: "/api/v1/tokens/" + id, bearer: b.viewerToken},
			status: 204})
		b.run(t, scenario{name: "revoked token is refused", req: request{method: "GET", path: "/api/v1/me", bearer: tok.Token},
			status: 401, contains: []string{"invalid or revoked"}})
		b.run(t, scenario{name: "revoking twice is fine", req: request{method: "DELETE", path: "/api/v1/tokens/" + id, bearer: b.viewerToken},
			status: 204})

		// An admin may revoke anyone's token, including the viewer's own.
		var list struct {
			Tokens []models.APIToken `json:"tokens"`
		}
		if err := json.Unmarshal([]byte(b.do(t, request{method: "GET", path: "/api/v1/tokens", bearer: b.viewerToken}).body), &list); err != nil {
			t.Fatal(err)
		}
		var victorsFirst int64
		for _, tk := range list.Tokens {
			if tk.Name == "test" {
				victorsFirst = tk.ID
			}
		}
		b.run(t, scenario{name: "admin revokes another's token", req: request{method: "DELETE", path: "/api/v1/tokens/" + itoa(victorsFirst), bearer: b.adminToken},
			status: 204})
		b.run(t, scenario{name: "that token is refused", req: request{method: "GET", path: "/api/v1/me", bearer: b.viewerToken},
			status: 401})

		audit, err := b.store.ListAudit(context.Background(), 100, 0)
		if err != nil {
			t.Fatal(err)
		}
		var created1, revoked int
		for _, e := range audit {
			switch e.Action {
			case models.AuditTokenCreated:
				created1++
			case models.AuditTokenRevoked:
				revoked++
			}
		}
		if created1 != 1 || revoked != 2 {
			t.Errorf("audit has %d token_created and %d token_revoked; want 1 and 2", created1, revoked)
		}
	})
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }
