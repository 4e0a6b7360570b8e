package plan

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/baton-run/baton/models"
)

// schemaCheck is a small JSON Schema validator: the keywords jsonSchema
// uses, no more. It returns the paths that fail.
type schemaCheck struct {
	root map[string]any
	errs []string
}

func (sc *schemaCheck) fail(path, format string, args ...any) {
	sc.errs = append(sc.errs, path+": "+fmt.Sprintf(format, args...))
}

func (sc *schemaCheck) validate(s map[string]any, v any, path string) {
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/$defs/")
		def, ok := sc.root["$defs"].(map[string]any)[name].(map[string]any)
		if !ok {
			sc.fail(path, "dangling $ref %s", ref)
			return
		}
		sc.validate(def, v, path)
	}
	if alts, ok := s["anyOf"].([]any); ok {
		matched := false
		for _, alt := range alts {
			sub := &schemaCheck{root: sc.root}
			sub.validate(alt.(map[string]any), v, path)
			if len(sub.errs) == 0 {
				matched = true
				break
			}
		}
		if !matched {
			sc.fail(path, "matches no alternative of anyOf")
		}
	}
	if c, ok := s["const"]; ok && fmt.Sprint(c) != fmt.Sprint(v) {
		sc.fail(path, "want const %v", c)
	}
	if enum, ok := s["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			if e == v {
				found = true
			}
		}
		if !found {
			sc.fail(path, "%v not in enum %v", v, enum)
		}
	}
	num := func(k string) (float64, bool) { f, ok := s[k].(float64); return f, ok }
	switch t, _ := s["type"].(string); t {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			sc.fail(path, "want an object")
			return
		}
		props, _ := s["properties"].(map[string]any)
		for _, r := range asList(s["required"]) {
			if _, ok := m[r.(string)]; !ok {
				sc.fail(path, "missing required %s", r)
			}
		}
		for k, x := range m {
			if pn, ok := s["propertyNames"].(map[string]any); ok {
				sc.validate(pn, k, path+"."+k+"(name)")
			}
			if ps, ok := props[k].(map[string]any); ok {
				sc.validate(ps, x, path+"."+k)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					sc.fail(path, "unexpected property %s", k)
				}
			case map[string]any:
				sc.validate(ap, x, path+"."+k)
			}
		}
	case "array":
		l, ok := v.([]any)
		if !ok {
			sc.fail(path, "want a list")
			return
		}
		if n, ok := num("minItems"); ok && float64(len(l)) < n {
			sc.fail(path, "fewer than %v items", n)
		}
		if n, ok := num("maxItems"); ok && float64(len(l)) > n {
			sc.fail(path, "more than %v items", n)
		}
		if items, ok := s["items"].(map[string]any); ok {
			for i, x := range l {
				sc.validate(items, x, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			sc.fail(path, "want a string")
			return
		}
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(str) {
			sc.fail(path, "%q does not match %s", str, p)
		}
		if n, ok := num("minLength"); ok && float64(len([]rune(str))) < n {
			sc.fail(path, "shorter than %v", n)
		}
		if n, ok := num("maxLength"); ok && float64(len([]rune(str))) > n {
			sc.fail(path, "longer than %v", n)
		}
	case "integer", "number":
		f, ok := v.(float64)
		if !ok || (t == "integer" && f != math.Trunc(f)) {
			sc.fail(path, "want %s", t)
			return
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			sc.fail(path, "want a boolean")
		}
	}
	if f, ok := v.(float64); ok {
		if n, ok := num("minimum"); ok && f < n {
			sc.fail(path, "%v below minimum %v", f, n)
		}
		if n, ok := num("maximum"); ok && f > n {
			sc.fail(path, "%v above maximum %v", f, n)
		}
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func loadSchema(t *testing.T) map[string]any {
	t.Helper()
	var root map[string]any
	if err := json.Unmarshal(Compiler{}.JSONSchema(), &root); err != nil {
		t.Fatalf("JSONSchema is not JSON: %v", err)
	}
	return root
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
	root := loadSchema(t)
	for _, name := range exampleFiles(t) {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := &schemaCheck{root: root}
		sc.validate(root, documentOf(t, name, data), "")
		p, err := Compiler{}.ParseAndCompile(data, FormatFromName(name))
		if err != nil {
			t.Fatal(err)
		}
		canon, _ := p.Canonical()
		sc.validate(root, documentOf(t, "canonical.json", canon), "(canonical)")
		if len(sc.errs) > 0 {
			t.Errorf("%s does not match the schema:\n%s", name, strings.Join(sc.errs, "\n"))
		}
	}
}

// TestSchemaRefuses: the schema catches the mistakes an editor should mark.
func TestSchemaRefuses(t *testing.T) {
	t.Parallel()
	root := loadSchema(t)
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
		sc := &schemaCheck{root: root}
		sc.validate(root, v, "")
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
