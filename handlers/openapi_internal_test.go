package handlers

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/gofiber/fiber/v2"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/baton-run/baton/models"
)

// apiDoc is the part of openapi.yaml the coverage test reads.
type apiDoc struct {
	OpenAPI string                                `yaml:"openapi"`
	Paths   map[string]map[string]apiDocOperation `yaml:"-"`
}

type apiDocOperation struct {
	OperationID string         `yaml:"operationId"`
	Summary     string         `yaml:"summary"`
	Role        string         `yaml:"x-baton-role"`
	Responses   map[string]any `yaml:"responses"`
}

var docMethods = []string{"get", "put", "post", "delete", "patch", "head", "options"}

// documented says whether a route belongs in openapi.yaml: the JSON API, the
// webhook receiver, the health check and the metrics. Pages, static files and
// the profiler are not part of the API.
func documented(path string) bool {
	return strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/hooks/") ||
		path == "/healthz" || path == "/metrics"
}

var fiberParam = regexp.MustCompile(`:([A-Za-z0-9_]+)(?:<[^>]*>)?`)

// openAPIPath turns fiber's /runs/:id (or /alerts/:id<int>, with a
// constraint) into OpenAPI's /runs/{id}.
func openAPIPath(p string) string { return fiberParam.ReplaceAllString(p, "{$1}") }

// docRole is how x-baton-role names a route's role.
func docRole(r models.Role) string {
	if r == anyone {
		return "none"
	}
	return string(r)
}

// openAPIMismatches lists every difference between the route tables and the
// document, each as a sentence that says what to do.
func openAPIMismatches(doc apiDoc, routes []route) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range routes {
		if !documented(r.path) {
			continue
		}
		p, m := openAPIPath(r.path), strings.ToLower(r.method)
		seen[m+" "+p] = true
		op, ok := doc.Paths[p][m]
		if !ok {
			out = append(out, fmt.Sprintf("route %s %s is not documented: add `%s:` with `%s:` (operationId, summary, x-baton-role: %s, parameters, requestBody, responses) under `paths:` in handlers/openapi.yaml",
				r.method, r.path, p, m, docRole(r.need)))
			continue
		}
		if op.Role != docRole(r.need) {
			out = append(out, fmt.Sprintf("%s %s: handlers/openapi.yaml says x-baton-role: %q, its route table needs %q", r.method, p, op.Role, docRole(r.need)))
		}
	}
	ids := map[string]string{}
	for p, item := range doc.Paths {
		for _, m := range docMethods {
			op, ok := item[m]
			if !ok {
				continue
			}
			where := strings.ToUpper(m) + " " + p
			if !seen[m+" "+p] {
				out = append(out, fmt.Sprintf("handlers/openapi.yaml documents %s, which no route table registers: remove it or add the route", where))
			}
			if op.OperationID == "" || op.Summary == "" {
				out = append(out, where+": needs an operationId and a summary")
			}
			if prev, dup := ids[op.OperationID]; dup && op.OperationID != "" {
				out = append(out, fmt.Sprintf("%s: operationId %q is also used by %s", where, op.OperationID, prev))
			}
			ids[op.OperationID] = where
			// A success is a 2xx, or 101 for a WebSocket upgrade.
			ok2xx := false
			for code := range op.Responses {
				ok2xx = ok2xx || strings.HasPrefix(code, "2") || code == "101"
			}
			if !ok2xx {
				out = append(out, where+": documents no 2xx (or 101) response")
			}
		}
	}
	slices.Sort(out)
	return out
}

func loadAPIDoc(t *testing.T) apiDoc {
	t.Helper()
	var raw struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(openAPIYAML, &raw); err != nil {
		t.Fatalf("handlers/openapi.yaml does not parse: %v", err)
	}
	doc := apiDoc{OpenAPI: raw.OpenAPI, Paths: map[string]map[string]apiDocOperation{}}
	for p, item := range raw.Paths {
		doc.Paths[p] = map[string]apiDocOperation{}
		for _, m := range docMethods {
			if op, ok := item[m]; ok {
				b, err := yaml.Marshal(op)
				if err == nil {
					var o apiDocOperation
					err = yaml.Unmarshal(b, &o)
					doc.Paths[p][m] = o
				}
				if err != nil {
					t.Fatalf("%s %s: %v", m, p, err)
				}
			}
		}
	}
	return doc
}

// TestOpenAPICoversRoutes keeps handlers/openapi.yaml true: every API route
// of every route table is documented with its role, and nothing else is.
func TestOpenAPICoversRoutes(t *testing.T) {
	doc := loadAPIDoc(t)
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	routes := newServer(Deps{}).routes()
	n := 0
	for _, r := range routes {
		if documented(r.path) {
			n++
		}
	}
	if n < 50 {
		t.Errorf("only %d API routes found in the route tables; is routes() complete?", n)
	}
	for _, m := range openAPIMismatches(doc, routes) {
		t.Error(m)
	}
}

// TestOpenAPICatchesUndocumentedRoute shows the coverage check failing the
// way a developer meets it: a new route without its document entry, and a
// role that changed.
func TestOpenAPICatchesUndocumentedRoute(t *testing.T) {
	doc := loadAPIDoc(t)
	routes := append(newServer(Deps{}).routes(),
		route{fiber.MethodGet, "/api/v1/widgets/:id", models.RoleOperator, nil})
	got := openAPIMismatches(doc, routes)
	want := "route GET /api/v1/widgets/:id is not documented: add `/api/v1/widgets/{id}:` with `get:`"
	if len(got) != 1 || !strings.HasPrefix(got[0], want) {
		t.Fatalf("mismatches = %q, want one starting %q", got, want)
	}
	routes = newServer(Deps{}).routes()
	for i := range routes {
		if routes[i].path == "/api/v1/users" && routes[i].method == fiber.MethodGet {
			routes[i].need = models.RoleViewer
		}
	}
	got = openAPIMismatches(doc, routes)
	if len(got) != 1 || !strings.Contains(got[0], `GET /api/v1/users: handlers/openapi.yaml says x-baton-role: "admin", its route table needs "viewer"`) {
		t.Fatalf("mismatches = %q, want the role difference", got)
	}
}

// TestOpenAPIValidates checks the document against the OpenAPI 3.1 schema
// (pb33f/libopenapi-validator) and that it builds into a model.
func TestOpenAPIValidates(t *testing.T) {
	doc, err := libopenapi.NewDocument(openAPIYAML)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := doc.BuildV3Model(); err != nil {
		t.Fatalf("the document does not build: %v", err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("%s: %s", e.Message, e.Reason)
			for _, se := range e.SchemaValidationErrors {
				t.Errorf("  %s at %s (line %d)", se.Reason, se.KeywordLocation, se.Line)
			}
		}
	}
}

// TestOpenAPIServed fetches the document as a client generator would: no
// login, JSON, the same content as openapi.yaml.
func TestOpenAPIServed(t *testing.T) {
	app := New(Deps{})
	res, err := app.Test(httptest.NewRequest("GET", "/api/v1/openapi.json", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d, type %q: %s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	var got struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.OpenAPI != "3.1.0" || got.Paths["/api/v1/runs/{id}"]["get"] == nil {
		t.Fatalf("served document: openapi %q, %d paths", got.OpenAPI, len(got.Paths))
	}
}
