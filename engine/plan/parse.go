package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/token"
)

// Format is the syntax a definition is written in.
type Format int

// Formats. JSON is canonical; YAML with the same field names is accepted.
const (
	FormatJSON Format = iota
	FormatYAML
)

// String names the format: "JSON" or "YAML".
func (f Format) String() string {
	if f == FormatYAML {
		return "YAML"
	}
	return "JSON"
}

// FormatFromName chooses the format by file extension: .yaml and .yml are
// YAML, anything else JSON.
func FormatFromName(filename string) Format {
	switch strings.ToLower(filepath.Ext(filename)) {
	case ".yaml", ".yml":
		return FormatYAML
	}
	return FormatJSON
}

// FormatFromContentType chooses the format by media type:
// application/yaml, application/x-yaml and text/yaml (with any parameters)
// are YAML, anything else JSON.
func FormatFromContentType(ct string) Format {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(ct))
	}
	switch mt {
	case "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml":
		return FormatYAML
	}
	return FormatJSON
}

// maxValueNodes bounds the number of values (after expanding YAML aliases)
// a definition may hold, so that an alias "bomb" is refused instead of
// expanded. An honest 1 MiB definition has far fewer.
const maxValueNodes = 1_000_000

// maxDepth bounds nesting, for the same reason.
const maxDepth = 64

// Parse reads a definition strictly, with the default limits. See
// Compiler.Parse.
func Parse(data []byte, f Format) (models.Definition, error) {
	return Compiler{}.Parse(data, f)
}

// Parse reads a definition in format f. It is strict: a syntax
// error is a BadRequest *models.Error naming the line and column; unknown
// fields and values of the wrong type are an Invalid *models.Error listing
// each with its JSON path; a definition over l.MaxDefinitionBytes is
// TooLarge. Durations may be milliseconds or Go duration strings and come
// back in milliseconds.
func (c Compiler) Parse(data []byte, f Format) (models.Definition, error) {
	def, problems, err := parseLenient(data, f, c.Limits)
	if err != nil {
		return models.Definition{}, err
	}
	if len(problems) > 0 {
		sortProblems(problems)
		return models.Definition{}, models.Problems(problemsSummary(len(problems)), problems)
	}
	return def, nil
}

// ParseAndCompile parses data and compiles the result, reporting the
// problems of both steps at once: a field of the wrong type is left out
// (and reported) rather than stopping the check, so that one typo does not
// hide the rest. It is what `baton validate` and POST /api/v1/validate do.
func (c Compiler) ParseAndCompile(data []byte, f Format) (*Plan, error) {
	def, problems, err := parseLenient(data, f, c.Limits)
	if err != nil {
		return nil, err
	}
	p, err := c.Compile(def)
	if len(problems) == 0 {
		return p, err
	}
	// What Compile says about a field that Parse left out is a consequence
	// of the first problem, not news.
	for _, cp := range models.ErrorDetails(err) {
		if !underAny(cp.Path, problems) {
			problems = append(problems, cp)
		}
	}
	sortProblems(problems)
	return nil, models.Problems(problemsSummary(len(problems)), problems)
}

// underAny reports whether path is one of the problems' paths or inside one.
func underAny(path string, problems []models.Problem) bool {
	for _, p := range problems {
		if p.Path == "" || path == p.Path || strings.HasPrefix(path, p.Path+".") || strings.HasPrefix(path, p.Path+"[") {
			return true
		}
	}
	return false
}

