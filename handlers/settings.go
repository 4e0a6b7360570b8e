package handlers

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/views"
)

func (s *server) settingsRoutes() []route {
	return []route{
		{fiber.MethodGet, "/settings", models.RoleViewer, s.settings},
		{fiber.MethodPost, "/settings/tokens", models.RoleViewer, s.settingsCreateToken},
		{fiber.MethodPost, "/settings/tokens/:id/revoke", models.RoleViewer, s.settingsRevokeToken},
		{fiber.MethodGet, "/settings/users", models.RoleAdmin, s.usersPage},
		{fiber.MethodPost, "/settings/users", models.RoleAdmin, s.usersPageAdd},
		{fiber.MethodPost, "/settings/users/:name/roles", models.RoleAdmin, s.usersPageRoles},
		{fiber.MethodPost, "/settings/users/:name/password", models.RoleAdmin, s.usersPagePassword},
	}
}

func (s *server) settings(c *fiber.Ctx) error {
	return s.renderSettings(c, http.StatusOK, nil)
}

func (s *server) settingsCreateToken(c *fiber.Ctx) error {
	tok, plain, err := s.createToken(c, c.FormValue("name"), nil)
	if err != nil {
		return err
	}
	return s.renderSettings(c, http.StatusCreated, &views.NewToken{Name: tok.Name, Plain: plain})
}

func (s *server) settingsRevokeToken(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if err := s.revokeToken(c, id); err != nil {
		return err
	}
	return s.renderSettings(c, http.StatusOK, nil)
}

// renderSettings answers htmx with the tokens section alone, and a plain
// form post (no JavaScript) with the whole page.
func (s *server) renderSettings(c *fiber.Ctx, status int, created *views.NewToken) error {
	tokens, err := s.tokensView(c, created)
	if err != nil {
		return err
	}
	if isHTMX(c) && c.Method() != fiber.MethodGet {
		return s.render(c, status, views.Tokens(tokens))
	}
	v := views.SettingsView{Tokens: tokens}
	if p := principalOf(c); p.user.Can(models.RoleAdmin) {
		users, err := s.store.ListUsers(c.UserContext())
		if err != nil {
			return err
		}
		v.IsAdmin = true
		for _, u := range users {
			v.Users = append(v.Users, views.UserRow{
				Name: u.Name, Roles: rolesText(u.Roles), CreatedAt: views.FormatTime(u.CreatedAt), Disabled: u.Disabled,
			})
		}
	}
	return s.page(c, status, "Settings", "settings", views.Settings(v))
}

func (s *server) tokensView(c *fiber.Ctx, created *views.NewToken) (views.TokensView, error) {
	p := principalOf(c)
	toks, err := s.store.ListTokens(c.UserContext(), p.user.ID)
	if err != nil {
		return views.TokensView{}, err
	}
	v := views.TokensView{New: created}
	if p.session != nil {
		v.CSRF = p.session.CSRFToken
	}
	for _, t := range toks {
		row := views.TokenRow{
			ID: t.ID, Name: t.Name, Prefix: t.Prefix, CreatedAt: views.FormatTime(t.CreatedAt), LastUsed: "never",
		}
		if t.LastUsedAt != nil {
			row.LastUsed = views.FormatTime(*t.LastUsedAt)
		}
		if t.RevokedAt != nil {
			row.Revoked = true
			row.RevokedAt = views.FormatTime(*t.RevokedAt)
		}
		v.Tokens = append(v.Tokens, row)
	}
	return v, nil
}

// usersPerPage is how many users one page of the users page lists.
const usersPerPage = 25

// usersPage is GET /settings/users. After a change it is reached by a
// redirect (so reloading does not repeat the change) carrying what was done
// to whom: ?done=added|roles|password&user=NAME, shown as a notice on the
// page that lists that user.
func (s *server) usersPage(c *fiber.Ctx) error {
	v := views.UsersPage{}
	page, _ := strconv.Atoi(c.Query("page"))
	done, name := c.Query("done"), c.Query("user")
	if err := s.fillUsersPage(c, &v, page, name); err != nil {
		return err
	}
	// The notice only names a user that exists, so a crafted link cannot put
	// arbitrary words on the page.
	if v.Highlight != "" {
		switch done {
		case "added":
			v.Notice = "Added " + name + ". They can sign in now with the password you chose."
		case "roles":
			v.Notice = "Changed the roles of " + name + "."
		case "password":
			v.Notice = "Set a new password for " + name + ". Tell them; it is not shown anywhere."
		default:
			v.Highlight = ""
		}
	}
	return s.page(c, http.StatusOK, "Users", "settings", views.UsersManage(v))
}

