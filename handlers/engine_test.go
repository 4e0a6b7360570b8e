package handlers_test

import (
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/handlers"
)

// TestValidateWithEngine checks POST /api/v1/validate and the schema route
// against the real plan.Compiler, as cmd/baton wires it.
func TestValidateWithEngine(t *testing.T) {
	t.Parallel()
	b := setup(t, openSQLite)
	b.app = handlers.New(handlers.Deps{
		Log: slog.New(slog.DiscardHandler), Store: b.store, Definitions: plan.Compiler{}, Registry: prometheus.NewRegistry(),
	})
	good := `{"id":"hello","name":"Hello","steps":[{"id":"wait_a_bit","type":"wait","action":{"duration":10}}]}`
	for _, sc := range []scenario{
		{name: "valid JSON", req: request{method: "POST", path: "/api/v1/validate", bearer: b.viewerToken, body: good},
			status: 200, contains: []string{`{"valid":true}`}},
		{name: "valid YAML", req: request{method: "POST", path: "/api/v1/validate", bearer: b.viewerToken, contentType: "application/yaml",
			body: "id: hello\nname: Hello\nsteps:\n  - id: wait_a_bit\n    type: wait\n    action: {duration: 10}\n"},
			status: 200, contains: []string{`{"valid":true}`}},
		{name: "invalid", req: request{method: "POST", path: "/api/v1/validate", bearer: b.viewerToken,
			body: `{"id":"Bad Id","name":"x","steps":[]}`},
			status: 422, contains: []string{`"code":"invalid"`, `"path":"id"`, `"requestId"`}},
		{name: "syntax error", req: request{method: "POST", path: "/api/v1/validate", bearer: b.viewerToken, body: `{"id":`},
			status: 400, contains: []string{`"code":"bad_request"`}},
		{name: "schema", req: request{method: "GET", path: "/api/v1/schema/workflow.json", bearer: b.viewerToken},
			status: 200, contains: []string{`"$schema"`, `"steps"`}},
	} {
		b.run(t, sc)
	}
}
