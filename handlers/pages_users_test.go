package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/baton-run/baton/views"
)

const formType = "application/x-www-form-urlencoded"

// postForm posts a form as a browser without JavaScript does: the CSRF
// token travels in the _csrf field, not in a header.
func (b *bundle) postForm(t *testing.T, br *browser, path string, vals url.Values) response {
	t.Helper()
	vals.Set("_csrf", br.csrf)
	return b.do(t, request{method: "POST", path: path, browser: br, noCSRF: true, body: vals.Encode(), contentType: formType})
}

// auditActions lists "action target" of every audit entry.
func (b *bundle) auditActions(t *testing.T) []string {
	t.Helper()
	entries, err := b.store.ListAudit(context.Background(), 500, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Action+" "+e.Target+" by "+e.Actor)
	}
	return out
}

func hasEntry(entries []string, want string) bool {
	for _, e := range entries {
		if e == want {
			return true
		}
	}
	return false
}

func TestUsersPageAccess(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		b := setup(t, open)
		admin := b.login(t, "alice", testPassword)
		viewer := b.login(t, "victor", testPassword)
		for _, sc := range []scenario{
			{name: "admin sees the users page", req: request{method: "GET", path: "/settings/users", browser: admin},
				status: 200, contains: []string{
					`data-testid="user-add"`, `data-testid="user-row-alice"`, `data-testid="user-row-victor"`, "2 users",
					// Every role says what it allows, so choosing needs no docs.
					"approves or rejects versions in review", `data-testid="role-add-approver"`,
					`data-testid="user-password-victor"`, "(you)",
				}},
			{name: "admin sees the link on settings", req: request{method: "GET", path: "/settings", browser: admin},
				status: 200, contains: []string{`data-testid="manage-users"`, `href="/settings/users"`}},
			{name: "viewer does not see the link", req: request{method: "GET", path: "/settings", browser: viewer},
				status: 200, notContains: []string{"/settings/users", `data-testid="manage-users"`}},
			{name: "viewer is refused the page", req: request{method: "GET", path: "/settings/users", browser: viewer},
				status: 403, contains: []string{"this needs the admin role"}, notContains: []string{`data-testid="user-add"`}},
			{name: "viewer cannot add", req: request{method: "POST", path: "/settings/users", browser: viewer, contentType: formType,
				body: "name=mallory&password=long+enough+pw&roles=admin"}, status: 403},
			{name: "viewer cannot change roles", req: request{method: "POST", path: "/settings/users/victor/roles", browser: viewer, contentType: formType,
				body: "roles=admin"}, status: 403},
			{name: "viewer cannot set a password", req: request{method: "POST", path: "/settings/users/alice/password", browser: viewer, contentType: formType,
				body: "password=long+enough+pw"}, status: 403},
			{name: "a form without its CSRF token is refused", req: request{method: "POST", path: "/settings/users", browser: admin, noCSRF: true,
				contentType: formType, body: "name=mallory&password=long+enough+pw&roles=admin"}, status: 403, contains: []string{"CSRF"}},
			{name: "signed out goes to the login page", req: request{method: "GET", path: "/settings/users"},
				status: 303, headers: map[string]string{"Location": "/login?next="}},
		} {
			b.run(t, sc)
		}
		if _, err := b.store.UserByName(context.Background(), "mallory"); models.ErrorCode(err) != models.NotFound {
			t.Errorf("a refused add created the user anyway: %v", err)
		}
	})
}

