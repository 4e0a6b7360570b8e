package plan

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/baton-run/baton/models"
)

// Template is a compiled template string: literal text with {{ expr }}
// placeholders. A string that is exactly one placeholder keeps the value's
// type; otherwise each value is formatted into the text.
type Template struct {
	src   string
	path  string
	parts []tplPart
	whole *Expr // set when src is exactly one placeholder
	max   int   // Limits.MaxRenderBytes; 0: the default
}

// renderBudget is what is left of the bytes a render may write: one per
// step action (shared by all its fields) or one per template rendered
// alone. Each piece is checked against it before it is written, so an
// over-budget render stops at the piece that would cross the limit
// instead of building the whole and measuring it.
type renderBudget struct {
	left, limit int
}

func newRenderBudget(limit int) *renderBudget {
	if limit <= 0 {
		limit = Limits{}.withDefaults().MaxRenderBytes
	}
	return &renderBudget{left: limit, limit: limit}
}

// take charges n bytes, or says why they do not fit.
func (b *renderBudget) take(n int, path, src string) error {
	if n > b.left {
		what := "the template"
		if src != "" {
			what = "{{ " + strings.TrimSpace(src) + " }}"
		}
		return &EvalError{Path: path, Message: fmt.Sprintf("the rendered text would be more than %d bytes, the limit for one step's fields (%s would add %d bytes)", b.limit, what, n)}
	}
	b.left -= n
	return nil
}

// valueBytes estimates the text size of v (its strings, and 8 bytes for
// anything else), stopping as soon as it passes limit.
func valueBytes(v any, limit int) int {
	switch v := v.(type) {
	case string:
		return len(v)
	case map[string]any:
		n := 0
		for k, x := range v {
			n += len(k) + valueBytes(x, limit-n)
			if n > limit {
				break
			}
		}
		return n
	case []any:
		n := 0
		for _, x := range v {
			n += 1 + valueBytes(x, limit-n)
			if n > limit {
				break
			}
		}
		return n
	}
	return 8
}

type tplPart struct {
	lit    string
	e      *Expr  // nil for literal text or a secret
	secret string // {{ secrets.NAME }}: NAME
}

// Source returns the template as written.
func (t *Template) Source() string { return t.src }

// IsLiteral reports whether the template has no placeholders.
func (t *Template) IsLiteral() bool {
	return t.whole == nil && (len(t.parts) == 0 || (len(t.parts) == 1 && t.parts[0].e == nil && t.parts[0].secret == ""))
}

// Render evaluates the template: a whole-string placeholder gives the value
// itself (a number stays a number); anything else gives a string, with maps
// and lists written as JSON and null as the empty string.
//
// The text rendered is at most Limits.MaxRenderBytes; see render.
func (t *Template) Render(s *Scope) (any, error) {
	return t.render(s, newRenderBudget(t.max))
}

// render is Render charging what it writes to budget.
func (t *Template) render(s *Scope, budget *renderBudget) (any, error) {
	if t.whole != nil {
		v, err := t.whole.Eval(s)
		if err != nil {
			return nil, err
		}
		if err := budget.take(valueBytes(v, budget.left), t.path, t.whole.src); err != nil {
			return nil, err
		}
		return v, nil
	}
	if len(t.parts) == 1 && t.parts[0].e == nil && t.parts[0].secret == "" {
		if err := budget.take(len(t.parts[0].lit), t.path, ""); err != nil {
			return nil, err
		}
		return t.parts[0].lit, nil
	}
	var b strings.Builder
	var piece strings.Builder
	for _, p := range t.parts {
		if p.secret != "" {
			v, err := s.secret(p.secret)
			if err != nil {
				return nil, &EvalError{Path: t.path, Message: fmt.Sprintf("{{ secrets.%s }}: %v", p.secret, err)}
			}
			if err := budget.take(len(v), t.path, "secrets."+p.secret); err != nil {
				return nil, err
			}
			b.WriteString(v)
			continue
		}
		if p.e == nil {
			if err := budget.take(len(p.lit), t.path, ""); err != nil {
				return nil, err
			}
			b.WriteString(p.lit)
			continue
		}
		v, err := p.e.Eval(s)
		if err != nil {
			return nil, err
		}
		if str, ok := v.(string); ok {
			// The common case, checked before it is copied.
			if err := budget.take(len(str), t.path, p.e.src); err != nil {
				return nil, err
			}
			b.WriteString(str)
			continue
		}
		piece.Reset()
		if err := formatValue(&piece, v); err != nil {
			return nil, &EvalError{Path: t.path, Message: fmt.Sprintf("{{ %s }}: %v", strings.TrimSpace(p.e.src), err)}
		}
		if err := budget.take(piece.Len(), t.path, p.e.src); err != nil {
			return nil, err
		}
		b.WriteString(piece.String())
	}
	return b.String(), nil
}

