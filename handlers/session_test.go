package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/baton-run/baton/handlers/auth"
	"github.com/baton-run/baton/models/store"
)

func TestSessionLifetime(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		b := setup(t, open)
		br := b.login(t, "victor", testPassword)
		ctx := context.Background()

		// Using the session a few minutes later records when it was last seen.
		b.clock.Advance(5 * time.Minute)
		b.run(t, scenario{name: "session in use", req: request{method: "GET", path: "/runs", browser: br}, status: 200})
		sess, _, err := b.store.SessionByHash(ctx, auth.HashSessionID(br.cookie), b.clock.Now())
		if err != nil {
			t.Fatalf("SessionByHash: %v", err)
		}
		if want := b.clock.Now(); !sess.LastSeen.Equal(want) {
			t.Errorf("session LastSeen = %v; want %v", sess.LastSeen, want)
		}

		// After the session's lifetime (12h by default) the cookie is no login.
		b.clock.Advance(12 * time.Hour)
		got := b.do(t, request{method: "GET", path: "/runs", browser: br})
		if got.status != http.StatusSeeOther || got.res.Header.Get("Location") != "/login?next=%2Fruns" {
			t.Errorf("expired session: GET /runs = %d to %q; want 303 to the login page", got.status, got.res.Header.Get("Location"))
		}
		var cleared bool
		for _, c := range got.res.Cookies() {
			cleared = cleared || c.Name == "baton_session" && c.Value == "" && c.Expires.Before(time.Now())
		}
		if !cleared {
			t.Errorf("expired session: cookie not cleared: %v", got.res.Header["Set-Cookie"])
		}
	})
}

func TestDisabledUser(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		b := setup(t, open)
		br := b.login(t, "victor", testPassword)
		if err := b.store.SetUserDisabled(context.Background(), b.viewer.ID, true); err != nil {
			t.Fatalf("SetUserDisabled: %v", err)
		}
		b.run(t, scenario{name: "token of a disabled user", req: request{method: "GET", path: "/api/v1/me", bearer: b.viewerToken},
			status: 401, contains: []string{"invalid or revoked"}})
		b.run(t, scenario{name: "session of a disabled user", req: request{method: "GET", path: "/api/v1/me", browser: br},
			status: 401})
		if res := b.postLogin(t, "victor", testPassword, ""); res.status != http.StatusUnauthorized {
			t.Errorf("disabled user's login = %d; want 401", res.status)
		}
		b.run(t, scenario{name: "admin sees the user disabled", req: request{method: "GET", path: "/api/v1/users", bearer: b.adminToken},
			status: 200, contains: []string{`"disabled":true`}})
	})
}

func TestEscaping(t *testing.T) {
	t.Parallel()
	b := setup(t, openSQLite)
	br := b.login(t, "victor", testPassword)
	b.run(t, scenario{name: "token name with markup",
		req: request{method: "POST", path: "/settings/tokens", browser: br, headers: map[string]string{"HX-Request": "true"},
			body: url.Values{"name": {`<script>alert("x")</script>`}}.Encode(), contentType: "application/x-www-form-urlencoded"},
		status: 201, contains: []string{"&lt;script&gt;alert("}, notContains: []string{"<script>alert"}})
}

func TestLogoutWithHTMX(t *testing.T) {
	t.Parallel()
	b := setup(t, openSQLite)
	br := b.login(t, "victor", testPassword)
	b.run(t, scenario{name: "htmx logout", req: request{method: "POST", path: "/logout", browser: br, headers: map[string]string{"HX-Request": "true"}},
		status: 204, headers: map[string]string{"HX-Redirect": "/login"}})
	b.run(t, scenario{name: "after logout", req: request{method: "GET", path: "/api/v1/me", browser: br},
		status: 401})
}

// A login form opened before the browser signed in (in another tab) still
// works: POST /login checks the form's own token, not the session's.
func TestLoginWhileSignedIn(t *testing.T) {
	t.Parallel()
	b := setup(t, openSQLite)
	br := b.login(t, "victor", testPassword)
	form := b.do(t, request{method: "GET", path: "/login?next=/approvals"})
	m := csrfField.FindStringSubmatch(form.body)
	if m == nil {
		t.Fatalf("no form token in the login page:\n%s", form.body)
	}
	var formCookie string
	for _, c := range form.res.Cookies() {
		if c.Name == "baton_login_csrf" {
			formCookie = c.Value
		}
	}
	got := b.do(t, request{method: "POST", path: "/login", browser: br, noCSRF: true, contentType: "application/x-www-form-urlencoded",
		body:    url.Values{"username": {"alice"}, "password": {testPassword}, "_csrf": {m[1]}, "next": {"/approvals"}}.Encode(),
		headers: map[string]string{"Cookie": "baton_session=" + br.cookie + "; baton_login_csrf=" + formCookie}})
	if got.status != http.StatusSeeOther || got.res.Header.Get("Location") != "/approvals" {
		t.Errorf("POST /login while signed in = %d to %q; want 303 to /approvals\n%s", got.status, got.res.Header.Get("Location"), got.body)
	}
}