func TestUsersPageAdd(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		b := setup(t, open)
		admin := b.login(t, "alice", testPassword)

		res := b.postForm(t, admin, "/settings/users", url.Values{"name": {"reviewer"}, "password": {"reviewer password"}, "roles": {"approver", "operator"}})
		if res.status != http.StatusSeeOther || !strings.HasPrefix(res.res.Header.Get("Location"), "/settings/users?done=added&user=reviewer") {
			t.Fatalf("add = %d to %q; want 303 to the users page\n%s", res.status, res.res.Header.Get("Location"), res.body)
		}
		u, err := b.store.UserByName(context.Background(), "reviewer")
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(u.Roles) != "[approver operator]" {
			t.Errorf("roles = %v; want [approver operator]", u.Roles)
		}
		if !hasEntry(b.auditActions(t), "user_created reviewer by alice") {
			t.Errorf("no audit entry for the new user: %v", b.auditActions(t))
		}
		// The new user can sign in with the password the admin chose.
		b.login(t, "reviewer", "reviewer password")
		b.run(t, scenario{name: "the page after the redirect says what happened",
			req:    request{method: "GET", path: res.res.Header.Get("Location"), browser: admin},
			status: 200, contains: []string{`data-testid="users-notice"`, "Added reviewer.", `class="highlight"`}})
		b.run(t, scenario{name: "a notice never names a user that does not exist",
			req:    request{method: "GET", path: "/settings/users?done=added&user=Pay+now", browser: admin},
			status: 200, notContains: []string{`data-testid="users-notice"`, "Pay now"}})

		// Each problem is shown under its own field; what was typed stays,
		// except the password.
		res = b.postForm(t, admin, "/settings/users", url.Values{"name": {"bad name!"}, "password": {"short"}})
		if res.status != http.StatusUnprocessableEntity {
			t.Fatalf("invalid add = %d; want 422\n%s", res.status, res.body)
		}
		for _, want := range []string{
			`data-testid="user-add-error-name" role="alert">must be 1 to 64 letters`,
			`data-testid="user-add-error-password" role="alert">`,
			`data-testid="roles-error-add" role="alert">at least one role is required`,
			`value="bad name!"`, `aria-invalid="true"`,
		} {
			if !strings.Contains(res.body, want) {
				t.Errorf("invalid add: the page lacks %q\n%s", want, res.body)
			}
		}
		if strings.Contains(res.body, `value="short"`) {
			t.Error("the refused password is echoed back into the page")
		}
		// A duplicate name is a problem with the name field.
		res = b.postForm(t, admin, "/settings/users", url.Values{"name": {"victor"}, "password": {"long enough pw"}, "roles": {"viewer"}})
		if res.status != http.StatusConflict || !strings.Contains(res.body, `data-testid="user-add-error-name" role="alert">user &#34;victor&#34; already exists`) {
			t.Errorf("duplicate add = %d; want 409 with the error under the name\n%s", res.status, res.body)
		}
		// An unknown role sent by a tampered form is refused under the roles.
		res = b.postForm(t, admin, "/settings/users", url.Values{"name": {"eve"}, "password": {"long enough pw"}, "roles": {"root"}})
		if res.status != http.StatusUnprocessableEntity || !strings.Contains(res.body, `data-testid="roles-error-add" role="alert">unknown role`) {
			t.Errorf("unknown role = %d; want 422 under the roles\n%s", res.status, res.body)
		}
	})
}

func TestUsersPageRolesAndPassword(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		b := setup(t, open)
		admin := b.login(t, "alice", testPassword)

		res := b.postForm(t, admin, "/settings/users/victor/roles", url.Values{"roles": {"approver", "designer"}})
		if res.status != http.StatusSeeOther {
			t.Fatalf("change roles = %d; want 303\n%s", res.status, res.body)
		}
		u, err := b.store.UserByName(context.Background(), "victor")
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(u.Roles) != "[approver designer]" {
			t.Errorf("roles = %v; want [approver designer]", u.Roles)
		}
		if !hasEntry(b.auditActions(t), "roles_changed victor by alice") {
			t.Errorf("no audit entry for the roles: %v", b.auditActions(t))
		}

		// Refusals open the row they belong to and say why there.
		res = b.postForm(t, admin, "/settings/users/alice/roles", url.Values{"roles": {"viewer"}})
		if res.status != http.StatusConflict || !strings.Contains(res.body, `data-testid="roles-error-edit-alice" role="alert">you cannot remove your own admin role`) ||
			!strings.Contains(res.body, `class="user-edit" open data-testid="user-edit-alice"`) {
			t.Errorf("dropping one's own admin role = %d; want 409 in alice's open row\n%s", res.status, res.body)
		}
		res = b.postForm(t, admin, "/settings/users/victor/roles", url.Values{})
		if res.status != http.StatusUnprocessableEntity || !strings.Contains(res.body, `data-testid="roles-error-edit-victor" role="alert">at least one role`) {
			t.Errorf("no roles = %d; want 422 in victor's row\n%s", res.status, res.body)
		}
		b.run(t, scenario{name: "roles of a user who does not exist",
			req: request{method: "POST", path: "/settings/users/nobody/roles", browser: admin, contentType: formType, body: "roles=viewer"}, status: 404})

		// A password reset lets the user in with the new password only,
		// and signs out the browser that used the old one.
		victor := b.login(t, "victor", testPassword)
		res = b.postForm(t, admin, "/settings/users/victor/password", url.Values{"password": {"a brand new password"}})
		if res.status != http.StatusSeeOther {
			t.Fatalf("set password = %d; want 303\n%s", res.status, res.body)
		}
		if got := b.postLogin(t, "victor", testPassword, ""); got.status != http.StatusUnauthorized {
			t.Errorf("the old password still signs in: %d", got.status)
		}
		b.run(t, scenario{name: "a session signed in with the old password is over",
			req: request{method: "GET", path: "/settings", browser: victor}, status: 303, headers: map[string]string{"Location": "/login"}})
		b.login(t, "victor", "a brand new password")
		entries := b.auditActions(t)
		if !hasEntry(entries, "password_changed victor by alice") {
			t.Errorf("no audit entry for the password: %v", entries)
		}
		for _, e := range entries {
			if strings.Contains(e, "brand new") {
				t.Errorf("the password reached the audit log: %q", e)
			}
		}
		res = b.postForm(t, admin, "/settings/users/victor/password", url.Values{"password": {"short"}})
		if res.status != http.StatusUnprocessableEntity || !strings.Contains(res.body, `data-testid="user-password-error-victor" role="alert">`) ||
			!strings.Contains(res.body, `class="user-edit" open data-testid="user-edit-victor"`) {
			t.Errorf("short password = %d; want 422 in victor's open row\n%s", res.status, res.body)
		}
	})
}

