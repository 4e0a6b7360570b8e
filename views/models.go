// Package views renders Baton's HTML: templ components (layout, navigation,
// login, the section pages, settings, errors) and the view-model structs that
// handlers fill. Components only format what they are given: no store, no
// engine, no logic beyond if and for.
package views

import (
	"encoding/json"
	"time"
)

// Assets are the URLs of the stylesheet and scripts, fingerprinted by the
// handlers so browsers may cache them for a long time.
type Assets struct {
	CSS  string
	Icon string
	HTMX string
	SSE  string
	JS   string
}

// UserView is the signed-in user as the layout shows them.
type UserView struct {
	Name    string
	Roles   []string
	IsAdmin bool
}

// Page is what every full page needs besides its body.
type Page struct {
	Title   string
	Active  string    // the navigation key of the current section, e.g. "runs"
	User    *UserView // nil when nobody is signed in
	CSRF    string    // the session's CSRF token; sent by htmx with every request
	Assets  Assets
	Version string
	// Waiting is how many versions wait for the signed-in approver's
	// review: a count beside Approvals in the navigation (0: none shown).
	Waiting int
}

// CSRFHeaders is the value of the body's hx-headers attribute: htmx adds these
// headers to every request it makes.
func (p Page) CSRFHeaders() string {
	b, err := json.Marshal(map[string]string{"X-CSRF-Token": p.CSRF})
	if err != nil { // a map of strings always marshals
		return "{}"
	}
	return string(b)
}

// NavItem is one entry of the main navigation.
type NavItem struct {
	Key   string
	Label string
	Href  string
}

// Nav lists the sections in the order the navigation shows them.
var Nav = []NavItem{
	{"templates", "Templates", "/templates"},
	{"runs", "Runs", "/runs"},
	{"approvals", "Approvals", "/approvals"},
	{"alerts", "Alerts", "/alerts"},
	{"analytics", "Analytics", "/analytics"},
	{"dashboard", "Dashboard", "/dashboard"},
	{"reports", "Reports", "/reports"},
	{"devices", "Devices", "/devices"},
	{"settings", "Settings", "/settings"},
}

// LoginView is the login form.
type LoginView struct {
	Username string
	Next     string // where to go after signing in; a local path
	CSRF     string // the login form's own CSRF token (there is no session yet)
	Error    string // why the last attempt failed; empty on first show
}

// HomeView is the start page after signing in.
type HomeView struct {
	UserName string
	// Reviews are the versions waiting for this user's review (approvers).
	Reviews []InboxRow
}

// EmptyView is a section that has nothing to show yet.
type EmptyView struct {
	Key     string // the section, used in ids and test ids
	Heading string
	Message string
	Hint    string
}

// TokenRow is one API token in the settings list.
type TokenRow struct {
	ID        int64
	Name      string
	Prefix    string
	CreatedAt string
	LastUsed  string // "never" when unused
	Revoked   bool
	RevokedAt string
}

// NewToken is a just-created token, shown once.
type NewToken struct {
	Name  string
	Plain string
}

// TokensView is the settings section that lists and creates API tokens.
type TokensView struct {
	Tokens []TokenRow
	New    *NewToken // set only in the answer to a create
	CSRF   string
}

// UserRow is one user in the admin's list.
type UserRow struct {
	Name      string
	Roles     []string
	CreatedAt string
	Disabled  bool
}

// SettingsView is the settings page: the user's tokens, and for admins the users.
type SettingsView struct {
	Tokens  TokensView
	IsAdmin bool
	Users   []UserRow
}

// ErrorView is an error shown as a page or as an htmx fragment.
type ErrorView struct {
	Status    int
	Title     string
	Message   string
	Details   []Detail
	RequestID string
}

// Detail is one problem listed under an error.
type Detail struct {
	Path    string
	Message string
}

// FormatTime renders t for people: UTC, to the minute.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}
