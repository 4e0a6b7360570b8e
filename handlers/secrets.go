package handlers

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/models"
)

// Secrets: admins write them, designers list their names to use them as
// {{ secrets.NAME }}; no endpoint ever answers with a value (the
// models.StoredSecret type has no field for it).
func (s *server) secretRoutes() []route {
	return []route{
		{fiber.MethodGet, "/api/v1/secrets", models.RoleDesigner, s.listSecrets},
		{fiber.MethodPost, "/api/v1/secrets", models.RoleAdmin, s.createSecret},
		{fiber.MethodPut, "/api/v1/secrets/:name", models.RoleAdmin, s.rotateSecret},
		{fiber.MethodDelete, "/api/v1/secrets/:name", models.RoleAdmin, s.deleteSecret},
	}
}

// SecretStore keeps secrets sealed; *store.Store satisfies it. Each write
// audits itself as by from ip.
type SecretStore interface {
	CreateSecret(ctx context.Context, sec *models.StoredSecret, value, by, ip string) error
	RotateSecret(ctx context.Context, name, value string, desc *string, by, ip string) (*models.StoredSecret, error)
	DeleteSecret(ctx context.Context, name, by, ip string) error
	ListSecrets(ctx context.Context, limit int, after string) ([]models.StoredSecret, error)
	MissingSecrets(ctx context.Context, names []string) ([]string, error)
}

func (s *server) secrets() (SecretStore, error) {
	if s.deps.Secrets == nil {
		return nil, models.Errorf(models.Unavailable, "secrets are not available in this server")
	}
	return s.deps.Secrets, nil
}

// secretList is GET /api/v1/secrets: a page by name; next is the cursor
// (?after=) of the following page, empty on the last.
type secretList struct {
	Secrets []models.StoredSecret `json:"secrets"`
	Next    string                `json:"next,omitempty"`
}

func (s *server) listSecrets(c *fiber.Ctx) error {
	ss, err := s.secrets()
	if err != nil {
		return err
	}
	limit := c.QueryInt("limit", 100)
	if limit < 1 || limit > 1000 {
		return models.Errorf(models.BadRequest, "limit must be between 1 and 1000, not %d", limit)
	}
	list, err := ss.ListSecrets(c.UserContext(), limit, c.Query("after"))
	if err != nil {
		return err
	}
	out := secretList{Secrets: list}
	if out.Secrets == nil {
		out.Secrets = []models.StoredSecret{}
	}
	if len(list) == limit {
		out.Next = list[len(list)-1].Name
	}
	return c.JSON(out)
}

type secretIn struct {
	Name        string  `json:"name"`
	Value       *string `json:"value"`
	Description *string `json:"description"`
}

func (s *server) createSecret(c *fiber.Ctx) error {
	ss, err := s.secrets()
	if err != nil {
		return err
	}
	var in secretIn
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if in.Value == nil {
		return models.Errorf(models.Invalid, "a secret needs a value")
	}
	sec := &models.StoredSecret{Name: in.Name}
	if in.Description != nil {
		sec.Description = *in.Description
	}
	if err := ss.CreateSecret(c.UserContext(), sec, *in.Value, principalOf(c).user.Name, s.clientIP(c)); err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(sec)
}

func (s *server) rotateSecret(c *fiber.Ctx) error {
	ss, err := s.secrets()
	if err != nil {
		return err
	}
	var in secretIn
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if in.Value == nil {
		return models.Errorf(models.Invalid, "send the new value as {\"value\": …}")
	}
	sec, err := ss.RotateSecret(c.UserContext(), c.Params("name"), *in.Value, in.Description, principalOf(c).user.Name, s.clientIP(c))
	if err != nil {
		return err
	}
	return c.JSON(sec)
}

func (s *server) deleteSecret(c *fiber.Ctx) error {
	ss, err := s.secrets()
	if err != nil {
		return err
	}
	if err := ss.DeleteSecret(c.UserContext(), c.Params("name"), principalOf(c).user.Name, s.clientIP(c)); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// secretProblems names each {{ secrets.NAME }} of a definition that no
// stored secret answers, e.g. after DELETE /api/v1/secrets/NAME. Without a
// secrets store it finds none: the run would then fail on the step.
func (s *server) secretProblems(ctx context.Context, def []byte) ([]models.Problem, error) {
	refs := models.SecretRefs(def)
	if s.deps.Secrets == nil || len(refs) == 0 {
		return nil, nil
	}
	missing, err := s.deps.Secrets.MissingSecrets(ctx, refs)
	if err != nil {
		return nil, err
	}
	ps := make([]models.Problem, 0, len(missing))
	for _, n := range missing {
		ps = append(ps, models.Problem{Path: "secrets." + n,
			Message: fmt.Sprintf("no secret named %q exists: an admin creates it under Secrets (or with baton secret set %s)", n, n)})
	}
	return ps, nil
}
