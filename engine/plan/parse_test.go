package plan

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/baton-run/baton/models"
)

func TestFormatFromName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]Format{
		"a.yaml": FormatYAML, "dir/b.YML": FormatYAML, "c.json": FormatJSON, "d": FormatJSON, "e.yaml.json": FormatJSON,
	} {
		if got := FormatFromName(name); got != want {
			t.Errorf("FormatFromName(%q) = %v; want %v", name, got, want)
		}
	}
}

func TestFormatFromContentType(t *testing.T) {
	t.Parallel()
	for ct, want := range map[string]Format{
		"application/yaml":               FormatYAML,
		"application/x-yaml":             FormatYAML,
		"text/yaml; charset=utf-8":       FormatYAML,
		"Application/YAML":               FormatYAML,
		"application/json":               FormatJSON,
		"application/json; charset=utf8": FormatJSON,
		"":                               FormatJSON,
		"yaml; bad=":                     FormatJSON,
	} {
		if got := FormatFromContentType(ct); got != want {
			t.Errorf("FormatFromContentType(%q) = %v; want %v", ct, got, want)
		}
	}
}

// TestParseRefusals covers documents refused whole: each has a code and one
// message (with a line and column for syntax errors).
func TestParseRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		data   string
		format Format
		code   models.Code
		msg    string
	}{
		{"JSONSyntax", "{\"id\": \"x\",\n \"name\": }", FormatJSON, models.BadRequest,
			"JSON syntax error at line 2, column 10: invalid character '}' looking for beginning of value"},
		{"JSONTruncated", "{\"id\": \"x\",\n \"steps\": [", FormatJSON, models.BadRequest,
			"JSON syntax error at line 2, column 12: unexpected end of input"},
		{"JSONTrailing", "{\"id\": \"x\"}\n  {}", FormatJSON, models.BadRequest,
			"JSON syntax error at line 2, column 3: unexpected data after the definition"},
		{"JSONEmpty", "  \n", FormatJSON, models.BadRequest, "the definition is empty"},
		{"JSONNull", "null", FormatJSON, models.BadRequest, "the definition is empty"},
		{"YAMLSyntax", "id: x\nname: [unclosed\n", FormatYAML, models.BadRequest,
			"YAML syntax error at line 2, column 7: sequence end token ']' not found"},
		{"YAMLIndent", "id: x\nsteps:\n  - id: a\n   type: command\n", FormatYAML, models.BadRequest,
			"YAML syntax error at line 4, column 4: value is not allowed in this context"},
		{"YAMLDuplicateKey", "id: x\nid: y\n", FormatYAML, models.BadRequest,
			`YAML syntax error at line 2, column 1: mapping key "id" already defined at [1:1]`},
		{"YAMLEmpty", "# nothing\n", FormatYAML, models.BadRequest, "the definition is empty"},
		{"NotAnObject", "[1, 2]", FormatJSON, models.Invalid, "the definition must be an object"},
		{"YAMLScalar", "just text", FormatYAML, models.Invalid, "the definition must be an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.data), tt.format)
			var me *models.Error
			if !asError(err, &me) {
				t.Fatalf("Parse = %v; want a *models.Error", err)
			}
			if me.Code != tt.code || me.Message != tt.msg {
				t.Errorf("Parse = %s %q; want %s %q", me.Code, me.Message, tt.code, tt.msg)
			}
		})
	}
}

func asError(err error, target **models.Error) bool {
	return errors.As(err, target)
}

func TestParseTooLarge(t *testing.T) {
	t.Parallel()
	data := []byte(`{"id": "x", "name": "` + strings.Repeat("a", 100) + `"}`)
	_, err := Compiler{Limits: Limits{MaxDefinitionBytes: 64}}.Parse(data, FormatJSON)
	if models.ErrorCode(err) != models.TooLarge {
		t.Fatalf("Compiler.Parse = %v; want too_large", err)
	}
	want := []models.Problem{{Message: "the definition is 123 bytes; the limit is 64"}}
	if got := models.ErrorDetails(err); !reflect.DeepEqual(got, want) {
		t.Errorf("details = %v; want %v", got, want)
	}
	// The default limit is 1 MiB.
	big := []byte(`{"id": "x", "description": "` + strings.Repeat("a", 1<<20) + `"}`)
	if _, err := Parse(big, FormatJSON); models.ErrorCode(err) != models.TooLarge {
		t.Errorf("Parse(1 MiB + 30 bytes) = %v; want too_large", err)
	}
}

