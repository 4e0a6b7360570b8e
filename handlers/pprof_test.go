package handlers_test

import (
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