// RenderString renders the template and formats a non-string result as text,
// for fields that must be strings (a URL, a header).
func (t *Template) RenderString(s *Scope) (string, error) {
	return t.renderString(s, newRenderBudget(t.max))
}

func (t *Template) renderString(s *Scope, budget *renderBudget) (string, error) {
	v, err := t.render(s, budget)
	if err != nil {
		return "", err
	}
	if str, ok := v.(string); ok {
		return str, nil
	}
	var b strings.Builder
	if err := formatValue(&b, v); err != nil {
		return "", &EvalError{Path: t.path, Message: err.Error()}
	}
	return b.String(), nil
}

// formatValue writes v as template text.
func formatValue(b *strings.Builder, v any) error {
	switch v := v.(type) {
	case nil:
	case string:
		b.WriteString(v)
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case int:
		b.WriteString(strconv.Itoa(v))
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
			return nil
		}
		if v == math.Trunc(v) && math.Abs(v) < 1e21 {
			b.WriteString(strconv.FormatFloat(v, 'f', -1, 64))
			return nil
		}
		b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	default:
		data, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("cannot write %s as text", describe(v))
		}
		b.Write(data)
	}
	return nil
}

// parseTemplate compiles a template string found at path.
func parseTemplate(src, path string, env *exprEnv, xc *exprCompiler) (*Template, []string) {
	t := &Template{src: src, path: path, max: xc.maxRender}
	var problems []string
	rest, offset := src, 0 // offset: runes of src before rest
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			if rest != "" || len(t.parts) == 0 {
				t.parts = append(t.parts, tplPart{lit: rest})
			}
			break
		}
		if i > 0 {
			t.parts = append(t.parts, tplPart{lit: rest[:i]})
		}
		open := offset + utf8.RuneCountInString(rest[:i])
		j := strings.Index(rest[i+2:], "}}")
		if j < 0 {
			problems = append(problems, fmt.Sprintf("column %d: unclosed \"{{\": close it with \"}}\"", open+1))
			break
		}
		code := rest[i+2 : i+2+j]
		// The expression's own columns count from its first rune; shift them
		// so that they point into the whole string.
		shift := open + 2
		if m := secretRef.FindStringSubmatch(code); m != nil {
			t.parts = append(t.parts, tplPart{secret: m[1]})
		} else if strings.TrimSpace(code) == "" {
			problems = append(problems, fmt.Sprintf("column %d: empty placeholder \"{{}}\"", open+1))
		} else {
			e, msgs := xc.compile(code, path, env, false, shift)
			problems = append(problems, msgs...)
			if e != nil {
				e.src = strings.TrimSpace(code)
				t.parts = append(t.parts, tplPart{e: e})
			}
		}
		consumed := rest[:i+2+j+2]
		offset += utf8.RuneCountInString(consumed)
		rest = rest[i+2+j+2:]
	}
	if len(problems) > 0 {
		return nil, problems
	}
	if len(t.parts) == 1 && t.parts[0].e != nil {
		t.whole = t.parts[0].e
	}
	return t, nil
}