// TestParseYAMLAliasBomb: aliases that expand to billions of values are
// refused, not expanded.
func TestParseYAMLAliasBomb(t *testing.T) {
	t.Parallel()
	doc := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		doc += n + ": &" + n + " [" + strings.Repeat("*"+prev+", ", 9) + "*" + prev + "]\n"
		prev = n
	}
	_, err := Parse([]byte(doc), FormatYAML)
	if models.ErrorCode(err) != models.Invalid || !strings.Contains(err.Error(), "too many values after expanding YAML aliases") {
		t.Fatalf("Parse(alias bomb) = %v; want a refusal naming the value limit", err)
	}
	deep := strings.Repeat("[", 100) + strings.Repeat("]", 100)
	_, err = Parse([]byte(`{"id": "x", "outputs": {"a": `+deep+`}}`), FormatJSON)
	if models.ErrorCode(err) != models.Invalid || !strings.Contains(err.Error(), "nested more than 64 levels") {
		t.Fatalf("Parse(deep) = %v; want a refusal naming the depth limit", err)
	}
}

// TestParseYAMLAndJSONAgree: the same definition in both formats parses to
// the same value, with durations normalised to milliseconds.
func TestParseYAMLAndJSONAgree(t *testing.T) {
	t.Parallel()
	y := `
id: same
name: Same
timeout: 1m
inputs:
  n: {type: integer, default: 3}
  meta: {type: object, default: {a: [1, 2.5, "x", true, null]}}
retryPolicy: {initialInterval: 1.5s, maxInterval: 2000, jitter: 0}
steps:
  - id: w
    type: wait
    action: {duration: "250"}
  - id: h
    type: command
    timeout: 10s
    action: {kind: http, url: "http://x", body: {n: 1, list: [a, 2]}}
`
	j := `{"id": "same", "name": "Same", "timeout": 60000,
  "inputs": {"n": {"type": "integer", "default": 3}, "meta": {"type": "object", "default": {"a": [1, 2.5, "x", true, null]}}},
  "retryPolicy": {"initialInterval": "1500ms", "maxInterval": "2s", "jitter": 0},
  "steps": [
    {"id": "w", "type": "wait", "action": {"duration": 250}},
    {"id": "h", "type": "command", "timeout": "10s", "action": {"kind": "http", "url": "http://x", "body": {"n": 1, "list": ["a", 2]}}}
  ]}`
	dy, err := Parse([]byte(y), FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	dj, err := Parse([]byte(j), FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dy, dj) {
		t.Errorf("YAML and JSON differ:\nYAML %+v\nJSON %+v", dy, dj)
	}
	if dy.Timeout != 60000 || dy.RetryPolicy.InitialInterval != 1500 || dy.Steps[0].Action.Duration != 250 || dy.Steps[1].Timeout != 10000 {
		t.Errorf("durations not normalised: %+v", dy)
	}
	if dy.RetryPolicy.Jitter == nil || *dy.RetryPolicy.Jitter != 0 {
		t.Errorf("jitter: 0 must stay set (0 differs from unset), got %v", dy.RetryPolicy.Jitter)
	}
}

func TestParseDurationProblems(t *testing.T) {
	t.Parallel()
	got := problemsOf(t, `id: d
name: D
timeout: -5
steps:
  - {id: a, type: wait, timeout: 1.5, action: {duration: 1ns}}
  - {id: b, type: wait, action: {duration: [1]}}
`, Limits{})
	want := []models.Problem{
		{Path: "steps[0].action.duration", Message: `duration "1ns" is finer than a millisecond`},
		{Path: "steps[0].timeout", Message: "a duration in milliseconds must be a whole number of at least 0, not 1.5"},
		{Path: "steps[0].action", Message: "a wait step needs a duration or a signal"},
		{Path: "steps[1].action.duration", Message: `must be a duration (milliseconds, or a string such as "1.5s"), not a list`},
		{Path: "steps[1].action", Message: "a wait step needs a duration or a signal"},
		{Path: "timeout", Message: "a duration in milliseconds must be a whole number of at least 0, not -5"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", problemList(got), problemList(want))
	}
}

// TestParseIsStrict: Parse alone refuses unknown fields, so nothing is
// silently ignored even by callers that do not compile.
func TestParseIsStrict(t *testing.T) {
	t.Parallel()
	_, err := Parse([]byte(`{"id": "x", "name": "X", "steps": [], "extra": 1}`), FormatJSON)
	want := []models.Problem{{Path: "extra", Message: `unknown field "extra"`}}
	if got := models.ErrorDetails(err); models.ErrorCode(err) != models.Invalid || !reflect.DeepEqual(got, want) {
		t.Errorf("Parse = %v; want invalid with %v", err, want)
	}
}

func TestParseKeepsNonStringKeysAndTimes(t *testing.T) {
	t.Parallel()
	def, err := Parse([]byte(`
id: k
name: K
steps:
  - id: a
    type: command
    action: {kind: set, values: {when: 2026-11-27T10:00:00Z, map: {1: one, true: yes}, big: 12345678901}}
`), FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	v := def.Steps[0].Action.Values
	if v["when"] != "2026-11-27T10:00:00Z" {
		t.Errorf("values.when = %#v; want the timestamp as a string", v["when"])
	}
	if m, ok := v["map"].(map[string]any); !ok || m["1"] != "one" {
		t.Errorf("values.map = %#v; want string keys", v["map"])
	}
	if v["big"] != float64(12345678901) {
		t.Errorf("values.big = %#v; want a JSON number", v["big"])
	}
}

func TestNormalise(t *testing.T) {
	t.Parallel()
	type myString string
	type myBool bool
	type myInt int16
	type myUint uint8
	type myFloat float32
	in := []any{int(1), int64(2), uint64(3), float32(4.5), myInt(5), myUint(6), myFloat(7), myString("s"), myBool(true), struct{}{}}
	want := []any{1.0, 2.0, 3.0, 4.5, 5.0, 6.0, 7.0, "s", true, "{}"}
	budget := 100
	got, err := normalise(in, 0, &budget)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("normalise = %#v, %v; want %#v", got, err, want)
	}
	budget = 100
	got, err = normalise(map[any]any{1: "a", "b": map[any]any{true: []any{}}}, 0, &budget)
	if err != nil || !reflect.DeepEqual(got, map[string]any{"1": "a", "b": map[string]any{"true": []any{}}}) {
		t.Errorf("normalise(map[any]any) = %#v, %v", got, err)
	}
	budget = 2
	if _, err := normalise(map[any]any{"a": []any{1, 2}}, 0, &budget); err == nil {
		t.Error("normalise over budget succeeded")
	}
	budget = 100
	if _, err := normalise(map[string]any{"a": []any{map[any]any{"b": 1}}}, 62, &budget); err == nil {
		t.Error("normalise past the depth limit succeeded")
	}
	if FormatJSON.String() != "JSON" || FormatYAML.String() != "YAML" {
		t.Error("Format.String")
	}
	for v, want := range map[any]string{nil: "null", "x": "a string", true: "a boolean", 1.0: "a number", 2: "int"} {
		if got := kindOf(v); got != want {
			t.Errorf("kindOf(%#v) = %q; want %q", v, got, want)
		}
	}
	if got := kindOf([]any{}); got != "a list" {
		t.Errorf("kindOf(list) = %q", got)
	}
	if got := kindOf(map[string]any{}); got != "an object" {
		t.Errorf("kindOf(object) = %q", got)
	}
}

// TestParseHostileShapes: the documents of issue 12 are refused by the
// pre-scan, before the YAML parser builds anything, with a position.
func TestParseHostileShapes(t *testing.T) {
	t.Parallel()
	var keys strings.Builder
	keys.WriteString("id: x\nname: X\noutputs:\n")
	for i := range 50_000 {
		fmt.Fprintf(&keys, "  k%d: v\n", i)
	}
	var flowKeys strings.Builder
	flowKeys.WriteString(`{"id": "x", "outputs": {`)
	for i := range 3000 {
		fmt.Fprintf(&flowKeys, `"k%d": 1, `, i)
	}
	flowKeys.WriteString(`"z": 1}}`)
	var blockDeep strings.Builder
	for i := range 100 {
		blockDeep.WriteString(strings.Repeat(" ", i) + "a:\n")
	}
	tests := []struct {
		name   string
		data   string
		format Format
		code   models.Code
		want   string
	}{
		{"YAMLNestedBrackets", strings.Repeat("[", 100_000), FormatYAML, models.Invalid, "line 1, column 65: the definition is nested more than 64 levels deep"},
		{"YAMLNestedBlocks", blockDeep.String(), FormatYAML, models.Invalid, "line 65, column 66: the definition is nested more than 64 levels deep"},
		{"YAMLManyKeys", keys.String(), FormatYAML, models.Invalid, "line 2004, column 8: a map holds more than 2000 keys"},
		{"YAMLFlowManyKeys", flowKeys.String(), FormatYAML, models.Invalid, "a map holds more than 2000 keys"},
		{"JSONNestedBrackets", strings.Repeat("[", 100_000), FormatJSON, models.Invalid, "line 1, column 65: the definition is nested more than 64 levels deep"},
		{"JSONManyKeys", flowKeys.String(), FormatJSON, models.Invalid, "a map holds more than 2000 keys"},
		{"JSONDuplicateKey", "{\"id\": \"x\",\n \"id\": \"y\"}", FormatJSON, models.BadRequest, `JSON syntax error at line 2, column 2: the key "id" is written twice in one object`},
		{"JSONHugeNumber", "{\"id\": \"x\",\n \"timeout\": 1e400}", FormatJSON, models.BadRequest, "JSON syntax error at line 2, column 13: the number 1e400 is out of range"},
		{"JSONInexactInteger", `{"id": "x", "name": "X", "steps": [], "outputs": {"n": 9007199254740993}}`, FormatJSON, models.Invalid, "the integer 9007199254740993 is beyond ±2^53"},
		{"YAMLInexactInteger", "id: x\nname: X\noutputs:\n  n: 9007199254740993\n", FormatYAML, models.Invalid, "the integer 9007199254740993 is beyond ±2^53"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.data), tt.format)
			if models.ErrorCode(err) != tt.code || !strings.Contains(err.Error()+fmt.Sprint(models.ErrorDetails(err)), tt.want) {
				t.Fatalf("Parse = %s %v %v; want %s containing %q", models.ErrorCode(err), err, models.ErrorDetails(err), tt.code, tt.want)
			}
		})
	}
	// Exact integers up to 2^53 still pass.
	if _, err := Parse([]byte(`{"id": "x", "name": "X", "steps": [], "outputs": {"n": 9007199254740992}}`), FormatJSON); models.ErrorCode(err) == models.Invalid && strings.Contains(fmt.Sprint(models.ErrorDetails(err)), "2^53") {
		t.Errorf("2^53 refused: %v", err)
	}
}

