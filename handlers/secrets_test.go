package handlers_test

import (
	"strings"
	"testing"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// The secrets API: admins write, designers list names, nobody reads a value.
func TestSecretsAPI(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		b := setup(t, open)
		designer := b.token(t, b.user(t, "dora", models.RoleDesigner))
		const value = "sk_live_very_secret_42"
		body := `{"name":"VENDOR_KEY","value":"` + value + `","description":"vendor API"}`
		uses := `{"steps":[{"id":"a","action":{"kind":"set","values":{"k":"{{ secrets.VENDOR_KEY }}"}}}]}`
		for _, sc := range []scenario{
			{name: "viewer cannot list", req: request{method: "GET", path: "/api/v1/secrets", bearer: b.viewerToken}, status: 403},
			{name: "designer cannot create", req: request{method: "POST", path: "/api/v1/secrets", body: body, bearer: designer}, status: 403},
			{name: "admin creates", req: request{method: "POST", path: "/api/v1/secrets", body: body, bearer: b.adminToken}, status: 201,
				contains: []string{`"name":"VENDOR_KEY"`, `"description":"vendor API"`, `"createdAt"`}, notContains: []string{value}},
			{name: "same name again", req: request{method: "POST", path: "/api/v1/secrets", body: body, bearer: b.adminToken}, status: 409, notContains: []string{value}},
			{name: "bad name", req: request{method: "POST", path: "/api/v1/secrets", body: `{"name":"a b","value":"x"}`, bearer: b.adminToken}, status: 422},
			{name: "no value", req: request{method: "POST", path: "/api/v1/secrets", body: `{"name":"EMPTY"}`, bearer: b.adminToken}, status: 422},
			{name: "designer lists names", req: request{method: "GET", path: "/api/v1/secrets", bearer: designer}, status: 200,
				contains: []string{`"VENDOR_KEY"`, `"updatedBy":"alice"`}, notContains: []string{value}},
			{name: "designer cannot rotate", req: request{method: "PUT", path: "/api/v1/secrets/VENDOR_KEY", body: `{"value":"new"}`, bearer: designer}, status: 403},
			{name: "admin rotates", req: request{method: "PUT", path: "/api/v1/secrets/VENDOR_KEY", body: `{"value":"rotated-value-9"}`, bearer: b.adminToken}, status: 200,
				notContains: []string{"rotated-value-9"}},
			{name: "rotate missing", req: request{method: "PUT", path: "/api/v1/secrets/NOPE", body: `{"value":"x"}`, bearer: b.adminToken}, status: 404},
			{name: "designer cannot delete", req: request{method: "DELETE", path: "/api/v1/secrets/VENDOR_KEY", bearer: designer}, status: 403},
			{name: "a definition naming it is valid", req: request{method: "POST", path: "/api/v1/validate", body: uses, bearer: designer}, status: 200},
			{name: "admin deletes", req: request{method: "DELETE", path: "/api/v1/secrets/VENDOR_KEY", bearer: b.adminToken}, status: 204},
			{name: "after deletion the definition names a missing secret", req: request{method: "POST", path: "/api/v1/validate", body: uses, bearer: designer}, status: 422,
				contains: []string{"secrets.VENDOR_KEY", `no secret named \"VENDOR_KEY\" exists`}},
			{name: "delete twice", req: request{method: "DELETE", path: "/api/v1/secrets/VENDOR_KEY", bearer: b.adminToken}, status: 404},
		} {
			b.run(t, sc)
		}
		if strings.Contains(b.logs.String(), value) || strings.Contains(b.logs.String(), "rotated-value-9") {
			t.Error("a secret value reached the log")
		}
	})
}
