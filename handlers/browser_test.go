package handlers_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/handlers"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

func TestLoginAndLogout(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		b := setup(t, open)

		res := b.postLogin(t, "victor", testPassword, "/runs?status=failed")
		if res.status != http.StatusSeeOther || res.res.Header.Get("Location") != "/runs?status=failed" {
			t.Fatalf("good login = %d to %q; want 303 to /runs?status=failed", res.status, res.res.Header.Get("Location"))
		}
		var session *http.Cookie
		for _, c := range res.res.Cookies() {
			if c.Name == "baton_session" {
				session = c
			}
		}
		if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Secure {
			t.Fatalf("session cookie = %+v; want HttpOnly, SameSite=Lax, not Secure by default", session)
		}

		for _, c := range []struct {
			name, user, password, next string
			status                     int
			location                   string
		}{
			{"wrong password", "victor", "wrong password!", "", 401, ""},
			{"unknown user", "nobody", testPassword, "", 401, ""},
			{"empty password", "victor", "", "", 400, ""},
			{"offsite next", "alice", testPassword, "//evil.example/x", 303, "/"},
			{"scheme next", "alice", testPassword, "https://evil.example/", 303, "/"},
		} {
			res := b.postLogin(t, c.user, c.password, c.next)
			if res.status != c.status || res.res.Header.Get("Location") != c.location {
				t.Errorf("%s: POST /login = %d to %q; want %d to %q\n%s", c.name, res.status, res.res.Header.Get("Location"), c.status, c.location, res.body)
			}
			if c.status == 401 && !strings.Contains(res.body, "Wrong user name or password.") {
				t.Errorf("%s: login page does not say why:\n%s", c.name, res.body)
			}
		}

		br := b.login(t, "victor", testPassword)
		b.run(t, scenario{name: "home after login", req: request{method: "GET", path: "/", browser: br},
			status: 200, contains: []string{`data-testid="nav-templates"`, `data-testid="nav-settings"`, "Welcome, victor", `hx-headers="{&#34;X-CSRF-Token&#34;:&#34;` + br.csrf}})
		b.run(t, scenario{name: "login page when signed in", req: request{method: "GET", path: "/login?next=/runs", browser: br},
			status: 303, headers: map[string]string{"Location": "/runs"}})
		b.run(t, scenario{name: "logout without CSRF", req: request{method: "POST", path: "/logout", browser: br, noCSRF: true},
			status: 403, contains: []string{"CSRF"}})
		b.run(t, scenario{name: "logout", req: request{method: "POST", path: "/logout", browser: br},
			status: 303, headers: map[string]string{"Location": "/login"}})
		b.run(t, scenario{name: "session gone", req: request{method: "GET", path: "/settings", browser: br},
			status: 303, headers: map[string]string{"Location": "/login?next=%2Fsettings"}})

		audit, err := b.store.ListAudit(context.Background(), 100, 0)
		if err != nil {
			t.Fatal(err)
		}
		counts := map[string]int{}
		for _, e := range audit {
			counts[e.Action]++
			if e.Action == models.AuditLoginFailed && e.Target == "nobody" && e.Detail["reason"] != "unknown_user" {
				t.Errorf("failed login audit detail = %v; want reason unknown_user", e.Detail)
			}
		}
		// Logins: the first, two with offsite next, and b.login's. Failures:
		// wrong password and unknown user (an empty form is not an attempt).
		if counts[models.AuditLogin] != 4 || counts[models.AuditLoginFailed] != 2 || counts[models.AuditLogout] != 1 {
			t.Errorf("audit counts = %v; want 4 login, 2 login_failed, 1 logout", counts)
		}
	})
}

func TestLoginFormCSRF(t *testing.T) {
	t.Parallel()
	b := setup(t, openSQLite)
	vals := url.Values{"username": {"victor"}, "password": {testPassword}, "_csrf": {"forged"}}
	b.run(t, scenario{name: "login without the form cookie",
		req:    request{method: "POST", path: "/login", body: vals.Encode(), contentType: "application/x-www-form-urlencoded"},
		status: 403, contains: []string{"The sign-in form had expired"}})
}

