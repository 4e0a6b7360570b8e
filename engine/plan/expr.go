package plan

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/checker"
	"github.com/expr-lang/expr/checker/nature"
	exprcompiler "github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/optimizer"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/types"
	"github.com/expr-lang/expr/vm"
)

// Guards against hostile expressions. The length limit is configurable
// (Limits.MaxExpressionBytes); these two are not, because no honest
// condition comes near them.
const (
	// exprMaxNodes bounds the size of an expression's syntax tree, so a
	// definition cannot make the checker or the compiler work for long.
	exprMaxNodes = 2000
	// exprMemoryBudget bounds what one evaluation may allocate (in expr's
	// units: roughly elements of ranges, lists and maps built), so
	// `1..1e9` or nested predicates fail fast instead of eating the server.
	exprMemoryBudget = 1_000_000
)

// EvalError is a failure to evaluate an expression or render a template at
// run time: a missing field, a wrong type, a non-boolean condition. The
// Engine treats it as a non-retryable "expression_error".
type EvalError struct {
	Path    string // where the expression is in the definition, e.g. "steps[2].when"
	Message string
}

// Error returns "path: message".
func (e *EvalError) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

// Expr is a compiled expression. It is immutable and safe for concurrent
// use; each evaluation borrows a VM from a pool so that evaluating a
// condition allocates (almost) nothing.
type Expr struct {
	src     string
	path    string
	program *vm.Program
	isBool  bool
	flat    bool // compiled against a flat environment (see exprEnv)
}

// Source returns the expression as written.
func (e *Expr) Source() string { return e.src }

// vms recycles expr virtual machines: a VM keeps its stack between runs, so
// reusing one is what makes a condition evaluation allocation-free.
var vms = sync.Pool{New: func() any { return &vm.VM{MemoryBudget: exprMemoryBudget} }}

// Eval evaluates the expression against the scope.
func (e *Expr) Eval(s *Scope) (any, error) {
	if s == nil {
		return nil, &EvalError{Path: e.path, Message: "no scope to evaluate in"}
	}
	env := s.env
	if e.flat && s.root != nil {
		// A flat expression names nothing of an element's scope, and only
		// the run's scope holds the flat names.
		env = s.root.env
	}
	m := vms.Get().(*vm.VM)
	out, err := m.Run(e.program, env)
	vms.Put(m)
	if err != nil {
		return nil, &EvalError{Path: e.path, Message: exprErrorMessage(err, 0)}
	}
	return out, nil
}

// Bool evaluates the expression and requires a boolean result.
func (e *Expr) Bool(s *Scope) (bool, error) {
	out, err := e.Eval(s)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, &EvalError{Path: e.path, Message: fmt.Sprintf("expression %q must give true or false, not %s", e.src, describe(out))}
	}
	return b, nil
}

// describe names a value's kind in the words of the definition format.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return fmt.Sprintf("the boolean %v", v)
	case string:
		return fmt.Sprintf("the string %q", truncate(v, 40))
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return fmt.Sprintf("the number %v", v)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	default:
		return fmt.Sprintf("a value of type %T", v)
	}
}

