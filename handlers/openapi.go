package handlers

import (
	_ "embed"
	"sync"

	"github.com/goccy/go-yaml"
	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/models"
)

// openAPIYAML is the OpenAPI 3.1 document of the JSON API. It is written as
// YAML (easier to read and to merge) and served as JSON.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// openAPIJSON converts the document once; an error is a broken build, which
// TestOpenAPIServed catches before any release.
var openAPIJSON = sync.OnceValues(func() ([]byte, error) {
	return yaml.YAMLToJSON(openAPIYAML)
})

func (s *server) openAPIRoutes() []route {
	return []route{
		// The document describes the API, not its data: anyone may read it,
		// so a client generator needs no token.
		{fiber.MethodGet, "/api/v1/openapi.json", anyone, s.openAPI},
	}
}

func (s *server) openAPI(c *fiber.Ctx) error {
	doc, err := openAPIJSON()
	if err != nil {
		return models.Errorf(models.Internal, "the OpenAPI document does not parse: %v", err)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	return c.Send(doc)
}
