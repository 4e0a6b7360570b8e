package handlers_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/handlers"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// TestValidateRefusesHostileDocuments sends issue 12's documents to POST
// /api/v1/validate as a viewer: each is refused with a 4xx naming the
// limit and the position, in milliseconds (BenchmarkParseHostileYAML in
// engine/plan measures time and memory).
func TestValidateRefusesHostileDocuments(t *testing.T) {
	t.Parallel()
	b := setup(t, openSQLite)
	b.app = handlers.New(handlers.Deps{
		Log: slog.New(slog.DiscardHandler), Store: b.store, Definitions: plan.Compiler{}, Registry: prometheus.NewRegistry(),
		BodyLimit: 2 << 20,
	})
	var keys strings.Builder
	keys.WriteString("id: x\nname: X\noutputs:\n")
	for i := range 50_000 {
		fmt.Fprintf(&keys, "  k%d: v\n", i)
	}
	yamlReq := func(body string) request {
		return request{method: "POST", path: "/api/v1/validate", bearer: b.viewerToken, contentType: "application/yaml", body: body}
	}
	jsonReq := func(body string) request {
		return request{method: "POST", path: "/api/v1/validate", bearer: b.viewerToken, body: body}
	}
	for _, sc := range []scenario{
		{name: "100 KB of nested [", req: yamlReq(strings.Repeat("[", 100_000)),
			status: 422, contains: []string{`"code":"invalid"`, "line 1, column 65: the definition is nested more than 64 levels deep"}},
		{name: "50,000 keys under one map", req: yamlReq(keys.String()),
			status: 422, contains: []string{"line 2004, column 8: a map holds more than 2000 keys"}},
		{name: "JSON duplicate key", req: jsonReq("{\"id\": \"a\",\n \"id\": \"b\"}"),
			status: 400, contains: []string{"JSON syntax error at line 2, column", `the key \"id\" is written twice`}},
		{name: "1e400", req: jsonReq("{\"id\": \"a\",\n \"timeout\": 1e400}"),
			status: 400, contains: []string{"JSON syntax error at line 2, column 13: the number 1e400 is out of range"}},
		{name: "an integer past 2^53", req: jsonReq(`{"id":"a","name":"A","steps":[],"outputs":{"n":9007199254740993}}`),
			status: 422, contains: []string{"9007199254740993 is beyond ±2^53"}},
	} {
		b.run(t, sc)
	}
}

// TestPreviewRenderIsBounded: the 5 KB preview request of issue 12 (200
// placeholders of 900,000 bytes) answers with a small problem naming the
// limit, not 180 MB.
func TestPreviewRenderIsBounded(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f, dana, _ := pagesFlow(t, open)
		f.run(t, scenario{name: "create", req: request{method: "POST", path: "/templates", browser: dana,
			body: tplForm("from", "blank", "key", "demo", "name", "Demo"), contentType: tplFormType, headers: tplHTMX}, status: 201})
		body, _ := json.Marshal(map[string]any{"definition": json.RawMessage(`{"id":"demo","name":"Demo","steps":[]}`),
			"kind": "template", "source": strings.Repeat(`{{ repeat("a", 900000) }}`, 200)})
		got := f.do(t, request{method: "POST", path: "/templates/demo/design/preview", browser: dana, body: string(body)})
		if got.status != 200 || len(got.body) > 4096 || !strings.Contains(got.body, `"value":null`) ||
			!strings.Contains(got.body, "the rendered text would be more than 1048576 bytes") {
			t.Fatalf("preview = %d, %d bytes: %.300s", got.status, len(got.body), got.body)
		}
	})
}

// A whole number sent to an integer input arrives exactly, past 2^53 too;
// a number too large for any float is refused with its input's path.
func TestRunInputsAreExact(t *testing.T) {
	t.Parallel()
	f := newFlow(t, openSQLite)
	f.publish(t, `{"id":"big","name":"Big","inputs":{"n":{"type":"integer","required":true},"x":{"type":"number"}},
 "steps":[{"id":"echo","type":"command","action":{"kind":"set","values":{"n":"{{ inputs.n }}","s":"n={{ inputs.n }}"}}}],
 "outputs":{"n":"{{ steps.echo.output.n }}","s":"{{ steps.echo.output.s }}"}}`)
	res := f.do(t, request{method: "POST", path: "/api/v1/templates/big/runs?wait=10s", bearer: f.operator,
		body: `{"inputs":{"n":9007199254740993,"x":2.5}}`})
	if res.status != 201 || !strings.Contains(res.body, `"n":9007199254740993`) || !strings.Contains(res.body, `"s":"n=9007199254740993"`) {
		t.Fatalf("start = %d; want the integer kept exactly\n%s", res.status, res.body)
	}
	f.refused(t, "POST", "/api/v1/templates/big/runs", f.operator, `{"inputs":{"n":1,"x":1e400}}`, 422, models.Invalid, "inputs.x", "does not fit")
	f.refused(t, "POST", "/api/v1/templates/big/runs", f.operator, `{"inputs":{"n":1.5}}`, 422, models.Invalid, "inputs.n", "whole number")
}
