package handlers

import (
	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/models"
)

func (s *server) validateRoutes() []route {
	return []route{
		{fiber.MethodPost, "/api/v1/validate", models.RoleViewer, s.validate},
		{fiber.MethodGet, "/api/v1/schema/workflow.json", models.RoleViewer, s.schema},
	}
}

// validation is the answer for a valid definition.
type validation struct {
	Valid bool `json:"valid"`
}

func (s *server) definitions() (Definitions, error) {
	if s.deps.Definitions == nil {
		return nil, models.Errorf(models.Unavailable, "definition checking is not available in this server")
	}
	return s.deps.Definitions, nil
}

func (s *server) validate(c *fiber.Ctx) error {
	defs, err := s.definitions()
	if err != nil {
		return err
	}
	var ct string
	switch mt := mediaType(c.Get(fiber.HeaderContentType)); mt {
	case "", fiber.MIMEApplicationJSON:
		ct = fiber.MIMEApplicationJSON
	case "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml":
		ct = "application/yaml"
	default:
		return models.Errorf(models.BadRequest, "send the definition as application/json or application/yaml, not %s", mt)
	}
	if err := defs.Check(c.Body(), ct); err != nil {
		return err
	}
	ps, err := s.secretProblems(c.UserContext(), c.Body())
	if err != nil {
		return err
	}
	if len(ps) > 0 {
		return models.Problems("the definition names secrets that do not exist", ps)
	}
	return c.JSON(validation{Valid: true})
}

func (s *server) schema(c *fiber.Ctx) error {
	defs, err := s.definitions()
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "application/schema+json")
	return c.Send(defs.JSONSchema())
}