// valueTemplate is a JSON value whose strings are templates: an HTTP body,
// a set action's values, a subworkflow's inputs, the run's outputs.
type valueTemplate struct {
	tpl *Template // a string
	lit any       // any other scalar
	obj map[string]*valueTemplate
	arr []*valueTemplate
	// static is true when nothing below has a placeholder, so Render can
	// return lit without copying.
	static bool
}

func (c *compiler) valueTemplate(v any, path string, env *exprEnv) *valueTemplate {
	switch v := v.(type) {
	case string:
		t := c.template(v, path, env)
		if t == nil {
			return nil
		}
		if t.IsLiteral() {
			return &valueTemplate{lit: v, static: true}
		}
		return &valueTemplate{tpl: t}
	case map[string]any:
		vt := &valueTemplate{obj: make(map[string]*valueTemplate, len(v)), static: true, lit: v}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			child := c.valueTemplate(v[k], path+keyPath(k), env)
			if child == nil {
				return nil
			}
			vt.obj[k] = child
			vt.static = vt.static && child.static
		}
		return vt
	case []any:
		vt := &valueTemplate{arr: make([]*valueTemplate, len(v)), static: true, lit: v}
		for i, x := range v {
			child := c.valueTemplate(x, fmt.Sprintf("%s[%d]", path, i), env)
			if child == nil {
				return nil
			}
			vt.arr[i] = child
			vt.static = vt.static && child.static
		}
		return vt
	default:
		return &valueTemplate{lit: v, static: true}
	}
}