func TestLoginThrottle(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		b := setup(t, open)
		for i := range 5 {
			if res := b.postLogin(t, "victor", "wrong password", ""); res.status != http.StatusUnauthorized {
				t.Fatalf("failed login %d = %d; want 401", i+1, res.status)
			}
		}
		res := b.postLogin(t, "victor", testPassword, "")
		body := res.body
		if res.status != http.StatusTooManyRequests || res.res.Header.Get("Retry-After") != "900" {
			t.Fatalf("login after 5 failures = %d, Retry-After %q; want 429, 900", res.status, res.res.Header.Get("Retry-After"))
		}
		if !strings.Contains(body, "Too many failed sign-in attempts") || !strings.Contains(body, "15 minutes") {
			t.Errorf("throttled login page does not say so:\n%s", body)
		}
		// Another user from the same address is not affected.
		if res := b.postLogin(t, "alice", testPassword, ""); res.status != http.StatusSeeOther {
			t.Errorf("other user's login = %d; want 303", res.status)
		}
		b.clock.Advance(16 * time.Minute)
		if res := b.postLogin(t, "victor", testPassword, ""); res.status != http.StatusSeeOther {
			t.Errorf("login after the window = %d; want 303", res.status)
		}
		audit, err := b.store.ListAudit(context.Background(), 100, 0)
		if err != nil {
			t.Fatal(err)
		}
		var throttled int
		for _, e := range audit {
			if e.Action == models.AuditLoginFailed && e.Detail["reason"] == "throttled" {
				throttled++
			}
		}
		if throttled != 1 {
			t.Errorf("audit has %d throttled login failures; want 1", throttled)
		}
	})
}

func TestCookieCSRF(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		b := setup(t, open)
		br := b.login(t, "victor", testPassword)
		b.run(t, scenario{name: "API POST by cookie without CSRF", req: request{method: "POST", path: "/api/v1/tokens", browser: br, noCSRF: true, body: `{"name":"x"}`},
			status: 403, contains: []string{`"code":"forbidden"`, "CSRF"}})
		b.run(t, scenario{name: "API POST by cookie with a wrong token", req: request{method: "POST", path: "/api/v1/tokens", browser: br, noCSRF: true, body: `{"name":"x"}`,
			headers: map[string]string{"X-CSRF-Token": "wrong"}},
			status: 403})
		b.run(t, scenario{name: "API POST by cookie with the header", req: request{method: "POST", path: "/api/v1/tokens", browser: br, body: `{"name":"x"}`},
			status: 201, contains: []string{`"token":"bt_`}})
		b.run(t, scenario{name: "form POST with the field", req: request{method: "POST", path: "/settings/tokens", browser: br, noCSRF: true,
			body: url.Values{"name": {"from-form"}, "_csrf": {br.csrf}}.Encode(), contentType: "application/x-www-form-urlencoded"},
			status: 201, contains: []string{`data-testid="new-token-value"`, "from-form", "<html"}})
		b.run(t, scenario{name: "GET by cookie needs no token", req: request{method: "GET", path: "/api/v1/me", browser: br, noCSRF: true},
			status: 200})
		b.run(t, scenario{name: "bearer POST needs no token", req: request{method: "POST", path: "/api/v1/tokens", bearer: b.viewerToken, body: `{"name":"y"}`},
			status: 201})
	})
}

