package views_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"

	"github.com/baton-run/baton/views"
)

func render(t *testing.T, c templ.Component) string {
	t.Helper()
	var sb strings.Builder
	if err := c.Render(context.Background(), &sb); err != nil {
		t.Fatalf("Render: %v", err)
	}
	return sb.String()
}

func TestLayout(t *testing.T) {
	t.Parallel()
	assets := views.Assets{CSS: "/static/app.css?v=1", HTMX: "/static/vendor/htmx.min.js?v=2", SSE: "/static/vendor/htmx-ext-sse.min.js?v=3", JS: "/static/app.js?v=4"}
	body := views.Empty(views.EmptyView{Key: "runs", Heading: "Runs", Message: "No runs yet", Hint: "run one"})
	cases := []struct {
		name        string
		page        views.Page
		contains    []string
		notContains []string
	}{
		{
			name:        "signed out",
			page:        views.Page{Title: "Sign in", Assets: assets, Version: "v1"},
			contains:    []string{"<title>Sign in · Baton</title>", assets.CSS, assets.HTMX, assets.SSE, assets.JS, "Baton v1", `data-testid="runs-empty"`, "run one"},
			notContains: []string{`data-testid="nav"`, `data-testid="logout"`},
		},
		{
			name: "signed in",
			page: views.Page{Title: "Runs", Active: "runs", User: &views.UserView{Name: "ann"}, CSRF: "tok\"en", Assets: assets},
			contains: []string{`data-testid="nav"`, `id="nav-runs" data-testid="nav-runs" aria-current="page"`, `data-testid="user-name">ann<`,
				`hx-headers="{&#34;X-CSRF-Token&#34;:&#34;tok\&#34;en&#34;}"`, `name="_csrf" value="tok&#34;en"`},
			notContains: []string{`id="nav-templates" data-testid="nav-templates" aria-current`},
		},
	}
	for _, c := range cases {
		got := render(t, views.Layout(c.page, body))
		for _, s := range c.contains {
			if !strings.Contains(got, s) {
				t.Errorf("%s: Layout lacks %q:\n%s", c.name, s, got)
			}
		}
		for _, s := range c.notContains {
			if strings.Contains(got, s) {
				t.Errorf("%s: Layout has %q but must not", c.name, s)
			}
		}
	}
}

func TestErrorViews(t *testing.T) {
	t.Parallel()
	v := views.ErrorView{Status: 422, Title: "Unprocessable", Message: "invalid <definition>", RequestID: "r1",
		Details: []views.Detail{{Path: "steps[0].id", Message: "is required"}, {Message: "no path"}}}
	for _, got := range []string{render(t, views.ErrorPage(v)), render(t, views.ErrorFragment(v))} {
		for _, s := range []string{"invalid &lt;definition&gt;", "<code>steps[0].id</code>:", "is required", "no path", `data-testid="request-id"`, "r1"} {
			if !strings.Contains(got, s) {
				t.Errorf("error view lacks %q:\n%s", s, got)
			}
		}
	}
}

func TestSettings(t *testing.T) {
	t.Parallel()
	v := views.SettingsView{
		Tokens: views.TokensView{
			CSRF: "c1",
			New:  &views.NewToken{Name: "ci", Plain: "bt_secret"},
			Tokens: []views.TokenRow{
				{ID: 7, Name: "ci", Prefix: "bt_abcdef", CreatedAt: "2026-11-27 10:00 UTC", LastUsed: "never"},
				{ID: 3, Name: "old", Prefix: "bt_zzzzzz", Revoked: true, RevokedAt: "2026-11-26 09:00 UTC"},
			},
		},
		IsAdmin: true,
		Users:   []views.UserRow{{Name: "ann", Roles: []string{"admin"}}, {Name: "bob", Disabled: true}},
	}
	got := render(t, views.Settings(v))
	for _, s := range []string{`data-testid="new-token-value">bt_secret<`, `hx-post="/settings/tokens/7/revoke"`, `data-testid="token-revoked">revoked 2026-11-26 09:00 UTC`,
		`id="user-ann"`, `<span class="badge">admin</span>`, "disabled", `<span class="badge">none</span>`} {
		if !strings.Contains(got, s) {
			t.Errorf("Settings lacks %q:\n%s", s, got)
		}
	}
	if strings.Contains(got, `hx-post="/settings/tokens/3/revoke"`) {
		t.Errorf("Settings offers to revoke a revoked token")
	}
	empty := render(t, views.Tokens(views.TokensView{}))
	if !strings.Contains(empty, "No API tokens yet") || strings.Contains(empty, `data-testid="new-token"`) {
		t.Errorf("empty Tokens = %s; want the empty state and no new token", empty)
	}
}

func TestFormatTime(t *testing.T) {
	t.Parallel()
	loc := time.FixedZone("X", 3600)
	if got := views.FormatTime(time.Date(2026, 1, 2, 4, 5, 59, 0, loc)); got != "2026-01-02 03:05 UTC" {
		t.Errorf("FormatTime = %q; want 2026-01-02 03:05 UTC", got)
	}
	if got := views.FormatTime(time.Time{}); got != "" {
		t.Errorf("FormatTime(zero) = %q; want empty", got)
	}
}