// render builds the value; parts without placeholders are shared, not
// copied, since nothing mutates them.
func (vt *valueTemplate) render(s *Scope, budget *renderBudget) (any, error) {
	switch {
	case vt.static:
		return vt.lit, nil
	case vt.tpl != nil:
		return vt.tpl.render(s, budget)
	case vt.obj != nil:
		out := make(map[string]any, len(vt.obj))
		for k, child := range vt.obj {
			v, err := child.render(s, budget)
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	case vt.arr != nil:
		out := make([]any, len(vt.arr))
		for i, child := range vt.arr {
			v, err := child.render(s, budget)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	return vt.lit, nil
}

func renderMap(m map[string]*valueTemplate, s *Scope, budget *renderBudget) (map[string]any, error) {
	if m == nil {
		return nil, nil
	}
	out := make(map[string]any, len(m))
	for k, vt := range m {
		v, err := vt.render(s, budget)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// ActionTemplate is a command action with every template field compiled.
type ActionTemplate struct {
	action  models.Action
	method  *Template
	url     *Template
	max     int // Limits.MaxRenderBytes, for all the fields together
	message *Template
	tmpl    *Template
	command *Template
	device  *Template
	headers map[string]*Template
	env     map[string]*Template
	query   map[string]*Template
	args    []*Template
	body    *valueTemplate
	values  map[string]*valueTemplate
	inputs  map[string]*valueTemplate
}

// Action returns the action as written (canonical form), not rendered.
func (a *ActionTemplate) Action() models.Action { return a.action }

// Render returns a copy of the action with every template field rendered:
// method, URL, headers, query, message, body (recursively), values,
// subworkflow template and inputs, device command, arguments, environment
// and pinned device.
//
// All the fields together write at most Limits.MaxRenderBytes.
func (a *ActionTemplate) Render(s *Scope) (models.Action, error) {
	out := a.action
	var err error
	budget := newRenderBudget(a.max)
	str := func(t *Template, dst *string) {
		if err != nil || t == nil {
			return
		}
		*dst, err = t.renderString(s, budget)
	}
	str(a.method, &out.Method)
	str(a.url, &out.URL)
	str(a.message, &out.Message)
	str(a.tmpl, &out.Template)
	str(a.command, &out.Command)
	str(a.device, &out.Device)
	if err != nil {
		return models.Action{}, err
	}
	out.Headers, err = renderStrings(a.headers, s, budget)
	if err != nil {
		return models.Action{}, err
	}
	out.Query, err = renderStrings(a.query, s, budget)
	if err != nil {
		return models.Action{}, err
	}
	out.Env, err = renderStrings(a.env, s, budget)
	if err != nil {
		return models.Action{}, err
	}
	if a.args != nil {
		out.Args = make([]string, len(a.args))
		for i, t := range a.args {
			if out.Args[i], err = t.renderString(s, budget); err != nil {
				return models.Action{}, err
			}
		}
	}
	if a.body != nil {
		if out.Body, err = a.body.render(s, budget); err != nil {
			return models.Action{}, err
		}
	}
	if out.Values, err = renderMap(a.values, s, budget); err != nil {
		return models.Action{}, err
	}
	if out.Inputs, err = renderMap(a.inputs, s, budget); err != nil {
		return models.Action{}, err
	}
	return out, nil
}

func renderStrings(m map[string]*Template, s *Scope, budget *renderBudget) (map[string]string, error) {
	if m == nil {
		return nil, nil
	}
	out := make(map[string]string, len(m))
	for k, t := range m {
		v, err := t.renderString(s, budget)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// template compiles one template field, recording its problems.
func (c *compiler) template(src, path string, env *exprEnv) *Template {
	t, msgs := parseTemplate(src, path, env, c.xc)
	if t != nil {
		t.max = c.limits.MaxRenderBytes
	}
	for _, m := range msgs {
		c.add(path, m)
	}
	return t
}

// actionTemplate compiles a command action's template fields.
func (c *compiler) actionTemplate(a models.Action, path string, env *exprEnv) *ActionTemplate {
	at := &ActionTemplate{action: a, max: c.limits.MaxRenderBytes}
	ok := true
	one := func(src, field string) *Template {
		if src == "" {
			return nil
		}
		t := c.template(src, path+"."+field, env)
		if t == nil {
			ok = false
		}
		return t
	}
	many := func(m map[string]string, field string) map[string]*Template {
		if m == nil {
			return nil
		}
		out := make(map[string]*Template, len(m))
		for _, k := range sortedKeys(m) {
			t := c.template(m[k], path+"."+field+keyPath(k), env)
			if t == nil {
				ok = false
				continue
			}
			out[k] = t
		}
		return out
	}
	tree := func(m map[string]any, field string) map[string]*valueTemplate {
		if m == nil {
			return nil
		}
		out := make(map[string]*valueTemplate, len(m))
		for _, k := range sortedKeys(m) {
			vt := c.valueTemplate(m[k], path+"."+field+keyPath(k), env)
			if vt == nil {
				ok = false
				continue
			}
			out[k] = vt
		}
		return out
	}
	at.method = one(a.Method, "method")
	at.url = one(a.URL, "url")
	at.message = one(a.Message, "message")
	at.tmpl = one(a.Template, "template")
	at.command = one(a.Command, "command")
	at.device = one(a.Device, "device")
	at.headers = many(a.Headers, "headers")
	at.env = many(a.Env, "env")
	at.query = many(a.Query, "query")
	if a.Args != nil {
		at.args = make([]*Template, len(a.Args))
		for i, s := range a.Args {
			at.args[i] = c.template(s, fmt.Sprintf("%s.args[%d]", path, i), env)
			if at.args[i] == nil {
				ok = false
			}
		}
	}
	if a.Body != nil {
		at.body = c.valueTemplate(a.Body, path+".body", env)
		if at.body == nil {
			ok = false
		}
	}
	at.values = tree(a.Values, "values")
	at.inputs = tree(a.Inputs, "inputs")
	if !ok {
		return nil
	}
	return at
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