// parseLenient reads a definition. err is a refusal of the whole document
// (too large, a syntax error, not an object); problems are the fields that
// were unknown or of the wrong type, which def leaves out.
func parseLenient(data []byte, f Format, l Limits) (def models.Definition, problems []models.Problem, err error) {
	l = l.withDefaults()
	if len(data) > l.MaxDefinitionBytes {
		return def, nil, &models.Error{
			Code:    models.TooLarge,
			Message: "the definition is too large",
			Details: []models.Problem{{Message: fmt.Sprintf("the definition is %d bytes; the limit is %d", len(data), l.MaxDefinitionBytes)}},
		}
	}
	var raw any
	budget := maxValueNodes
	if f == FormatYAML {
		var tokens int
		raw, tokens, err = decodeYAML(data)
		// Aliases may repeat what was written, but not without bound.
		budget = min(maxValueNodes, aliasExpansion*tokens+1000)
	} else {
		raw, err = decodeJSONBounded(data)
	}
	if err != nil {
		return def, nil, err
	}
	raw, err = normalise(raw, 0, &budget)
	if err != nil {
		var bn *badNumber
		if errors.As(err, &bn) {
			return def, nil, models.Problems("the definition holds a number it cannot keep",
				[]models.Problem{{Path: strings.TrimPrefix(bn.path, "."), Message: bn.Error()}})
		}
		var me *models.Error
		if errors.As(err, &me) {
			return def, nil, err
		}
		return def, nil, &models.Error{Code: models.Invalid, Message: "the definition is too complex", Details: []models.Problem{{Message: err.Error()}}}
	}
	if raw == nil {
		return def, nil, &models.Error{Code: models.BadRequest, Message: "the definition is empty"}
	}
	if _, ok := raw.(map[string]any); !ok {
		return def, nil, &models.Error{Code: models.Invalid, Message: "the definition must be an object",
			Details: []models.Problem{{Message: fmt.Sprintf("the definition must be an object with id, name and steps, not %s", kindOf(raw))}}}
	}
	var sc shapeChecker
	sc.check(reflect.TypeOf(models.Definition{}), raw, "")
	// The shape checker removed what does not fit, so this decoding cannot
	// fail on types; going through encoding/json keeps one set of rules
	// (the struct tags and Duration's UnmarshalJSON) for both formats.
	buf, err := json.Marshal(raw)
	if err != nil {
		return def, nil, models.Errorf(models.Invalid, "the definition cannot be read: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(buf))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&def); err != nil {
		return models.Definition{}, nil, models.Problems("the definition cannot be read", []models.Problem{{Message: err.Error()}})
	}
	return def, sc.problems, nil
}

func jsonSyntaxError(data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// Read token by token, Offset is at the offending byte.
		line, col := lineCol(data, int(se.Offset))
		return models.Errorf(models.BadRequest, "JSON syntax error at line %d, column %d: %s", line, col, se.Error())
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		line, col := lineCol(data, len(data))
		return models.Errorf(models.BadRequest, "JSON syntax error at line %d, column %d: unexpected end of input", line, col)
	}
	return models.Errorf(models.BadRequest, "JSON syntax error: %v", err)
}

// lineCol returns the 1-based line and column (in runes) of a byte offset.
func lineCol(data []byte, off int) (int, int) {
	off = max(0, min(off, len(data)))
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	start := bytes.LastIndexByte(data[:off], '\n') + 1
	return line, 1 + len([]rune(string(data[start:off])))
}

// decodeYAML pre-scans data (see prescanYAML) and then decodes it; it
// returns the number of tokens, which bounds alias expansion.
func decodeYAML(data []byte) (v any, tokens int, err error) {
	// The YAML library has panicked on odd input in the past; a hostile
	// definition must get an error, never take the server down.
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, models.Errorf(models.BadRequest, "YAML syntax error: %v", r)
		}
	}()
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, 0, &models.Error{Code: models.BadRequest, Message: "the definition is empty"}
	}
	if tokens, err = prescanYAML(data); err != nil {
		return nil, tokens, err
	}
	err = yaml.UnmarshalWithOptions(data, &v, yaml.Strict())
	if err != nil {
		return nil, tokens, yamlError(err)
	}
	return v, tokens, nil
}