// fillUsersPage lists one page of users into v; page 0 means the page that
// holds the user called focus (the first page if there is none), and a page
// past the end is the last one.
func (s *server) fillUsersPage(c *fiber.Ctx, v *views.UsersPage, page int, focus string) error {
	users, err := s.store.ListUsers(c.UserContext())
	if err != nil {
		return err
	}
	p := principalOf(c)
	v.Self = p.user.Name
	if p.session != nil {
		v.CSRF = p.session.CSRFToken
	}
	v.CanResetPasswords = s.canResetPasswords()
	v.Total = len(users)
	v.Pages = max(1, (len(users)+usersPerPage-1)/usersPerPage)
	if i := slices.IndexFunc(users, func(u models.User) bool { return u.Name == focus }); i >= 0 {
		v.Highlight = focus
		if page <= 0 {
			page = i/usersPerPage + 1
		}
	}
	v.Page = min(max(page, 1), v.Pages)
	from := (v.Page - 1) * usersPerPage
	for _, u := range users[from:min(from+usersPerPage, len(users))] {
		v.Rows = append(v.Rows, views.UserRow{
			Name: u.Name, Roles: rolesText(u.Roles), CreatedAt: views.FormatTime(u.CreatedAt), Disabled: u.Disabled,
		})
	}
	return nil
}

// usersPageAdd is POST /settings/users. A refused user comes back on the
// same page with each problem under the field that caused it and what was
// typed kept (except the password).
func (s *server) usersPageAdd(c *fiber.Ctx) error {
	name := strings.TrimSpace(c.FormValue("name"))
	roles := formValues(c, "roles")
	u, err := s.addUser(c, name, c.FormValue("password"), roles)
	if err == nil {
		return s.usersDone(c, "added", u.Name)
	}
	fields, status, ok := fieldProblems(err, "name")
	if !ok {
		return err
	}
	v := views.UsersPage{Add: views.UserForm{Name: name, Roles: roles, Errors: fields}}
	if err := s.fillUsersPage(c, &v, 1, ""); err != nil {
		return err
	}
	return s.page(c, status, "Users", "settings", views.UsersManage(v))
}

// usersPageRoles is POST /settings/users/:name/roles.
func (s *server) usersPageRoles(c *fiber.Ctx) error {
	name := c.Params("name")
	roles := formValues(c, "roles")
	u, err := s.changeRoles(c, name, roles)
	if err == nil {
		return s.usersDone(c, "roles", u.Name)
	}
	fields, status, ok := fieldProblems(err, "roles")
	if !ok {
		return err
	}
	return s.usersEditFailed(c, status, &views.UserEdit{Name: name, Roles: roles, RolesError: fields["roles"]})
}

// usersPagePassword is POST /settings/users/:name/password.
func (s *server) usersPagePassword(c *fiber.Ctx) error {
	name := c.Params("name")
	err := s.resetPassword(c, name, c.FormValue("password"))
	if err == nil {
		return s.usersDone(c, "password", name)
	}
	fields, status, ok := fieldProblems(err, "password")
	if !ok {
		return err
	}
	return s.usersEditFailed(c, status, &views.UserEdit{Name: name, PasswordError: fields["password"]})
}

// usersEditFailed shows the users page again with the refused change open
// in the row of the user it was for.
func (s *server) usersEditFailed(c *fiber.Ctx, status int, edit *views.UserEdit) error {
	v := views.UsersPage{Edit: edit}
	if err := s.fillUsersPage(c, &v, 0, edit.Name); err != nil {
		return err
	}
	v.Highlight = ""
	return s.page(c, status, "Users", "settings", views.UsersManage(v))
}

// usersDone redirects to the users page after a change (post, redirect, get).
func (s *server) usersDone(c *fiber.Ctx, done, name string) error {
	q := url.Values{"done": {done}, "user": {name}}
	return c.Redirect("/settings/users?"+q.Encode()+"#manage-user-"+url.PathEscape(name), fiber.StatusSeeOther)
}

// fieldProblems sorts a refusal into messages per form field: a detail's
// path names its field ("roles[1]" is "roles"), and a refusal that names no
// field (a duplicate name, removing one's own admin role) belongs to
// fallback. It reports false for errors that are not the user's to fix
// (the store is down, the user is gone), which get the error page.
func fieldProblems(err error, fallback string) (map[string]string, int, bool) {
	var me *models.Error
	if !errors.As(err, &me) {
		return nil, 0, false
	}
	fields := map[string]string{}
	add := func(field, message string) {
		if fields[field] != "" {
			message = fields[field] + "; " + message
		}
		fields[field] = message
	}
	switch me.Code {
	case models.Invalid:
		for _, d := range me.Details {
			field, _, _ := strings.Cut(d.Path, "[")
			add(cmp.Or(field, fallback), d.Message)
		}
		if len(me.Details) == 0 {
			add(fallback, me.Message)
		}
		return fields, http.StatusUnprocessableEntity, true
	case models.Conflict:
		add(fallback, me.Message)
		return fields, http.StatusConflict, true
	}
	return nil, 0, false
}

// formValues is every value of a repeated form field (checkboxes).
func formValues(c *fiber.Ctx, key string) []string {
	var out []string
	for _, v := range c.Request().PostArgs().PeekMulti(key) {
		out = append(out, string(v))
	}
	return out
}
