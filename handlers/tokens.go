package handlers

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/handlers/auth"
	"github.com/baton-run/baton/models"
)

func (s *server) tokenRoutes() []route {
	return []route{
		{fiber.MethodGet, "/api/v1/tokens", models.RoleViewer, s.listTokens},
		{fiber.MethodPost, "/api/v1/tokens", models.RoleViewer, s.createTokenAPI},
		{fiber.MethodDelete, "/api/v1/tokens/:id", models.RoleViewer, s.revokeTokenAPI},
	}
}

// maxTokenName bounds a token's label.
const maxTokenName = 100

// tokenList is GET /api/v1/tokens: the caller's tokens, newest first,
// revoked ones included.
type tokenList struct {
	Tokens []models.APIToken `json:"tokens"`
}

// createdToken is a new token with its plain value, which is never shown again.
type createdToken struct {
	models.APIToken
	Token string `json:"token"`
}

func (s *server) listTokens(c *fiber.Ctx) error {
	toks, err := s.store.ListTokens(c.UserContext(), principalOf(c).user.ID)
	if err != nil {
		return err
	}
	if toks == nil {
		toks = []models.APIToken{}
	}
	return c.JSON(tokenList{Tokens: toks})
}

func (s *server) createTokenAPI(c *fiber.Ctx) error {
	var in struct {
		Name      string   `json:"name"`
		RateLimit *float64 `json:"rateLimit"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	tok, plain, err := s.createToken(c, in.Name, in.RateLimit)
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(createdToken{APIToken: *tok, Token: plain})
}

func (s *server) revokeTokenAPI(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if err := s.revokeToken(c, id); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// createToken makes a token for the caller; the API and the settings page share it.
// rate is the token's own rate limit (nil: the server's default).
func (s *server) createToken(c *fiber.Ctx, name string, rate *float64) (*models.APIToken, string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, "", models.Problems("invalid token", []models.Problem{{Path: "name", Message: "is required"}})
	}
	if utf8.RuneCountInString(name) > maxTokenName {
		return nil, "", models.Problems("invalid token", []models.Problem{{Path: "name", Message: "must have at most 100 characters"}})
	}
	if rate != nil && *rate < 0 {
		return nil, "", models.Problems("invalid token", []models.Problem{{Path: "rateLimit", Message: "must be 0 (unlimited) or more requests per second"}})
	}
	p := principalOf(c)
	plain, hash, prefix, err := auth.NewToken()
	if err != nil {
		return nil, "", err
	}
	tok := &models.APIToken{UserID: p.user.ID, Name: name, Hash: hash, Prefix: prefix, CreatedAt: s.now(), RateLimit: rate}
	if err := s.store.CreateToken(c.UserContext(), tok); err != nil {
		return nil, "", err
	}
	s.audit(c, p.user.Name, models.AuditTokenCreated, p.user.Name, map[string]any{"token": tok.ID, "name": name, "prefix": prefix, "rateLimit": rate})
	return tok, plain, nil
}

// revokeToken revokes one of the caller's tokens; an admin may revoke anyone's.
// Someone else's token answers NotFound, so ids do not reveal which exist.
func (s *server) revokeToken(c *fiber.Ctx, id int64) error {
	p := principalOf(c)
	ctx := c.UserContext()
	tok, err := s.store.TokenByID(ctx, id)
	if err != nil {
		return err
	}
	if tok.UserID != p.user.ID && !p.user.Can(models.RoleAdmin) {
		return models.Errorf(models.NotFound, "no token with id %d", id)
	}
	if tok.RevokedAt != nil {
		return nil // already revoked: the caller's wish holds
	}
	if err := s.store.RevokeToken(ctx, id, s.now()); err != nil {
		return err
	}
	s.tokens.forgetToken(id)
	detail := map[string]any{"token": id, "name": tok.Name, "owner": tok.UserID}
	s.audit(c, p.user.Name, models.AuditTokenRevoked, tok.Prefix, detail)
	return nil
}
