package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/handlers"
	"github.com/baton-run/baton/handlers/auth"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/baton-run/baton/models/store/storetest"
)

// fakeDefinitions stands in for plan.Compiler: JSON or YAML syntax is
// checked for real (JSON only), and a definition without "steps" is invalid.
type fakeDefinitions struct{}

func (fakeDefinitions) Check(body []byte, contentType string) error {
	if contentType == "application/yaml" {
		if !bytes.Contains(body, []byte("steps:")) {
			return models.Problems("invalid definition", []models.Problem{{Path: "steps", Message: "is required"}})
		}
		return nil
	}
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		return models.Errorf(models.BadRequest, "syntax error: %v", err)
	}
	if _, ok := v["steps"]; !ok {
		return models.Problems("invalid definition", []models.Problem{{Path: "steps", Message: "is required"}})
	}
	return nil
}

func (fakeDefinitions) InputTypes() []string { return plan.InputTypes() }

func (fakeDefinitions) JSONSchema() []byte { return []byte(`{"$id":"workflow.json","type":"object"}`) }

// bundle is one app on one fresh database, with users and credentials.
type bundle struct {
	app   *fiber.App
	store *store.Store
	clock *clockwork.FakeClock // Deps.Now
	logs  *syncBuffer
	reg   *prometheus.Registry

	admin, viewer *models.User
	adminToken    string // bearer token of admin
	viewerToken   string // bearer token of viewer
}

const testPassword = "correct horse battery"

type options struct {
	bodyLimit int
	noDefs    bool
	timeout   time.Duration
	alerting  handlers.Alerting
}

func setup(t testing.TB, open func(testing.TB) *store.Store, opts ...options) *bundle {
	t.Helper()
	var o options
	if len(opts) > 0 {
		o = opts[0]
	}
	st := open(t)
	b := &bundle{
		store: st,
		clock: clockwork.NewFakeClockAt(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)),
		logs:  &syncBuffer{},
		reg:   prometheus.NewRegistry(),
	}
	deps := handlers.Deps{
		Log:            slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Store:          st,
		Registry:       b.reg,
		BodyLimit:      o.bodyLimit,
		RequestTimeout: o.timeout,
		Now:            b.clock.Now,
		Version:        "test-1",
	}
	// Every test store has a secrets key, so the secret routes work.
	if err := st.UseSecretsKey([]byte("0123456789abcdef0123456789abcdef")); err != nil {
		t.Fatal(err)
	}
	deps.Secrets = st
	deps.Alerts = st
	if o.alerting != nil {
		deps.Alerting = o.alerting
		deps.Templates = st // approver notices follow a submit
	}
	deps.Insight = st
	if !o.noDefs {
		deps.Definitions = fakeDefinitions{}
	}
	b.app = handlers.New(deps)
	b.admin = b.user(t, "alice", models.RoleAdmin)
	b.viewer = b.user(t, "victor", models.RoleViewer)
	b.adminToken = b.token(t, b.admin)
	b.viewerToken = b.token(t, b.viewer)
	return b
}

// user creates a user with testPassword.
func (b *bundle) user(t testing.TB, name string, roles ...models.Role) *models.User {
	t.Helper()
	// The lowest bcrypt cost keeps the many logins of these tests fast (under
	// -race, the default cost takes most of a second); CheckPassword accepts
	// any cost, so the login path is the same.
	hash, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	u := &models.User{Name: name, PasswordHash: string(hash), Roles: roles}
	if err := b.store.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("CreateUser(%s): %v", name, err)
	}
	return u
}

// token creates an API token for u, as `baton token create` does.
func (b *bundle) token(t testing.TB, u *models.User) string {
	t.Helper()
	plain, hash, prefix, err := auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.store.CreateToken(context.Background(), &models.APIToken{UserID: u.ID, Name: "test", Hash: hash, Prefix: prefix}); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	return plain
}

