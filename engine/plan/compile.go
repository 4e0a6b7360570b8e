package plan

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/baton-run/baton/models"
	"github.com/expr-lang/expr/types"
)

// Limits bound what a definition may ask for. The zero value of each field
// means the spec's default.
type Limits struct {
	MaxSteps           int // steps per workflow; default 1000
	MaxDefinitionBytes int // size of a definition as sent; default 1 MiB
	MaxExpressionBytes int // size of one expression; default 4 KiB
	MaxForEachItems    int // elements of one forEach list; default 10000
	MaxOutputBytes     int // a step's output, as JSON; default 1 MiB
	// MaxRenderBytes bounds the text one step's action renders, all its
	// template fields together (URL, headers, body, message, inputs…), and
	// one template rendered alone (a preview); default 1 MiB. It is
	// checked before each piece is written, so a template of many large
	// placeholders is refused before it is built.
	MaxRenderBytes int
}

func (l Limits) withDefaults() Limits {
	pos := func(v, def int) int {
		if v <= 0 {
			return def
		}
		return v
	}
	l.MaxSteps = pos(l.MaxSteps, 1000)
	l.MaxDefinitionBytes = pos(l.MaxDefinitionBytes, 1<<20)
	l.MaxExpressionBytes = pos(l.MaxExpressionBytes, 4<<10)
	l.MaxForEachItems = pos(l.MaxForEachItems, 10000)
	l.MaxOutputBytes = pos(l.MaxOutputBytes, 1<<20)
	l.MaxRenderBytes = pos(l.MaxRenderBytes, 1<<20)
	return l
}

// Limits returns the limits the plan was compiled with, defaults filled in.
func (p *Plan) Limits() Limits { return p.limits }