func TestUsersPagePages(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		b := setup(t, open)
		// alice, victor and 30 more: two pages of 25.
		for i := range 30 {
			b.user(t, fmt.Sprintf("user%02d", i), models.RoleViewer)
		}
		admin := b.login(t, "alice", testPassword)
		first := b.do(t, request{method: "GET", path: "/settings/users", browser: admin})
		second := b.do(t, request{method: "GET", path: "/settings/users?page=2", browser: admin})
		if n := strings.Count(first.body, `data-testid="user-row-`); n != 25 {
			t.Errorf("page 1 lists %d users; want 25", n)
		}
		if n := strings.Count(second.body, `data-testid="user-row-`); n != 7 {
			t.Errorf("page 2 lists %d users; want 7", n)
		}
		for _, want := range []string{"32 users", "Page 1 of 2", `href="/settings/users?page=2"`} {
			if !strings.Contains(first.body, want) {
				t.Errorf("page 1 lacks %q", want)
			}
		}
		if !strings.Contains(second.body, `data-testid="user-row-victor"`) || !strings.Contains(second.body, `href="/settings/users?page=1"`) {
			t.Errorf("page 2 does not end with victor and link back:\n%s", second.body)
		}
		// After changing a user on page 2, the redirect shows page 2.
		res := b.postForm(t, admin, "/settings/users/victor/roles", url.Values{"roles": {"operator"}})
		after := b.do(t, request{method: "GET", path: res.res.Header.Get("Location"), browser: admin})
		if !strings.Contains(after.body, "Page 2 of 2") || !strings.Contains(after.body, "Changed the roles of victor.") {
			t.Errorf("after the change the page is not the one holding victor:\n%s", after.body)
		}
	})
}

// TestRoleChoicesCoverEveryRole keeps the users page's role list in step
// with models.Roles.
func TestRoleChoicesCoverEveryRole(t *testing.T) {
	t.Parallel()
	var names []models.Role
	for _, c := range views.RoleChoices {
		names = append(names, models.Role(c.Name))
	}
	if fmt.Sprint(names) != fmt.Sprint(models.Roles) {
		t.Errorf("views.RoleChoices = %v; models.Roles = %v", names, models.Roles)
	}
}

// TestReviewPagesPointToUsers: an admin who cannot approve their own
// version is shown where to add the second person, and a decided version
// offers a way on instead of disabled buttons.
func TestReviewPagesPointToUsers(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f := newFlow(t, open)
		alice := f.login(t, "alice", testPassword)
		ann := f.login(t, "ann", testPassword)
		f.call(t, "POST", "/api/v1/templates", f.adminToken, strings.Replace(gateDef, `"gate"`, `"solo"`, 1), 201)
		f.call(t, "POST", "/api/v1/templates/solo/versions/1/submit", f.adminToken, "", 200)

		f.page(t, alice, "/approvals", 200, `data-testid="approvals-add-reviewer"`, `href="/settings/users"`)
		f.page(t, alice, "/approvals/solo/1", 200, `data-testid="review-add-reviewer"`, "You wrote or edited this version")
		f.page(t, alice, "/templates/solo", 200, "needs 1 approval<", `v1 is waiting in <a href="/approvals/solo/1">review</a>`)
		if body := f.page(t, ann, "/approvals/solo/1", 200); strings.Contains(body, "review-add-reviewer") {
			t.Error("a reviewer who is not an admin is sent to the users page")
		}

		f.call(t, "POST", "/api/v1/templates/solo/versions/1/approve", f.approver, `{"comment":"fine"}`, 200)
		page := f.page(t, alice, "/approvals/solo/1", 200, `data-testid="review-open-template"`, `href="/runs/start?template=solo"`)
		if strings.Contains(page, `data-testid="review-approve"`) {
			t.Error("a decided version still shows the approve button")
		}
		// ann approves but does not run: no run button for her.
		if body := f.page(t, ann, "/approvals/solo/1", 200, `data-testid="review-open-template"`); strings.Contains(body, "review-start-run") {
			t.Error("someone who may not start runs is offered to start one")
		}
		if body := f.page(t, alice, "/templates/solo", 200); strings.Contains(body, `data-testid="template-not-approved"`) {
			t.Error("an approved template still says no version is approved")
		}
	})
}