// kindName turns a checker type name into the format's words.
func kindName(t string) string {
	switch {
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"), strings.HasPrefix(t, "float"):
		return "a number"
	case t == "string":
		return "a string"
	case strings.HasPrefix(t, "map"), strings.HasPrefix(t, "Map"):
		return "an object"
	case strings.HasPrefix(t, "[]"), strings.HasPrefix(t, "Array"):
		return "a list"
	case t == "nil":
		return "null"
	}
	return "a value of type " + t
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// exprErrorMessage turns an expr error into one line a person can act on,
// with the (1-based) column of the problem; colOffset shifts the column for
// expressions that sit inside a longer template string.
func exprErrorMessage(err error, colOffset int) string {
	var fe *file.Error
	if errors.As(err, &fe) {
		msg := fe.Message
		if fe.Line > 1 {
			return fmt.Sprintf("line %d, column %d: %s", fe.Line, fe.Column+1, msg)
		}
		return fmt.Sprintf("column %d: %s", fe.Column+1+colOffset, msg)
	}
	return err.Error()
}

// stepFields are the fields of steps.<id>.
var stepFields = []string{"attempts", "error", "output", "status"}

// runFields are the fields of run.
var runFields = []string{"id", "startedAt", "template", "version"}

// exprEnv is what an expression may name: the typed environment the expr
// checker sees, precomputed once per compilation (converting a types.Map of
// a thousand steps into the checker's Nature is the expensive part of
// compiling an expression, so it is done once, not per expression).
//
// In a flat environment, steps.<id>, inputs.<name> and run.<field> are also
// top-level names ("steps.check" is one name). A patch rewrites those member
// accesses into the flat names, which the VM loads straight from the scope's
// map; without it, every access is a reflective map lookup that allocates.
// That halves the allocations of a typical condition. forEach environments
// are not flat, so that a scope per element stays a small map.
type exprEnv struct {
	nature  nature.Nature
	typ     types.Map
	flat    bool
	inputs  []string // declared input names, sorted, for suggestions
	steps   []string // step ids, sorted, for suggestions
	names   []string // top-level names, sorted
	inputOK map[string]bool
	stepOK  map[string]bool
}

// newExprEnv builds the environment of a definition's expressions; item is
// the forEach element's name ("" outside a forEach, where the environment
// is flat).
func newExprEnv(inputs map[string]types.Type, stepIDs []string, item string) *exprEnv {
	// The same step type is used a thousand times; its Nature is worked
	// out once.
	stepType := fixedType(types.Map{
		"status":   types.String,
		"output":   types.Any,
		"error":    types.Any,
		"attempts": types.Int,
	})
	runType := types.Map{
		"id":        types.String,
		"template":  types.String,
		"version":   types.Int,
		"startedAt": types.String,
	}
	steps := make(types.Map, len(stepIDs))
	env := &exprEnv{inputOK: map[string]bool{}, stepOK: map[string]bool{}, flat: item == ""}
	env.typ = make(types.Map, 3+len(stepIDs)+len(inputs)+len(runType))
	for _, id := range stepIDs {
		steps[id] = stepType
		env.stepOK[id] = true
		env.steps = append(env.steps, id)
		if env.flat {
			env.typ["steps."+id] = stepType
		}
	}
	in := make(types.Map, len(inputs))
	for name, t := range inputs {
		in[name] = t
		env.inputOK[name] = true
		env.inputs = append(env.inputs, name)
		if env.flat {
			env.typ["inputs."+name] = t
		}
	}
	if env.flat {
		for f, t := range runType {
			env.typ["run."+f] = t
		}
	}
	env.typ["inputs"] = in
	env.typ["steps"] = steps
	env.typ["run"] = runType
	env.names = []string{"inputs", "run", "steps"}
	if item != "" {
		env.typ[item] = types.Any
		env.typ["index"] = types.Int
		env.names = append(env.names, item, "index")
	}
	sort.Strings(env.inputs)
	sort.Strings(env.steps)
	sort.Strings(env.names)
	env.nature = env.typ.Nature()
	return env
}

// fixedNature is a types.Type whose Nature is computed once.
type fixedNature struct {
	types.Type
	n nature.Nature
}

func fixedType(t types.Type) types.Type { return fixedNature{Type: t, n: t.Nature()} }

func (f fixedNature) Nature() nature.Nature { return f.n }

// flatName returns the flat name of base.prop, or "" when there is none.
func (env *exprEnv) flatName(base, prop string) string {
	if !env.flat {
		return ""
	}
	switch base {
	case "steps":
		if env.stepOK[prop] {
			return "steps." + prop
		}
	case "inputs":
		if env.inputOK[prop] {
			return "inputs." + prop
		}
	case "run":
		if contains(runFields, prop) {
			return "run." + prop
		}
	}
	return ""
}

// Visit is the flattening patch: steps.<id> becomes the name "steps.<id>".
func (env *exprEnv) Visit(node *ast.Node) {
	m, ok := (*node).(*ast.MemberNode)
	if !ok || m.Optional {
		return
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	if !ok {
		return
	}
	prop, ok := m.Property.(*ast.StringNode)
	if !ok {
		return
	}
	if name := env.flatName(id.Value, prop.Value); name != "" {
		ast.Patch(node, &ast.IdentifierNode{Value: name})
	}
}

// exprCompiler compiles the expressions of one definition. It keeps one expr
// configuration for all of them: creating a configuration copies expr's
// table of built-in functions, which would otherwise dominate compiling.
//
// It also remembers what it compiled: definitions repeat the same
// expressions ("{{ inputs.baseUrl }}" in every URL), and a compiled program
// is immutable, so each repetition shares the first one's program.
type exprCompiler struct {
	cfg      *conf.Config
	maxBytes int
	// maxRender is Limits.MaxRenderBytes, given to the templates compiled.
	maxRender int
	done      map[exprKey]*vm.Program
}

type exprKey struct {
	src    string
	env    *exprEnv
	asBool bool
}

func newExprCompiler(maxBytes int) *exprCompiler {
	cfg := conf.CreateNew()
	cfg.MaxNodes = exprMaxNodes
	return &exprCompiler{cfg: cfg, maxBytes: maxBytes, done: map[exprKey]*vm.Program{}}
}

// compile compiles src for the field at path. colOffset is where src
// starts inside its field (for templates). It returns the problems found.
func (xc *exprCompiler) compile(src, path string, env *exprEnv, asBool bool, colOffset int) (*Expr, []string) {
	if strings.TrimSpace(src) == "" {
		return nil, []string{"expression is empty"}
	}
	if len(src) > xc.maxBytes {
		return nil, []string{fmt.Sprintf("expression is %d bytes; the limit is %d", len(src), xc.maxBytes)}
	}
	key := exprKey{src: src, env: env, asBool: asBool}
	if program, ok := xc.done[key]; ok {
		return &Expr{src: src, path: path, program: program, isBool: asBool, flat: env.flat}, nil
	}
	cfg := xc.cfg
	cfg.EnvObject = env.typ
	cfg.Env = env.nature
	cfg.Strict = true
	cfg.Expect, cfg.ExpectAny = reflect.Invalid, false
	if asBool {
		cfg.Expect, cfg.ExpectAny = reflect.Bool, true
	}
	cfg.Visitors = append(cfg.Visitors[:0], plusPatch{})
	if env.flat {
		cfg.Visitors = append(cfg.Visitors, env)
	}
	tree, err := parser.ParseWithConfig(src, cfg)
	if err != nil {
		return nil, []string{exprErrorMessage(err, colOffset)}
	}
	if msgs := env.checkNames(tree, src, colOffset); len(msgs) > 0 {
		return nil, msgs
	}
	program, err := xc.build(tree, cfg)
	if err != nil {
		msg := exprErrorMessage(err, colOffset)
		if rest, ok := strings.CutPrefix(msg, "expected bool, but got "); ok {
			// The checker's message for a condition of the wrong type names
			// no position: the whole expression is at fault.
			msg = fmt.Sprintf("a condition must give true or false, but this gives %s", kindName(rest))
		}
		if i := strings.Index(msg, "unknown name "); i >= 0 {
			name := strings.TrimSpace(strings.SplitN(msg[i+len("unknown name "):], " ", 2)[0])
			msg = fmt.Sprintf("%sunknown name %q%s: expressions see %s", msg[:i], name, didYouMean(name, env.names), strings.Join(env.names, ", "))
		}
		return nil, []string{msg}
	}
	xc.done[key] = program
	return &Expr{src: src, path: path, program: program, isBool: asBool, flat: env.flat}, nil
}

// build does what expr.Compile does after parsing: patch, type-check,
// optimise, generate code.
func (xc *exprCompiler) build(tree *parser.Tree, cfg *conf.Config) (program *vm.Program, err error) {
	// The checker and optimiser are not meant to panic, but a definition
	// is untrusted input: a panic must become a problem, not a crash.
	defer func() {
		if r := recover(); r != nil {
			program, err = nil, fmt.Errorf("the expression cannot be compiled: %v", r)
		}
	}()
	if _, err := new(checker.Checker).PatchAndCheck(tree, cfg); err != nil {
		return nil, err
	}
	// The checker has refused conditions that cannot be boolean. Those of
	// unknown type (steps.x.output.ok) are checked by Bool at run time,
	// with a clearer message than the cast expr would otherwise compile in.
	cfg.Expect, cfg.ExpectAny = reflect.Invalid, false
	if err := optimizer.Optimize(&tree.Node, cfg); err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			return nil, fe.Bind(tree.Source)
		}
		return nil, err
	}
	return exprcompiler.Compile(tree, cfg)
}