// yamlError reports a YAML error with its line and column, without the
// library's multi-line source excerpt.
func yamlError(err error) error {
	var te interface {
		GetToken() *token.Token
		GetMessage() string
	}
	if errors.As(err, &te) {
		if tk := te.GetToken(); tk != nil && tk.Position != nil {
			return models.Errorf(models.BadRequest, "YAML syntax error at line %d, column %d: %s", tk.Position.Line, tk.Position.Column, te.GetMessage())
		}
		return models.Errorf(models.BadRequest, "YAML syntax error: %s", te.GetMessage())
	}
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return models.Errorf(models.BadRequest, "YAML syntax error: %s", msg)
}

// badNumber is a YAML number no JSON document can hold (.inf, -.inf,
// .nan), found at path (built while normalise unwinds).
type badNumber struct {
	value float64
	path  string
}

func (b *badNumber) Error() string {
	return fmt.Sprintf("%v is not a number a definition can hold (YAML's .inf and .nan have no JSON form); quote it to mean the text", b.value)
}

// atPath prefixes the path of a badNumber with the key or index it was
// found under; other errors pass unchanged.
func atPath(err error, step string) error {
	var b *badNumber
	if errors.As(err, &b) {
		b.path = step + b.path
	}
	return err
}

// normalise turns a decoded document into the values encoding/json would
// produce (map[string]any, []any, float64, string, bool, nil), so YAML and
// JSON definitions are the same from here on. It counts values against
// budget and refuses deep nesting.
func normalise(v any, depth int, budget *int) (any, error) {
	*budget--
	if *budget < 0 {
		return nil, fmt.Errorf("the definition holds too many values after expanding YAML aliases (more than %d times what is written)", aliasExpansion)
	}
	if depth > maxDepth {
		return nil, fmt.Errorf("the definition is nested more than %d levels deep", maxDepth)
	}
	switch v := v.(type) {
	case nil, string, bool:
		return v, nil
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, &badNumber{value: v}
		}
		return v, nil
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return nil, models.Errorf(models.BadRequest, "the number %s is out of range", v)
		}
		if i, err := v.Int64(); err == nil && !exactFloat(i) {
			return nil, inexactInteger(v.String())
		}
		return f, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			n, err := normalise(x, depth+1, budget)
			if err != nil {
				return nil, atPath(err, keyPath(k))
			}
			out[k] = n
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			n, err := normalise(x, depth+1, budget)
			if err != nil {
				return nil, atPath(err, keyPath(fmt.Sprint(k)))
			}
			out[fmt.Sprint(k)] = n
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			n, err := normalise(x, depth+1, budget)
			if err != nil {
				return nil, atPath(err, "["+strconv.Itoa(i)+"]")
			}
			out[i] = n
		}
		return out, nil
	case int:
		if !exactFloat(int64(v)) {
			return nil, inexactInteger(strconv.Itoa(v))
		}
		return float64(v), nil
	case int64:
		if !exactFloat(v) {
			return nil, inexactInteger(strconv.FormatInt(v, 10))
		}
		return float64(v), nil
	case uint64:
		if v > 1<<53 {
			return nil, inexactInteger(strconv.FormatUint(v, 10))
		}
		return float64(v), nil
	case float32:
		return normalise(float64(v), depth, budget)
	case time.Time:
		return v.Format(time.RFC3339Nano), nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(rv.Uint()), nil
	case reflect.Float32, reflect.Float64:
		return rv.Float(), nil
	case reflect.String:
		return rv.String(), nil
	case reflect.Bool:
		return rv.Bool(), nil
	}
	return fmt.Sprint(v), nil
}

// exactFloat reports whether i survives the trip through float64, the
// one number type of a decoded definition.
func exactFloat(i int64) bool { return i >= -(1<<53) && i <= 1<<53 }

// inexactInteger refuses an integer that a float64 cannot hold exactly,
// rather than silently changing it (9007199254740993 would become
// ...992).
func inexactInteger(lit string) error {
	return &models.Error{Code: models.Invalid, Message: "the definition holds an integer too large to keep exactly",
		Details: []models.Problem{{Message: fmt.Sprintf("the integer %s is beyond ±2^53 and cannot be kept exactly; write it as a string", lit)}}}
}

