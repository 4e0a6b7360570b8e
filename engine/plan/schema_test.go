package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/baton-run/baton/models"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaCheck validates documents with a real JSON Schema 2020-12
// validator (santhosh-tekuri/jsonschema), which also checks the published
// schema against its metaschema when it compiles it: a keyword the schema
// misspells or misuses fails here instead of being ignored.
type schemaCheck struct {
	schema *jsonschema.Schema
	errs   []string
}

// validate records why v does not match the schema, prefixed with path.
func (sc *schemaCheck) validate(v any, path string) {
	if err := sc.schema.Validate(v); err != nil {
		sc.errs = append(sc.errs, path+": "+err.Error())
	}
}

func loadSchema(t *testing.T) map[string]any {
	t.Helper()
	var root map[string]any
	if err := json.Unmarshal(Compiler{}.JSONSchema(), &root); err != nil {
		t.Fatalf("JSONSchema is not JSON: %v", err)
	}
	return root
}

// compileSchema compiles the published schema, checking it against the
// 2020-12 metaschema.
func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Compiler{}.JSONSchema()))
	if err != nil {
		t.Fatalf("JSONSchema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const id = "https://baton.run/schema/workflow.json"
	if err := c.AddResource(id, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(id)
	if err != nil {
		t.Fatalf("the published schema is not a valid JSON Schema 2020-12: %v", err)
	}
	return sch
}

// TestSchemaIsValid: the published schema passes its metaschema.
func TestSchemaIsValid(t *testing.T) {
	t.Parallel()
	compileSchema(t)
}

// documentOf decodes a definition file the way Parse does, to the JSON
// value a schema-aware editor would see.
func documentOf(t *testing.T, name string, data []byte) any {
	t.Helper()
	var raw any
	var err error
	if FormatFromName(name) == FormatYAML {
		raw, _, err = decodeYAML(data)
	} else {
		raw, err = decodeJSONBounded(data)
	}
	if err != nil {
		t.Fatal(err)
	}
	budget := maxValueNodes
	raw, err = normalise(raw, 0, &budget)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestSchemaAcceptsExamples: every example, as written and in canonical
// form, is valid under the published schema.
func TestSchemaAcceptsExamples(t *testing.T) {
	t.Parallel()
	schema := compileSchema(t)
	for _, name := range exampleFiles(t) {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := &schemaCheck{schema: schema}
		sc.validate(documentOf(t, name, data), "")
		p, err := Compiler{}.ParseAndCompile(data, FormatFromName(name))
		if err != nil {
			t.Fatal(err)
		}
		canon, _ := p.Canonical()
		sc.validate(documentOf(t, "canonical.json", canon), "(canonical)")
		if len(sc.errs) > 0 {
			t.Errorf("%s does not match the schema:\n%s", name, strings.Join(sc.errs, "\n"))
		}
	}
}

// TestSchemaRefuses: the schema catches the mistakes an editor should mark.
func TestSchemaRefuses(t *testing.T) {
	t.Parallel()
	schema := compileSchema(t)
	for _, doc := range []string{
		`{"id": "x", "name": "X", "steps": [{"id": "a", "type": "command", "action": {"kind": "log", "message": "m"}}], "stesp": 1}`,
		`{"id": "X!", "name": "X", "steps": [{"id": "a", "type": "command", "action": {"kind": "log", "message": "m"}}]}`,
		`{"id": "x", "name": "X", "steps": []}`,
		`{"id": "x", "name": "X", "steps": [{"id": "a", "type": "comand", "action": {}}]}`,
		`{"id": "x", "name": "X", "steps": [{"id": "a", "type": "wait", "action": {"duration": "soon"}}]}`,
		`{"id": "x", "name": "X", "steps": [{"id": "a", "type": "wait", "action": {"duration": 1, "kind": "htp"}}]}`,
		`{"id": "x", "name": "X", "steps": [{"id": "a", "type": "wait", "action": {"duration": 1}, "retryPolicy": {"backoffCoefficient": 0.5}}]}`,
		`{"id": "x", "name": "X", "inputs": {"bad-name": {"type": "string"}}, "steps": [{"id": "a", "type": "wait", "action": {"duration": 1}}]}`,
	} {
		var v any
		if err := json.Unmarshal([]byte(doc), &v); err != nil {
			t.Fatal(err)
		}
		sc := &schemaCheck{schema: schema}
		sc.validate(v, "")
		if len(sc.errs) == 0 {
			t.Errorf("schema accepts %s", doc)
		}
		if (Compiler{}).Check([]byte(doc), "application/json") == nil {
			t.Errorf("Compiler accepts %s", doc)
		}
	}
}

// TestSchemaMatchesGoTypes: every field of the Go types is in the schema,
// and every hand-written addition names a real field, so the two cannot
// drift apart unnoticed.
func TestSchemaMatchesGoTypes(t *testing.T) {
	t.Parallel()
	root := loadSchema(t)
	defs := root["$defs"].(map[string]any)
	types := map[string]reflect.Type{}
	var walk func(reflect.Type)
	walk = func(rt reflect.Type) {
		for rt.Kind() == reflect.Pointer || rt.Kind() == reflect.Slice || rt.Kind() == reflect.Map {
			rt = rt.Elem()
		}
		if rt.Kind() != reflect.Struct || types[rt.Name()] != nil {
			return
		}
		types[rt.Name()] = rt
		for _, ft := range structFields(rt) {
			walk(ft)
		}
	}
	walk(reflect.TypeOf(models.Definition{}))
	for name, rt := range types {
		var s map[string]any
		if name == "Definition" {
			s = root
		} else if s, _ = defs[name].(map[string]any); s == nil {
			t.Errorf("schema has no $defs/%s", name)
			continue
		}
		props := s["properties"].(map[string]any)
		fields := structFields(rt)
		for f := range fields {
			if props[f] == nil {
				t.Errorf("schema %s has no property %s", name, f)
			}
		}
		if len(props) != len(fields) {
			t.Errorf("schema %s has %d properties; the Go type has %d fields", name, len(props), len(fields))
		}
	}
	for key := range schemaExtras {
		typ, field, _ := strings.Cut(key, ".")
		if rt := types[typ]; rt == nil || structFields(rt)[field] == nil {
			t.Errorf("schemaExtras[%q] names no field of the Go types", key)
		}
	}
	for typ, req := range schemaRequired {
		for _, f := range req {
			if rt := types[typ]; rt == nil || structFields(rt)[f] == nil {
				t.Errorf("schemaRequired[%q] names %q, not a field", typ, f)
			}
		}
	}
	if root["properties"].(map[string]any)["steps"].(map[string]any)["maxItems"] != 1000.0 {
		t.Error("steps.maxItems is not the step limit")
	}
}

// TestCompilerCheck: POST /api/v1/validate's logic, both formats.
func TestCompilerCheck(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/definitions/spec-example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	v := Compiler{}
	if err := v.Check(data, "application/yaml"); err != nil {
		t.Errorf("Check(YAML) = %v", err)
	}
	if err := v.Check(data, "application/json"); models.ErrorCode(err) != models.BadRequest {
		t.Errorf("Check(YAML sent as JSON) = %v; want bad_request", err)
	}
	p, _ := Compiler{}.ParseAndCompile(data, FormatYAML)
	canon, _ := p.Canonical()
	if err := v.Check(canon, ""); err != nil {
		t.Errorf("Check(canonical JSON) = %v", err)
	}
	small := Compiler{Limits: Limits{MaxSteps: 2}}
	if err := small.Check(canon, ""); !strings.Contains(fmt.Sprint(models.ErrorDetails(err)), "5 steps; the limit is 2") {
		t.Errorf("Check with MaxSteps 2 = %v", err)
	}
	if err := (Compiler{Limits: Limits{MaxDefinitionBytes: 10}}).Check(canon, ""); models.ErrorCode(err) != models.TooLarge {
		t.Errorf("Check over the size limit = %v", err)
	}
}