func TestPages(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		b := setup(t, open)
		viewer := b.login(t, "victor", testPassword)
		admin := b.login(t, "alice", testPassword)
		htmx := map[string]string{"HX-Request": "true"}
		form := "application/x-www-form-urlencoded"
		for _, sc := range []scenario{
			{name: "login form", req: request{method: "GET", path: "/login"},
				status: 200, contains: []string{`data-testid="login-username"`, `name="_csrf"`}, notContains: []string{`data-testid="nav"`}},
			{name: "page without login", req: request{method: "GET", path: "/runs?x=1"},
				status: 303, headers: map[string]string{"Location": "/login?next=%2Fruns%3Fx%3D1"}},
			{name: "root without login", req: request{method: "GET", path: "/"},
				status: 303, headers: map[string]string{"Location": "/login"}},
			{name: "htmx without login", req: request{method: "GET", path: "/runs", headers: htmx},
				status: 401, headers: map[string]string{"HX-Redirect": "/login"}},
			{name: "templates", req: request{method: "GET", path: "/templates", browser: viewer},
				status: 200, contains: []string{"No templates yet", `aria-current="page"`, `data-testid="templates-empty"`}},
			{name: "runs", req: request{method: "GET", path: "/runs", browser: viewer},
				status: 200, contains: []string{"No runs yet"}},
			{name: "approvals", req: request{method: "GET", path: "/approvals", browser: viewer},
				status: 200, contains: []string{"Nothing to review"}},
			{name: "analytics", req: request{method: "GET", path: "/analytics", browser: viewer},
				status: 200, contains: []string{"No data yet"}},
			{name: "htmx fragment", req: request{method: "GET", path: "/analytics", browser: viewer, headers: htmx},
				status: 200, contains: []string{"No data yet"}, notContains: []string{"<html", `data-testid="nav"`}},
			{name: "settings as viewer", req: request{method: "GET", path: "/settings", browser: viewer},
				status: 200, contains: []string{`data-testid="tokens"`, `data-testid="token-row"`, `data-testid="token-revoke"`}, notContains: []string{`data-testid="users"`}},
			{name: "settings as admin", req: request{method: "GET", path: "/settings", browser: admin},
				status: 200, contains: []string{`data-testid="users"`, `id="user-victor"`, ">admin<", ">viewer<"}},
			{name: "create a token with htmx", req: request{method: "POST", path: "/settings/tokens", browser: viewer, headers: htmx,
				body: "name=laptop", contentType: form},
				status: 201, contains: []string{`id="tokens"`, `data-testid="new-token-value">bt_`, "laptop"}, notContains: []string{"<html"}},
			{name: "create a token without a name", req: request{method: "POST", path: "/settings/tokens", browser: viewer, headers: htmx,
				body: "name=", contentType: form},
				status: 422, contains: []string{`data-testid="error-fragment"`, "is required"}, headers: map[string]string{"HX-Retarget": "#flash"}},
			{name: "revoke a token with htmx", req: request{method: "POST", path: "/settings/tokens/1/revoke", browser: admin, headers: htmx, contentType: form},
				status: 200, contains: []string{`id="tokens"`}},
			{name: "revoke a token of another user", req: request{method: "POST", path: "/settings/tokens/1/revoke", browser: viewer, headers: htmx, contentType: form},
				status: 404, contains: []string{"no token with id 1"}},
			{name: "unknown page", req: request{method: "GET", path: "/nowhere", browser: viewer},
				status: 404, contains: []string{"Page not found", `data-testid="request-id"`, `data-testid="nav"`}},
			{name: "admin API from a page session", req: request{method: "GET", path: "/api/v1/users", browser: viewer},
				status: 403},
			{name: "JSON client on a page URL", req: request{method: "GET", path: "/nowhere", headers: map[string]string{"Accept": "application/json"}},
				status: 404, contains: []string{`"code":"not_found"`}},
		} {
			b.run(t, sc)
		}
	})
}