// kindOf names a decoded JSON value's kind for messages.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}

var (
	durationType = reflect.TypeOf(models.Duration(0))
	stepRefsType = reflect.TypeOf(models.StepRefs(nil))
)

// shapeChecker compares a decoded document with the Go types of the format
// and lists every unknown field and every value of the wrong type, which
// encoding/json would report one at a time.
type shapeChecker struct {
	problems []models.Problem
}

func (sc *shapeChecker) add(path, format string, args ...any) {
	sc.problems = append(sc.problems, models.Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// check reports whether v fits t; it deletes what does not fit from maps
// and nulls it in lists, so that the rest can still be decoded.
func (sc *shapeChecker) check(t reflect.Type, v any, path string) bool {
	if v == nil {
		return true // null is "not set" everywhere in the format
	}
	if t == stepRefsType {
		// A step id, or a list of them (a branch that fans out).
		if _, ok := v.(string); ok {
			return true
		}
		t = reflect.TypeOf([]string(nil))
	}
	if t == durationType {
		switch d := v.(type) {
		case float64:
			if d < 0 || d != math.Trunc(d) || d > math.MaxInt64/2 {
				sc.add(path, "a duration in milliseconds must be a whole number of at least 0, not %v", d)
				return false
			}
		case string:
			if _, err := models.ParseDuration(d); err != nil {
				sc.add(path, "%v", err)
				return false
			}
		default:
			sc.add(path, "must be a duration (milliseconds, or a string such as \"1.5s\"), not %s", kindOf(v))
			return false
		}
		return true
	}
	switch t.Kind() {
	case reflect.Pointer:
		return sc.check(t.Elem(), v, path)
	case reflect.Interface:
		return true // any: a JSON value of any kind
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			sc.add(path, "must be an object, not %s", kindOf(v))
			return false
		}
		fields := structFields(t)
		names := make([]string, 0, len(fields))
		for name := range fields {
			names = append(names, name)
		}
		for _, k := range sortedKeys(m) {
			sub := joinPath(path, k)
			f, ok := fields[k]
			if !ok {
				sc.add(sub, "unknown field %q%s", k, didYouMean(k, names))
				delete(m, k)
				continue
			}
			if !sc.check(f, m[k], sub) {
				delete(m, k)
			}
		}
		return true
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			sc.add(path, "must be an object, not %s", kindOf(v))
			return false
		}
		for _, k := range sortedKeys(m) {
			if !sc.check(t.Elem(), m[k], path+keyPath(k)) {
				delete(m, k)
			}
		}
		return true
	case reflect.Slice:
		l, ok := v.([]any)
		if !ok {
			sc.add(path, "must be a list, not %s", kindOf(v))
			return false
		}
		for i, x := range l {
			if !sc.check(t.Elem(), x, path+"["+strconv.Itoa(i)+"]") {
				l[i] = nil
			}
		}
		return true
	case reflect.String:
		if _, ok := v.(string); !ok {
			sc.add(path, "must be a string, not %s", kindOf(v))
			return false
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			sc.add(path, "must be true or false, not %s", kindOf(v))
			return false
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, ok := v.(float64)
		switch {
		case !ok:
			sc.add(path, "must be a whole number, not %s", kindOf(v))
			return false
		case n != math.Trunc(n) || math.Abs(n) > 1<<53:
			sc.add(path, "must be a whole number, not %v", n)
			return false
		}
	case reflect.Float64, reflect.Float32:
		if _, ok := v.(float64); !ok {
			sc.add(path, "must be a number, not %s", kindOf(v))
			return false
		}
	default:
		sc.add(path, "cannot hold %s", kindOf(v))
		return false
	}
	return true
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + keyPath(key)
}

// structFields maps the JSON names of t's fields to their types.
func structFields(t reflect.Type) map[string]reflect.Type {
	out := make(map[string]reflect.Type, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}