// browser is a signed-in session: its cookie and its CSRF token.
type browser struct {
	cookie string
	csrf   string
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// login signs in through the form, as a browser does, and reads the
// session's CSRF token from the settings page.
func (b *bundle) login(t testing.TB, name, password string) *browser {
	t.Helper()
	res := b.postLogin(t, name, password, "")
	if res.status != http.StatusSeeOther {
		t.Fatalf("POST /login as %s = %d; want 303\n%s", name, res.status, res.body)
	}
	var cookie string
	for _, c := range res.res.Cookies() {
		if c.Name == "baton_session" && c.Value != "" {
			cookie = c.Value
		}
	}
	if cookie == "" {
		t.Fatalf("POST /login set no session cookie: %v", res.res.Header["Set-Cookie"])
	}
	br := &browser{cookie: cookie}
	page := b.do(t, request{method: "GET", path: "/settings", browser: br})
	m := csrfField.FindStringSubmatch(page.body)
	if page.status != 200 || m == nil {
		t.Fatalf("GET /settings after login = %d, no CSRF token in\n%s", page.status, page.body)
	}
	br.csrf = m[1]
	return br
}

// postLogin fetches the login form (for its CSRF cookie) and posts it.
func (b *bundle) postLogin(t testing.TB, name, password, next string) response {
	t.Helper()
	form := b.do(t, request{method: "GET", path: "/login"})
	m := csrfField.FindStringSubmatch(form.body)
	if form.status != 200 || m == nil {
		t.Fatalf("GET /login = %d without a form token:\n%s", form.status, form.body)
	}
	var loginCookie string
	for _, c := range form.res.Cookies() {
		if c.Name == "baton_login_csrf" {
			loginCookie = c.Value
		}
	}
	vals := url.Values{"username": {name}, "password": {password}, "_csrf": {m[1]}, "next": {next}}
	req := httptest.NewRequest("POST", "/login", strings.NewReader(vals.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "baton_login_csrf", Value: loginCookie})
	res, err := b.app.Test(req, -1)
	if err != nil {
		t.Fatalf("POST /login: %v", err)
	}
	return response{res: res, status: res.StatusCode, body: readBody(t, res)}
}

// request is one HTTP request for do.
type request struct {
	method, path string
	body         string
	contentType  string
	bearer       string
	browser      *browser
	noCSRF       bool // send the session cookie but not the CSRF token
	headers      map[string]string
}

// response is what do returns.
type response struct {
	res    *http.Response
	status int
	body   string
}

func (b *bundle) do(t testing.TB, r request) response {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req := httptest.NewRequest(r.method, r.path, body)
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	} else if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+r.bearer)
	}
	if r.browser != nil {
		req.AddCookie(&http.Cookie{Name: "baton_session", Value: r.browser.cookie})
		if !r.noCSRF && r.method != "GET" {
			req.Header.Set("X-CSRF-Token", r.browser.csrf)
		}
	}
	for k, v := range r.headers {
		req.Header.Set(k, v)
	}
	res, err := b.app.Test(req, -1)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	return response{res: res, status: res.StatusCode, body: readBody(t, res)}
}

func readBody(t testing.TB, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if err := res.Body.Close(); err != nil {
		t.Fatalf("close body: %v", err)
	}
	return string(b)
}

// scenario is one row of a table test: a request and what must (not) be in
// its answer.
type scenario struct {
	name        string
	req         request
	status      int
	contains    []string
	notContains []string
	headers     map[string]string // header → substring it must contain
}

func (b *bundle) run(t *testing.T, sc scenario) {
	t.Helper()
	got := b.do(t, sc.req)
	if got.status != sc.status {
		t.Errorf("%s: %s %s = %d; want %d\n%s", sc.name, sc.req.method, sc.req.path, got.status, sc.status, got.body)
	}
	for _, s := range sc.contains {
		if !strings.Contains(got.body, s) {
			t.Errorf("%s: body does not contain %q:\n%s", sc.name, s, got.body)
		}
	}
	for _, s := range sc.notContains {
		if strings.Contains(got.body, s) {
			t.Errorf("%s: body contains %q but must not:\n%s", sc.name, s, got.body)
		}
	}
	for h, want := range sc.headers {
		if v := got.res.Header.Get(h); !strings.Contains(v, want) {
			t.Errorf("%s: header %s = %q; want it to contain %q", sc.name, h, v, want)
		}
	}
}

// forEachDB runs fn on SQLite, and on PostgreSQL when configured.
func forEachDB(t *testing.T, fn func(t *testing.T, open func(testing.TB) *store.Store)) {
	t.Helper()
	for _, db := range storetest.Databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, db.Open)
		})
	}
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func openSQLite(t testing.TB) *store.Store { return storetest.OpenSQLite(t) }

// listen serves the app on a loopback port until the test ends and returns
// its base URL.
func (b *bundle) listen(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- b.app.Listener(ln) }()
	t.Cleanup(func() {
		if err := b.app.ShutdownWithTimeout(5 * time.Second); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}
