package handlers_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/baton-run/baton/models"
)

// The profiler is for admins only: anonymous callers get 401, signed-in
// non-admins 403 (by token and by session, on every profile), and an
// admin gets the index, a heap profile and a short CPU profile.
func TestPprofAdminsOnly(t *testing.T) {
	t.Parallel()
	b := setup(t, openSQLite)
	operator := b.token(t, b.user(t, "otto", models.RoleOperator, models.RoleDesigner, models.RoleApprover))
	session := b.login(t, "victor", testPassword)
	paths := []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline", "/debug/pprof/profile?seconds=1", "/debug/pprof/trace?seconds=1"}
	for _, p := range paths {
		if res := b.do(t, request{method: "GET", path: p}); res.status != 401 || !strings.Contains(res.body, `"unauthenticated"`) {
			t.Errorf("anonymous GET %s = %d; want 401\n%s", p, res.status, res.body)
		}
		if res := b.do(t, request{method: "GET", path: p, bearer: b.viewerToken}); res.status != 403 {
			t.Errorf("viewer GET %s = %d; want 403", p, res.status)
		}
		if res := b.do(t, request{method: "GET", path: p, bearer: operator}); res.status != 403 {
			t.Errorf("operator, designer and approver GET %s = %d; want 403", p, res.status)
		}
		if res := b.do(t, request{method: "GET", path: p, browser: session}); res.status != 403 {
			t.Errorf("viewer session GET %s = %d; want 403", p, res.status)
		}
	}
	if res := b.do(t, request{method: "POST", path: "/debug/pprof/symbol", bearer: b.viewerToken}); res.status != 403 {
		t.Errorf("viewer POST /debug/pprof/symbol = %d; want 403", res.status)
	}
	if res := b.do(t, request{method: "GET", path: "/debug/pprof/", bearer: b.adminToken}); res.status != 200 || !strings.Contains(res.body, "goroutine") {
		t.Errorf("admin GET /debug/pprof/ = %d\n%.300s", res.status, res.body)
	}
	if res := b.do(t, request{method: "GET", path: "/debug/pprof/goroutine?debug=1", bearer: b.adminToken}); res.status != 200 || !strings.Contains(res.body, "goroutine profile:") {
		t.Errorf("admin GET goroutine = %d\n%.300s", res.status, res.body)
	}
	admin := b.login(t, "alice", testPassword)
	for _, p := range []string{"/debug/pprof/heap", "/debug/pprof/profile?seconds=1"} {
		res := b.do(t, request{method: "GET", path: p, browser: admin})
		// Binary profiles are gzip-compressed protocol buffers.
		if res.status != 200 || !strings.HasPrefix(res.body, "\x1f\x8b") {
			t.Errorf("admin session GET %s = %d, %d bytes; want a gzip profile", p, res.status, len(res.body))
		}
	}
}

// Tokens are cached for a moment after their lookup, but revoking one or
// changing its user's roles through the API takes effect on the next
// request.
func TestTokenCacheForgetsRevokedAndChanged(t *testing.T) {
	t.Parallel()
	b := setup(t, openSQLite)
	otto := b.user(t, "otto", models.RoleViewer)
	tok := b.token(t, otto)
	if res := b.do(t, request{method: "GET", path: "/api/v1/tokens", bearer: tok}); res.status != 200 {
		t.Fatalf("GET /api/v1/tokens = %d", res.status)
	}
	// Promoted: the next request sees the admin role.
	if res := b.do(t, request{method: "GET", path: "/debug/pprof/cmdline", bearer: tok}); res.status != 403 {
		t.Fatalf("viewer GET cmdline = %d; want 403", res.status)
	}
	if res := b.do(t, request{method: "PUT", path: "/api/v1/users/otto/roles", bearer: b.adminToken, body: `{"roles": ["admin"]}`, contentType: "application/json"}); res.status != 200 {
		t.Fatalf("set roles = %d\n%s", res.status, res.body)
	}
	if res := b.do(t, request{method: "GET", path: "/debug/pprof/cmdline", bearer: tok}); res.status != 200 {
		t.Fatalf("after promotion GET cmdline = %d; want 200", res.status)
	}
	// Demoted again: refused at once.
	if res := b.do(t, request{method: "PUT", path: "/api/v1/users/otto/roles", bearer: b.adminToken, body: `{"roles": ["viewer"]}`, contentType: "application/json"}); res.status != 200 {
		t.Fatalf("set roles = %d\n%s", res.status, res.body)
	}
	if res := b.do(t, request{method: "GET", path: "/debug/pprof/cmdline", bearer: tok}); res.status != 403 {
		t.Fatalf("after demotion GET cmdline = %d; want 403", res.status)
	}
	// Revoked (by an admin): the next request is refused.
	var list struct {
		Tokens []models.APIToken `json:"tokens"`
	}
	res := b.do(t, request{method: "GET", path: "/api/v1/tokens", bearer: tok})
	if err := json.Unmarshal([]byte(res.body), &list); err != nil || len(list.Tokens) != 1 {
		t.Fatalf("token list: %v\n%s", err, res.body)
	}
	if res := b.do(t, request{method: "DELETE", path: "/api/v1/tokens/" + strconv.FormatInt(list.Tokens[0].ID, 10), bearer: b.adminToken}); res.status != 204 {
		t.Fatalf("revoke = %d\n%s", res.status, res.body)
	}
	if res := b.do(t, request{method: "GET", path: "/api/v1/me", bearer: tok}); res.status != 401 {
		t.Fatalf("revoked token: GET /api/v1/me = %d; want 401", res.status)
	}
}