// Canonical returns the plan's definition as canonical JSON: defaults
// applied, durations in milliseconds, object keys sorted, no HTML escaping.
// Parsing it and compiling the result gives the same bytes again.
func (p *Plan) Canonical() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p.Definition); err != nil {
		return nil, models.Errorf(models.Internal, "encode definition: %v", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// List evaluates a forEach expression and requires a list of at most max
// elements (max <= 0: no limit).
func (e *Expr) List(s *Scope, max int) ([]any, error) {
	v, err := e.Eval(s)
	if err != nil {
		return nil, err
	}
	var items []any
	switch v := v.(type) {
	case []any:
		items = v
	case nil:
		return nil, &EvalError{Path: e.path, Message: fmt.Sprintf("forEach %q gave null, not a list", e.src)}
	default:
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
			return nil, &EvalError{Path: e.path, Message: fmt.Sprintf("forEach %q must give a list, not %s", e.src, describe(v))}
		}
		items = make([]any, rv.Len())
		for i := range items {
			items[i] = rv.Index(i).Interface()
		}
	}
	if max > 0 && len(items) > max {
		return nil, &EvalError{Path: e.path, Message: fmt.Sprintf("forEach %q gave %d elements; the limit is %d", e.src, len(items), max)}
	}
	return items, nil
}

// Compile validates def and compiles it with the default limits. See
// Compiler.Compile.
func Compile(def models.Definition) (*Plan, error) {
	return Compiler{}.Compile(def)
}

// Compile validates def whole and compiles it into a Plan. When anything is
// wrong it returns a *models.Error with Code Invalid and every problem found
// in Details, each with its JSON path.
func (c Compiler) Compile(def models.Definition) (*Plan, error) {
	cc := &compiler{limits: c.Limits.withDefaults()}
	p := cc.compile(def)
	if len(cc.problems) > 0 {
		sortProblems(cc.problems)
		return nil, models.Problems(problemsSummary(len(cc.problems)), cc.problems)
	}
	return p, nil
}

func problemsSummary(n int) string {
	if n == 1 {
		return "the definition has 1 problem"
	}
	return fmt.Sprintf("the definition has %d problems", n)
}

// Defaults of the retry policy (shared/spec/definition.md, Retry policy).
const (
	defaultMaxAttempts        = 1
	defaultInitialInterval    = 1000
	defaultBackoffCoefficient = 2.0
	defaultMaxInterval        = 60000
	defaultJitter             = 0.1
	maxMaxAttempts            = 100
)

var (
	stepTypes    = []string{models.StepCommand, models.StepCondition, models.StepParallel, models.StepWait}
	commandKinds = []string{models.KindHTTP, models.KindSet, models.KindLog, models.KindFail, models.KindSubworkflow, models.KindDevice}
	triggers     = []string{models.TriggerNoneFailed, models.TriggerAllSuccess, models.TriggerAllDone}
	strategies   = []string{models.StrategyFail, models.StrategyContinue, models.StrategyRollback}
	inputTypes   = []string{models.TypeString, models.TypeNumber, models.TypeInteger, models.TypeBoolean, models.TypeObject, models.TypeArray}
	httpMethods  = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
	// reservedNames may not name a forEach element: expressions already
	// use them.
	reservedNames = []string{"inputs", "steps", "run", "index", "secrets"}
)

// allowedFields lists, per step type and per command kind, the action
// fields (JSON names) that belong there.
var allowedFields = map[string][]string{
	"command/" + models.KindHTTP:        {"kind", "method", "url", "headers", "query", "body", "expectStatus"},
	"command/" + models.KindSet:         {"kind", "values"},
	"command/" + models.KindLog:         {"kind", "message"},
	"command/" + models.KindFail:        {"kind", "message", "retryable"},
	"command/" + models.KindSubworkflow: {"kind", "template", "version", "inputs"},
	"command/" + models.KindDevice:      {"kind", "require", "labels", "command", "args", "env", "strategy", "device", "queueTimeout", "fallback"},
	models.StepCondition:                {"expression", "condition", "cases", "default"},
	models.StepParallel:                 {"forEach", "as", "maxConcurrency", "failFast", "step"},
	models.StepWait:                     {"duration", "signal", "timeout"},
}

// compiler holds the state of one Compile call.
type compiler struct {
	limits   Limits
	problems []models.Problem

	def       models.Definition // the canonical copy being built
	stepIndex map[string]int    // valid, unique step ids → index
	conds     map[string]*Expr  // compiled named conditions
	condIDs   []string
	env       *exprEnv            // the run-level environment
	itemEnvs  map[string]*exprEnv // forEach environments by element name
	inputs    map[string]types.Type
	stepIDs   []string
	xc        *exprCompiler
}

func (c *compiler) add(path, msg string) {
	c.problems = append(c.problems, models.Problem{Path: path, Message: msg})
}

func (c *compiler) addf(path, format string, args ...any) {
	c.add(path, fmt.Sprintf(format, args...))
}

func (c *compiler) compile(src models.Definition) *Plan {
	c.def = src
	def := &c.def
	// Copy what the canonical form changes, so the caller's value is left
	// as it was.
	def.Steps = slices.Clone(src.Steps)
	def.ParallelGroups = slices.Clone(src.ParallelGroups)
	def.Conditions = slices.Clone(src.Conditions)

	c.checkWorkflow(def)
	c.checkInputs(def)
	c.indexSteps(def)
	c.xc = newExprCompiler(c.limits.MaxExpressionBytes)
	c.xc.maxRender = c.limits.MaxRenderBytes
	c.env = newExprEnv(c.inputs, c.stepIDs, "")
	c.itemEnvs = map[string]*exprEnv{}
	c.compileConditions(def)

	p := &Plan{
		Steps:      make([]*PlanStep, len(def.Steps)),
		Conditions: c.conds,
		Outputs:    map[string]*Template{},
		Groups:     map[string]*models.ParallelGroup{},
		byID:       make(map[string]*PlanStep, len(def.Steps)),
		limits:     c.limits,
	}
	for i := range def.Steps {
		ps := c.compileStep(def, i)
		p.Steps[i] = ps
		if _, ok := p.byID[ps.Step.ID]; !ok {
			p.byID[ps.Step.ID] = ps
		}
	}
	c.compileGroups(def, p)
	c.link(p)
	for _, name := range sortedKeys(def.Outputs) {
		path := "outputs" + keyPath(name)
		s, ok := def.Outputs[name].(string)
		if !ok {
			c.addf(path, "must be a template string, such as \"{{ steps.<id>.output }}\", not %s", describe(def.Outputs[name]))
			continue
		}
		if t := c.template(s, path, c.env); t != nil {
			p.Outputs[name] = t
		}
	}
	p.Definition = *def
	return p
}

func (c *compiler) checkWorkflow(def *models.Definition) {
	switch {
	case def.ID == "":
		c.add("id", "required")
	case !workflowIDPattern.MatchString(def.ID):
		c.addf("id", "%q is not a valid id: use %s", def.ID, workflowIDRule)
	}
	switch n := utf8.RuneCountInString(def.Name); {
	case strings.TrimSpace(def.Name) == "":
		c.add("name", "required")
	case n > 200:
		c.addf("name", "is %d characters long; the limit is 200", n)
	}
	switch {
	case len(def.Steps) == 0:
		c.add("steps", "at least one step is required")
	case len(def.Steps) > c.limits.MaxSteps:
		c.addf("steps", "%d steps; the limit is %d", len(def.Steps), c.limits.MaxSteps)
	}
	if def.MaxConcurrency < 0 {
		c.add("maxConcurrency", "must be 0 (no cap) or more")
	}
	if def.Timeout < 0 {
		c.add("timeout", "must be 0 (none) or more")
	}
	if def.ErrorHandling == nil {
		def.ErrorHandling = &models.ErrorHandling{Strategy: models.StrategyFail}
	} else {
		eh := *def.ErrorHandling
		switch {
		case eh.Strategy == "":
			c.addf("errorHandling.strategy", "required: %s", oneOf(strategies))
		case !slices.Contains(strategies, eh.Strategy):
			c.addf("errorHandling.strategy", "unknown strategy %q%s: use %s", eh.Strategy, didYouMean(eh.Strategy, strategies), oneOf(strategies))
		}
		def.ErrorHandling = &eh
	}
	base := defaultRetry()
	eff := c.retry(def.RetryPolicy, base, "retryPolicy")
	def.RetryPolicy = &eff
}

func defaultRetry() models.RetryPolicy {
	j := defaultJitter
	return models.RetryPolicy{
		MaxAttempts:        defaultMaxAttempts,
		InitialInterval:    defaultInitialInterval,
		BackoffCoefficient: defaultBackoffCoefficient,
		MaxInterval:        defaultMaxInterval,
		Jitter:             &j,
	}
}

// retry checks p (which may be nil) and returns it with every unset field
// taken from base.
func (c *compiler) retry(p *models.RetryPolicy, base models.RetryPolicy, path string) models.RetryPolicy {
	if p == nil {
		out := base
		out.NonRetryable = slices.Clone(base.NonRetryable)
		return out
	}
	if p.MaxAttempts < 0 || p.MaxAttempts > maxMaxAttempts {
		c.addf(path+".maxAttempts", "must be between 1 and %d, not %d", maxMaxAttempts, p.MaxAttempts)
	}
	if p.InitialInterval < 0 {
		c.add(path+".initialInterval", "must be 0 or more")
	}
	if p.MaxInterval < 0 {
		c.add(path+".maxInterval", "must be 0 or more")
	}
	if p.BackoffCoefficient != 0 && (p.BackoffCoefficient < 1 || p.BackoffCoefficient > 100) {
		c.addf(path+".backoffCoefficient", "must be between 1 and 100, not %v", p.BackoffCoefficient)
	}
	if p.Jitter != nil && (*p.Jitter < 0 || *p.Jitter > 1) {
		c.addf(path+".jitter", "must be between 0 and 1, not %v", *p.Jitter)
	}
	for i, code := range p.NonRetryable {
		if strings.TrimSpace(code) == "" {
			c.addf(fmt.Sprintf("%s.nonRetryable[%d]", path, i), "an error code may not be empty")
		}
	}
	out := models.RetryPolicy{
		MaxAttempts:        cmp.Or(p.MaxAttempts, base.MaxAttempts),
		InitialInterval:    cmp.Or(p.InitialInterval, base.InitialInterval),
		BackoffCoefficient: cmp.Or(p.BackoffCoefficient, base.BackoffCoefficient),
		MaxInterval:        cmp.Or(p.MaxInterval, base.MaxInterval),
		Jitter:             base.Jitter,
		NonRetryable:       slices.Clone(p.NonRetryable),
	}
	if p.NonRetryable == nil {
		out.NonRetryable = slices.Clone(base.NonRetryable)
	}
	if p.Jitter != nil {
		j := *p.Jitter
		out.Jitter = &j
	} else if base.Jitter != nil {
		j := *base.Jitter
		out.Jitter = &j
	}
	if out.MaxInterval < out.InitialInterval && p.MaxInterval >= 0 && p.InitialInterval >= 0 {
		c.addf(path+".maxInterval", "%d ms is shorter than initialInterval (%d ms)", out.MaxInterval, out.InitialInterval)
	}
	return out
}

// checkInputs checks the input declarations and types them for the
// expression checker.
func (c *compiler) checkInputs(def *models.Definition) {
	c.inputs = make(map[string]types.Type, len(def.Inputs))
	for _, name := range sortedKeys(def.Inputs) {
		d := def.Inputs[name]
		path := "inputs" + keyPath(name)
		if !identPattern.MatchString(name) {
			c.addf(path, "%q is not a valid input name: use letters, digits and '_', not starting with a digit", name)
			continue
		}
		switch {
		case d.Type == "":
			c.addf(path+".type", "required: %s", oneOf(inputTypes))
			continue
		case !slices.Contains(inputTypes, d.Type):
			c.addf(path+".type", "unknown type %q%s: use %s", d.Type, didYouMean(d.Type, inputTypes), oneOf(inputTypes))
			continue
		}
		if d.Default != nil {
			if _, msg := checkValue(d.Type, d.Default); msg != "" {
				c.addf(path+".default", "%s", msg)
			}
		}
		c.inputs[name] = exprType(d.Type)
	}
}

// exprType is the checker's type of an input of the given type.
func exprType(t string) types.Type {
	switch t {
	case models.TypeString:
		return types.String
	case models.TypeNumber:
		return types.Float64
	case models.TypeInteger:
		return types.Int
	case models.TypeBoolean:
		return types.Bool
	case models.TypeArray:
		return types.Array(types.Any)
	case models.TypeObject:
		return types.Map{types.Extra: types.Any}
	}
	return types.Any
}

// indexSteps checks step ids and their uniqueness.
func (c *compiler) indexSteps(def *models.Definition) {
	c.stepIndex = make(map[string]int, len(def.Steps))
	for i, st := range def.Steps {
		path := fmt.Sprintf("steps[%d].id", i)
		switch {
		case st.ID == "":
			c.add(path, "required")
		case !stepIDPattern.MatchString(st.ID):
			c.addf(path, "%q is not a valid step id: use %s", st.ID, stepIDRule)
		default:
			if j, dup := c.stepIndex[st.ID]; dup {
				c.addf(path, "duplicate step id %q (also steps[%d])", st.ID, j)
				continue
			}
			c.stepIndex[st.ID] = i
			c.stepIDs = append(c.stepIDs, st.ID)
		}
	}
}

func (c *compiler) compileConditions(def *models.Definition) {
	c.conds = map[string]*Expr{}
	seen := map[string]int{}
	for i, cd := range def.Conditions {
		path := fmt.Sprintf("conditions[%d]", i)
		switch {
		case cd.ID == "":
			c.add(path+".id", "required")
		case !stepIDPattern.MatchString(cd.ID):
			c.addf(path+".id", "%q is not a valid condition id: use %s", cd.ID, stepIDRule)
		default:
			if j, dup := seen[cd.ID]; dup {
				c.addf(path+".id", "duplicate condition id %q (also conditions[%d])", cd.ID, j)
			} else {
				seen[cd.ID] = i
				c.condIDs = append(c.condIDs, cd.ID)
			}
		}
		if e := c.expr(cd.Expression, path+".expression", c.env, true); e != nil && cd.ID != "" {
			if _, ok := c.conds[cd.ID]; !ok {
				c.conds[cd.ID] = e
			}
		}
	}
	slices.Sort(c.condIDs)
}

// expr compiles an expression field, recording its problems.
func (c *compiler) expr(src, path string, env *exprEnv, asBool bool) *Expr {
	if src == "" {
		c.add(path, "required")
		return nil
	}
	e, msgs := c.xc.compile(src, path, env, asBool, 0)
	for _, m := range msgs {
		c.add(path, m)
	}
	return e
}

// ref checks a reference to a step and reports whether it is usable.
// refs checks the targets of an onSuccess or onFailure edge: one (at
// path) or several (at path[i]), each named once.
func (c *compiler) refs(ids models.StepRefs, path, from string) {
	seen := map[string]bool{}
	for i, id := range ids {
		p := path
		if len(ids) > 1 {
			p = fmt.Sprintf("%s[%d]", path, i)
		}
		if seen[id] {
			c.addf(p, "step %q is named twice", id)
			continue
		}
		seen[id] = true
		c.ref(id, p, from)
	}
}

func (c *compiler) ref(id, path, from string) bool {
	if id == "" {
		c.add(path, "a step id is required")
		return false
	}
	if id == from {
		c.add(path, "a step cannot refer to itself")
		return false
	}
	if _, ok := c.stepIndex[id]; !ok {
		c.addf(path, "unknown step %q%s", id, didYouMean(id, c.stepIDs))
		return false
	}
	return true
}