func TestStaticAssets(t *testing.T) {
	t.Parallel()
	b := setup(t, openSQLite)
	page := b.do(t, request{method: "GET", path: "/login"})
	urls := regexp.MustCompile(`(?:href|src)="(/static/[^"]+)"`).FindAllStringSubmatch(page.body, -1)
	if len(urls) != 5 {
		t.Fatalf("login page links %d assets; want 5 (icon, css, htmx, sse, app.js):\n%s", len(urls), page.body)
	}
	for _, m := range urls {
		u := strings.ReplaceAll(m[1], "&amp;", "&")
		if !strings.Contains(u, "?v=") {
			t.Errorf("asset URL %q has no version", u)
		}
		got := b.do(t, request{method: "GET", path: u})
		etag := got.res.Header.Get("ETag")
		if got.status != 200 || got.res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || etag == "" || len(got.body) == 0 {
			t.Errorf("GET %s = %d, Cache-Control %q, ETag %q, %d bytes; want 200, immutable, an ETag, a body",
				u, got.status, got.res.Header.Get("Cache-Control"), etag, len(got.body))
		}
		again := b.do(t, request{method: "GET", path: u, headers: map[string]string{"If-None-Match": etag}})
		if again.status != http.StatusNotModified || again.body != "" {
			t.Errorf("GET %s with If-None-Match = %d with %d bytes; want 304 and no body", u, again.status, len(again.body))
		}
	}
	// The designer's layered layout is a chunk it imports by a relative,
	// content-hashed name: served, and cached forever.
	designer := b.do(t, request{method: "GET", path: "/static/designer.js"})
	chunk := regexp.MustCompile(`import\("\./(chunks/layout-[A-Z0-9]+\.js)"\)`).FindStringSubmatch(designer.body)
	if chunk == nil {
		t.Fatalf("designer.js imports no layout chunk")
	}
	got := b.do(t, request{method: "GET", path: "/static/" + chunk[1]})
	if got.status != 200 || got.res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || !strings.Contains(got.res.Header.Get("Content-Type"), "javascript") || len(got.body) < 1000 {
		t.Errorf("GET /static/%s = %d, Cache-Control %q, Content-Type %q, %d bytes; want 200, immutable, JavaScript, the chunk",
			chunk[1], got.status, got.res.Header.Get("Cache-Control"), got.res.Header.Get("Content-Type"), len(got.body))
	}
	for _, sc := range []scenario{
		{name: "unversioned asset", req: request{method: "GET", path: "/static/app.css"},
			status: 200, contains: []string{"--accent"}, headers: map[string]string{"Cache-Control": "no-cache", "Content-Type": "text/css"}},
		{name: "stale version", req: request{method: "GET", path: "/static/app.js?v=0000"},
			status: 200, headers: map[string]string{"Cache-Control": "no-cache", "Content-Type": "javascript"}},
		{name: "htmx is vendored", req: request{method: "GET", path: "/static/vendor/htmx.min.js"},
			status: 200, contains: []string{"htmx"}},
		{name: "unknown asset", req: request{method: "GET", path: "/static/nope.js"},
			status: 404},
		{name: "no Go source", req: request{method: "GET", path: "/static/static.go"},
			status: 404},
	} {
		b.run(t, sc)
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, openSQLite, options{bodyLimit: 1024})
	// fasthttp refuses the body before any handler runs, and app.Test reports
	// that as an error instead of returning the response; a real listener
	// shows what a client gets.
	base := b.listen(t)
	big := `{"id":"x","steps":[],"description":"` + strings.Repeat("x", 2048) + `"}`
	for _, c := range []struct {
		body   string
		status int
		want   []string
	}{
		{big, 413, []string{`"code":"too_large"`, "limit of 1024 bytes", `"requestId":"`}},
		{`{"steps":[]}`, 200, []string{`{"valid":true}`}},
	} {
		req, err := http.NewRequest("POST", base+"/api/v1/validate", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+b.viewerToken)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST %d bytes: %v", len(c.body), err)
		}
		body := readBody(t, res)
		if res.StatusCode != c.status {
			t.Errorf("POST %d bytes = %d; want %d\n%s", len(c.body), res.StatusCode, c.status, body)
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("POST %d bytes: body lacks %q:\n%s", len(c.body), w, body)
			}
		}
		if res.Header.Get("X-Request-ID") == "" {
			t.Errorf("POST %d bytes: no X-Request-ID header", len(c.body))
		}
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	b := setup(t, openSQLite)
	got := b.do(t, request{method: "GET", path: "/api/v1/me", headers: map[string]string{"X-Request-ID": "trace-abc.123"}})
	if got.res.Header.Get("X-Request-ID") != "trace-abc.123" || !strings.Contains(got.body, `"requestId":"trace-abc.123"`) {
		t.Errorf("request id not echoed: header %q, body %s", got.res.Header.Get("X-Request-ID"), got.body)
	}
	if !strings.Contains(b.logs.String(), `"request_id":"trace-abc.123"`) {
		t.Errorf("log lines lack the request id:\n%s", b.logs.String())
	}
	forged := b.do(t, request{method: "GET", path: "/healthz", headers: map[string]string{"X-Request-ID": "bad id\" injected"}})
	if id := forged.res.Header.Get("X-Request-ID"); id == "" || strings.Contains(id, " ") {
		t.Errorf("unsafe request id %q kept; want a fresh one", id)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t, openSQLite)
	b.do(t, request{method: "GET", path: "/healthz"})
	b.do(t, request{method: "GET", path: "/api/v1/tokens/x/y"})
	b.do(t, request{method: "DELETE", path: "/api/v1/tokens/12345", bearer: b.viewerToken})
	b.run(t, scenario{name: "metrics", req: request{method: "GET", path: "/metrics"}, status: 200, contains: []string{
		`baton_http_requests_total{method="GET",route="/healthz",status="200"} 1`,
		`baton_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`baton_http_requests_total{method="DELETE",route="/api/v1/tokens/:id",status="404"} 1`,
		`baton_http_request_duration_seconds_bucket{method="GET",route="/healthz",status="200",le=`,
	}, notContains: []string{"12345"}})
}

func TestPanicIsRecovered(t *testing.T) {
	t.Parallel()
	b := setup(t, openSQLite)
	b.app.Get("/api/v1/boom", func() fiber.Handler {
		return func(*fiber.Ctx) error { panic("secret internal detail") }
	}())
	b.run(t, scenario{name: "panic", req: request{method: "GET", path: "/api/v1/boom"},
		status: 500, contains: []string{`"code":"internal"`, `"message":"internal error"`}, notContains: []string{"secret"}})
	if logs := b.logs.String(); !strings.Contains(logs, "secret internal detail") || !strings.Contains(logs, "goroutine") {
		t.Errorf("the panic and its stack are not in the log:\n%s", logs)
	}
}

func TestZeroDeps(t *testing.T) {
	t.Parallel()
	app := handlers.New(handlers.Deps{Log: slog.New(slog.DiscardHandler)})
	b := &bundle{app: app}
	for _, sc := range []scenario{
		{name: "health without a database", req: request{method: "GET", path: "/healthz"},
			status: 503, contains: []string{`"database":"unavailable"`}},
		{name: "login form works", req: request{method: "GET", path: "/login"},
			status: 200, contains: []string{"Sign in"}},
		{name: "API needs the database to authenticate", req: request{method: "GET", path: "/api/v1/me", bearer: "bt_" + strings.Repeat("A", 43)},
			status: 503, contains: []string{`"code":"unavailable"`, "no database is configured"}},
		{name: "metrics", req: request{method: "GET", path: "/metrics"},
			status: 200, contains: []string{"baton_http_requests_total"}},
	} {
		b.run(t, sc)
	}
}

func TestNoDefinitions(t *testing.T) {
	t.Parallel()
	b := setup(t, openSQLite, options{noDefs: true})
	b.run(t, scenario{name: "validate", req: request{method: "POST", path: "/api/v1/validate", bearer: b.viewerToken, body: `{}`},
		status: 503, contains: []string{`"code":"unavailable"`}})
	b.run(t, scenario{name: "schema", req: request{method: "GET", path: "/api/v1/schema/workflow.json", bearer: b.viewerToken},
		status: 503})
}

func TestMetricsSharedRegistry(t *testing.T) {
	t.Parallel()
	b := setup(t, openSQLite)
	// A second app on the same registry (as when cmd/baton rebuilds the app)
	// shares the collectors instead of failing to register them.
	second := &bundle{app: handlers.New(handlers.Deps{Log: slog.New(slog.DiscardHandler), Store: b.store, Registry: b.reg})}
	b.do(t, request{method: "GET", path: "/healthz"})
	second.do(t, request{method: "GET", path: "/healthz"})
	b.run(t, scenario{name: "both apps counted", req: request{method: "GET", path: "/metrics"}, status: 200,
		contains: []string{`baton_http_requests_total{method="GET",route="/healthz",status="200"} 2`}})
}

func TestRequestContext(t *testing.T) {
	t.Parallel()
	b := setup(t, openSQLite, options{timeout: 20 * time.Millisecond})
	// The handler waits for its context, which must end at the request
	// timeout; the client is told to try again, not shown an internal error.
	b.app.Get("/api/v1/wait", func(c *fiber.Ctx) error {
		<-c.UserContext().Done()
		return fmt.Errorf("wait: %w", c.UserContext().Err())
	})
	b.app.Get("/api/v1/cancelled", func(*fiber.Ctx) error { return fmt.Errorf("stop: %w", context.Canceled) })
	b.run(t, scenario{name: "deadline", req: request{method: "GET", path: "/api/v1/wait"},
		status: 503, contains: []string{`"code":"unavailable"`, "took too long"}})
	b.run(t, scenario{name: "shutdown", req: request{method: "GET", path: "/api/v1/cancelled"},
		status: 503, contains: []string{"shutting down"}})
}
