package plan

import (
	"slices"

	"github.com/baton-run/baton/models"
)

// Compiler is the definition language's one entry point: it parses,
// checks and compiles definitions within its Limits. The launcher (runs
// started through the API), the engine (plans rebuilt on recovery, retry
// and rerun) and the HTTP layer (validate, schema, previews) share one, so
// a definition accepted in one place is accepted in all. The zero value
// uses the spec's default limits.
type Compiler struct {
	Limits Limits
}

// Check parses body (YAML when contentType says so, JSON otherwise) and
// compiles it, as POST /api/v1/validate does. It returns nil for a valid
// definition, and otherwise a *models.Error: BadRequest for a syntax error,
// TooLarge for an oversized body, Invalid with every problem in Details.
func (c Compiler) Check(body []byte, contentType string) error {
	_, err := c.ParseAndCompile(body, FormatFromContentType(contentType))
	return err
}

// ParseChecked parses and compiles a definition sent to the API (YAML when
// contentType says so, JSON otherwise) and returns it as parsed, for
// storing: BadRequest for a syntax error, Invalid with every problem
// otherwise.
func (c Compiler) ParseChecked(body []byte, contentType string) (models.Definition, error) {
	f := FormatFromContentType(contentType)
	if _, err := c.ParseAndCompile(body, f); err != nil {
		return models.Definition{}, err
	}
	return c.Parse(body, f)
}

// JSONSchema returns a JSON Schema (draft 2020-12) of the definition format,
// generated from the Go types so that it cannot drift from what Parse
// accepts; GET /api/v1/schema/workflow.json serves it.
func (c Compiler) JSONSchema() []byte {
	return jsonSchema(c.Limits.withDefaults())
}

// InputTypes returns the types an input declaration may name, in the
// order a form offers them (the designer's input editor lists them).
func InputTypes() []string { return slices.Clone(inputTypes) }

// InputTypes is the package function InputTypes, for callers that reach
// the language through an interface (the HTTP layer).
func (Compiler) InputTypes() []string { return InputTypes() }