// checkNames finds references to unknown steps, inputs and fields of
// steps.<id> and run, so that the message names the mistake and suggests
// the likely intent, which the expr checker's own message does not.
func (env *exprEnv) checkNames(tree *parser.Tree, src string, colOffset int) []string {
	var msgs []string
	seen := map[string]bool{}
	add := func(n ast.Node, msg string) {
		m := fmt.Sprintf("column %d: %s", column(src, n.Location().From)+colOffset, msg)
		if !seen[m] {
			seen[m] = true
			msgs = append(msgs, m)
		}
	}
	v := visitorFunc(func(node *ast.Node) {
		m, ok := (*node).(*ast.MemberNode)
		if !ok {
			return
		}
		prop, ok := m.Property.(*ast.StringNode)
		if !ok {
			return
		}
		switch base := m.Node.(type) {
		case *ast.IdentifierNode:
			switch base.Value {
			case "steps":
				if !env.stepOK[prop.Value] {
					add(m, fmt.Sprintf("unknown step %q%s", prop.Value, didYouMean(prop.Value, env.steps)))
				}
			case "inputs":
				if !env.inputOK[prop.Value] {
					add(m, fmt.Sprintf("unknown input %q%s", prop.Value, didYouMean(prop.Value, env.inputs)))
				}
			case "run":
				if !contains(runFields, prop.Value) {
					add(m, fmt.Sprintf("run has no field %q%s", prop.Value, didYouMean(prop.Value, runFields)))
				}
			}
		case *ast.MemberNode:
			if id, ok := base.Node.(*ast.IdentifierNode); ok && id.Value == "steps" {
				if _, ok := base.Property.(*ast.StringNode); ok && !contains(stepFields, prop.Value) {
					add(m, fmt.Sprintf("a step has no field %q (it has %s)%s", prop.Value, strings.Join(stepFields, ", "), didYouMean(prop.Value, stepFields)))
				}
			}
		}
	})
	ast.Walk(&tree.Node, v)
	return msgs
}

type visitorFunc func(node *ast.Node)

func (f visitorFunc) Visit(node *ast.Node) { f(node) }

// column returns the 1-based column of the rune at offset runeOffset.
func column(src string, runeOffset int) int {
	col, i := 1, 0
	for _, r := range src {
		if i == runeOffset {
			break
		}
		if r == '\n' {
			col = 1
		} else {
			col++
		}
		i++
	}
	return col
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
