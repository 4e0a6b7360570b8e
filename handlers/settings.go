package handlers

import (
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/views"
)

func (s *server) settingsRoutes() []route {
	return []route{
		{fiber.MethodGet, "/settings", models.RoleViewer, s.settings},
		{fiber.MethodPost, "/settings/tokens", models.RoleViewer, s.settingsCreateToken},
		{fiber.MethodPost, "/settings/tokens/:id/revoke", models.RoleViewer, s.settingsRevokeToken},
	}
}

func (s *server) settings(c *fiber.Ctx) error {
	return s.renderSettings(c, http.StatusOK, nil)
}

func (s *server) settingsCreateToken(c *fiber.Ctx) error {
	tok, plain, err := s.createToken(c, c.FormValue("name"))
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