// YAML's .inf and .nan have no JSON form: such a value is refused with its
// path and how to write it as text, not with an encoder's message.
func TestParseYAMLInfinityHasAPath(t *testing.T) {
	t.Parallel()
	for _, v := range []string{".inf", "-.Inf", ".NaN"} {
		_, err := Parse([]byte("id: a\nname: A\nsteps:\n  - {id: s, type: command, action: {kind: set, values: {v: "+v+"}}}\n"), FormatYAML)
		var me *models.Error
		if !asError(err, &me) || me.Code != models.Invalid || len(me.Details) != 1 ||
			me.Details[0].Path != "steps[0].action.values.v" || !strings.Contains(me.Details[0].Message, "quote it") {
			t.Errorf("%s: Parse = %#v; want Invalid at steps[0].action.values.v", v, err)
		}
	}
	// Quoted, it is the text.
	def, err := Parse([]byte("id: a\nname: A\nsteps:\n  - {id: s, type: command, action: {kind: set, values: {v: \".inf\"}}}\n"), FormatYAML)
	if err != nil || def.Steps[0].Action.Values["v"] != ".inf" {
		t.Errorf("quoted .inf = %v, %v; want the string", def.Steps, err)
	}
}

// onSuccess and onFailure take a step id (the spec's form, written back as
// a string) or a list of step ids (a branch that fans out); a list naming
// a step twice or an unknown step is a problem at its index.
func TestBranchTargetsFanOut(t *testing.T) {
	t.Parallel()
	src := "id: f\nname: F\nsteps:\n" +
		"  - {id: c, type: condition, action: {expression: 'true'}, onSuccess: [a, b], onFailure: z}\n" +
		"  - {id: a, type: command, action: {kind: log, message: a}}\n" +
		"  - {id: b, type: command, action: {kind: log, message: b}}\n" +
		"  - {id: z, type: command, action: {kind: log, message: z}}\n"
	p, err := Compiler{}.ParseAndCompile([]byte(src), FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Definition.Steps[0].OnSuccess; len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("onSuccess = %v", got)
	}
	canon, _ := p.Canonical()
	if !strings.Contains(string(canon), `"onSuccess":["a","b"]`) || !strings.Contains(string(canon), `"onFailure":"z"`) {
		t.Errorf("canonical form: %s", canon)
	}
	bad := strings.Replace(src, "onSuccess: [a, b]", "onSuccess: [a, a, nope]", 1)
	err = Compiler{}.Check([]byte(bad), "application/yaml")
	var me *models.Error
	if !asError(err, &me) {
		t.Fatalf("Check = %v", err)
	}
	paths := map[string]string{}
	for _, d := range me.Details {
		paths[d.Path] = d.Message
	}
	if !strings.Contains(paths["steps[0].onSuccess[1]"], "named twice") || !strings.Contains(paths["steps[0].onSuccess[2]"], "unknown step") {
		t.Errorf("problems = %+v", me.Details)
	}
	if err := (Compiler{}).Check([]byte(strings.Replace(src, "onSuccess: [a, b]", "onSuccess: 5", 1)), "application/yaml"); err == nil {
		t.Errorf("a number as onSuccess was accepted")
	}
}
