package engine

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
// CompileWithLimits.
func Compile(def models.Definition) (*Plan, error) {
	return CompileWithLimits(def, Limits{})
}

// CompileWithLimits validates def whole and compiles it into a Plan. When
// anything is wrong it returns a *models.Error with Code Invalid and every
// problem found in Details, each with its JSON path.
func CompileWithLimits(def models.Definition, l Limits) (*Plan, error) {
	c := &compiler{limits: l.withDefaults()}
	p := c.compile(def)
	if len(c.problems) > 0 {
		sortProblems(c.problems)
		return nil, models.Problems(problemsSummary(len(c.problems)), c.problems)
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
	reservedNames = []string{"inputs", "steps", "run", "index"}
)

// allowedFields lists, per step type and per command kind, the action
// fields (JSON names) that belong there.
var allowedFields = map[string][]string{
	"command/" + models.KindHTTP:        {"kind", "method", "url", "headers", "query", "body", "expectStatus"},
	"command/" + models.KindSet:         {"kind", "values"},
	"command/" + models.KindLog:         {"kind", "message"},
	"command/" + models.KindFail:        {"kind", "message", "retryable"},
	"command/" + models.KindSubworkflow: {"kind", "template", "version", "inputs"},
	"command/" + models.KindDevice:      {"kind", "capabilities", "command", "args", "strategy"},
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

func (c *compiler) compileStep(def *models.Definition, i int) *PlanStep {
	st := &def.Steps[i]
	path := fmt.Sprintf("steps[%d]", i)
	ps := &PlanStep{Index: i}

	if st.Name == "" {
		st.Name = st.ID
	} else if n := utf8.RuneCountInString(st.Name); n > 200 {
		c.addf(path+".name", "is %d characters long; the limit is 200", n)
	}
	switch {
	case st.Trigger == "":
		st.Trigger = models.TriggerNoneFailed
	case !slices.Contains(triggers, st.Trigger):
		c.addf(path+".trigger", "unknown trigger rule %q%s: use %s", st.Trigger, didYouMean(st.Trigger, triggers), oneOf(triggers))
	}
	if st.Timeout < 0 {
		c.add(path+".timeout", "must be 0 (none) or more")
	}
	seen := map[string]bool{}
	for j, dep := range st.Dependencies {
		dp := fmt.Sprintf("%s.dependencies[%d]", path, j)
		if seen[dep] {
			c.addf(dp, "%q is listed twice", dep)
			continue
		}
		seen[dep] = true
		c.ref(dep, dp, st.ID)
	}
	if st.OnSuccess != "" {
		c.ref(st.OnSuccess, path+".onSuccess", st.ID)
	}
	if st.OnFailure != "" {
		c.ref(st.OnFailure, path+".onFailure", st.ID)
	}
	if st.When != "" {
		ps.When = c.expr(st.When, path+".when", c.env, true)
	}
	if st.RetryPolicy != nil {
		eff := c.retry(st.RetryPolicy, *def.RetryPolicy, path+".retryPolicy")
		st.RetryPolicy = &eff
		ps.Retry = eff
	} else {
		ps.Retry = c.retry(nil, *def.RetryPolicy, "")
	}

	switch st.Type {
	case models.StepCommand:
		c.checkCommand(&st.Action, path+".action")
		ps.Action = c.actionTemplate(st.Action, path+".action", c.env)
	case models.StepCondition:
		c.compileCondition(st, ps, path)
	case models.StepParallel:
		c.compileParallel(st, ps, path)
	case models.StepWait:
		c.checkWait(st, path)
	case "":
		c.addf(path+".type", "required: %s", oneOf(stepTypes))
	default:
		c.addf(path+".type", "unknown step type %q%s: use %s", st.Type, didYouMean(st.Type, stepTypes), oneOf(stepTypes))
	}
	if st.Compensate != nil {
		comp := *st.Compensate
		c.checkCommand(&comp, path+".compensate")
		st.Compensate = &comp
		ps.Compensate = c.actionTemplate(comp, path+".compensate", c.env)
	}
	ps.Step = *st
	return ps
}

// actionFieldNames are the JSON names of models.Action's fields, by index.
var actionFieldNames = func() []string {
	t := reflect.TypeOf(models.Action{})
	names := make([]string, t.NumField())
	for i := range names {
		names[i], _, _ = strings.Cut(t.Field(i).Tag.Get("json"), ",")
	}
	return names
}()

// setFields returns the JSON names of the action's fields that are set.
func setFields(a *models.Action) []string {
	var out []string
	v := reflect.ValueOf(a).Elem()
	for i, name := range actionFieldNames {
		if !v.Field(i).IsZero() {
			out = append(out, name)
		}
	}
	return out
}

// checkFields reports the set fields of a that do not belong to what.
func (c *compiler) checkFields(a *models.Action, key, what, path string) {
	allowed := allowedFields[key]
	for _, f := range setFields(a) {
		if !slices.Contains(allowed, f) {
			c.addf(path+"."+f, "%q does not belong to %s", f, what)
		}
	}
}

// checkCommand checks a command action (a command step's action, a
// compensation, or a forEach's per-element action) and fills its defaults.
func (c *compiler) checkCommand(a *models.Action, path string) {
	switch {
	case a.Kind == "":
		c.addf(path+".kind", "required for a command: %s", oneOf(commandKinds))
		return
	case !slices.Contains(commandKinds, a.Kind):
		c.addf(path+".kind", "unknown kind %q%s: use %s", a.Kind, didYouMean(a.Kind, commandKinds), oneOf(commandKinds))
		return
	}
	what := fmt.Sprintf("a %q action", a.Kind)
	c.checkFields(a, "command/"+a.Kind, what, path)
	switch a.Kind {
	case models.KindHTTP:
		if a.Method == "" {
			a.Method = "GET"
		}
		if !strings.Contains(a.Method, "{{") {
			a.Method = strings.ToUpper(a.Method)
			if !slices.Contains(httpMethods, a.Method) {
				c.addf(path+".method", "unknown HTTP method %q: use %s", a.Method, oneOf(httpMethods))
			}
		}
		if a.URL == "" {
			c.addf(path+".url", "required for %s", what)
		}
		for j, code := range a.ExpectStatus {
			if code < 100 || code > 599 {
				c.addf(fmt.Sprintf("%s.expectStatus[%d]", path, j), "%d is not an HTTP status (100–599)", code)
			}
		}
	case models.KindSet:
		if len(a.Values) == 0 {
			c.addf(path+".values", "required for %s: a map of names to values", what)
		}
	case models.KindLog, models.KindFail:
		if a.Message == "" {
			c.addf(path+".message", "required for %s", what)
		}
	case models.KindSubworkflow:
		switch {
		case a.Template == "":
			c.addf(path+".template", "required for %s: the key of the template to run", what)
		case !strings.Contains(a.Template, "{{") && !workflowIDPattern.MatchString(a.Template):
			c.addf(path+".template", "%q is not a valid template key: use %s", a.Template, workflowIDRule)
		}
		if a.Version < 0 {
			c.add(path+".version", "must be 1 or more (or left out for the latest approved version)")
		}
	case models.KindDevice:
		if a.Command == "" {
			c.addf(path+".command", "required for %s", what)
		}
		if a.Strategy != "" && a.Strategy != "least_loaded" {
			c.addf(path+".strategy", "unknown strategy %q: use \"least_loaded\"", a.Strategy)
		}
	}
}

func (c *compiler) compileCondition(st *models.Step, ps *PlanStep, path string) {
	a := &st.Action
	ap := path + ".action"
	c.checkFields(a, models.StepCondition, "a condition step", ap)
	n := 0
	for _, set := range []bool{a.Expression != "", a.Condition != "", len(a.Cases) > 0} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		c.add(ap, "a condition step needs one of expression, condition or cases")
		return
	case n > 1:
		c.add(ap, "a condition step takes only one of expression, condition or cases")
		return
	}
	switch {
	case a.Expression != "":
		ps.Condition = c.expr(a.Expression, ap+".expression", c.env, true)
	case a.Condition != "":
		e, ok := c.conds[a.Condition]
		if !ok {
			if !slices.Contains(c.condIDs, a.Condition) {
				c.addf(ap+".condition", "unknown condition %q%s", a.Condition, didYouMean(a.Condition, c.condIDs))
			}
			return
		}
		ps.Condition = e
	default:
		ps.Cases = make([]*Expr, len(a.Cases))
		for j, cs := range a.Cases {
			cp := fmt.Sprintf("%s.cases[%d]", ap, j)
			ps.Cases[j] = c.expr(cs.When, cp+".when", c.env, true)
			c.ref(cs.Next, cp+".next", st.ID)
		}
		if a.Default != "" {
			c.ref(a.Default, ap+".default", st.ID)
		}
		if st.OnSuccess != "" {
			c.add(path+".onSuccess", "does not apply to a decision table: use cases[].next")
		}
		if st.OnFailure != "" {
			c.add(path+".onFailure", "does not apply to a decision table: use default")
		}
	}
	if a.Default != "" && len(a.Cases) == 0 {
		c.add(ap+".default", "belongs to a decision table (cases) only")
	}
}

func (c *compiler) compileParallel(st *models.Step, ps *PlanStep, path string) {
	a := &st.Action
	ap := path + ".action"
	c.checkFields(a, models.StepParallel, "a parallel step", ap)
	if a.As == "" {
		a.As = "item"
	}
	asOK := true
	switch {
	case !identPattern.MatchString(a.As):
		c.addf(ap+".as", "%q is not a valid name: use letters, digits and '_', not starting with a digit", a.As)
		asOK = false
	case slices.Contains(reservedNames, a.As):
		c.addf(ap+".as", "%q is already a name in expressions: choose another", a.As)
		asOK = false
	}
	ps.ItemName = a.As
	if a.MaxConcurrency < 0 {
		c.add(ap+".maxConcurrency", "must be 0 (no cap) or more")
	}
	if a.ForEach == "" {
		c.add(ap+".forEach", "required for a parallel step: an expression that gives a list")
	} else {
		ps.ForEach = c.expr(a.ForEach, ap+".forEach", c.env, false)
	}
	if a.Step == nil {
		c.add(ap+".step", "required for a parallel step: the command action to run for each element")
		return
	}
	item := *a.Step
	c.checkCommand(&item, ap+".step")
	a.Step = &item
	if !asOK {
		return
	}
	env, ok := c.itemEnvs[a.As]
	if !ok {
		env = newExprEnv(c.inputs, c.stepIDs, a.As)
		c.itemEnvs[a.As] = env
	}
	ps.ItemAction = c.actionTemplate(item, ap+".step", env)
}

func (c *compiler) checkWait(st *models.Step, path string) {
	a := &st.Action
	ap := path + ".action"
	c.checkFields(a, models.StepWait, "a wait step", ap)
	switch {
	case a.Duration == 0 && a.Signal == "":
		c.add(ap, "a wait step needs a duration or a signal")
	case a.Duration != 0 && a.Signal != "":
		c.add(ap, "a wait step takes a duration or a signal, not both")
	case a.Duration < 0:
		c.add(ap+".duration", "must be more than 0")
	case a.Signal != "" && !signalPattern.MatchString(a.Signal):
		c.addf(ap+".signal", "%q is not a valid signal name: use %s", a.Signal, signalRule)
	}
	if a.Timeout != 0 && a.Signal == "" {
		c.add(ap+".timeout", "belongs to a signal wait only")
	}
	if a.Timeout < 0 {
		c.add(ap+".timeout", "must be 0 (none) or more")
	}
}

func (c *compiler) compileGroups(def *models.Definition, p *Plan) {
	inGroup := map[string]string{}
	for i := range def.ParallelGroups {
		g := &def.ParallelGroups[i]
		g.Steps = slices.Clone(g.Steps)
		path := fmt.Sprintf("parallelGroups[%d]", i)
		switch {
		case g.ID == "":
			c.add(path+".id", "required")
		case !groupIDPattern.MatchString(g.ID):
			c.addf(path+".id", "%q is not a valid group id: use %s", g.ID, groupIDRule)
		default:
			if _, dup := p.Groups[g.ID]; dup {
				c.addf(path+".id", "duplicate group id %q", g.ID)
			} else {
				p.Groups[g.ID] = g
			}
		}
		if g.MaxConcurrency < 0 {
			c.add(path+".maxConcurrency", "must be 0 (no cap) or more")
		}
		if len(g.Steps) == 0 {
			c.add(path+".steps", "at least one step is required")
		}
		for j, id := range g.Steps {
			sp := fmt.Sprintf("%s.steps[%d]", path, j)
			if !c.ref(id, sp, "") {
				continue
			}
			if other, dup := inGroup[id]; dup {
				c.addf(sp, "step %q is already in group %q; a step belongs to one group at most", id, other)
				continue
			}
			inGroup[id] = g.ID
			if ps, ok := p.byID[id]; ok {
				ps.Group = g.ID
			}
		}
	}
}

// link builds the edges of the graph and reports cycles.
func (c *compiler) link(p *Plan) {
	addEdge := func(e Edge) {
		from, ok1 := p.byID[e.From]
		to, ok2 := p.byID[e.To]
		if !ok1 || !ok2 || e.From == e.To {
			return // reported already
		}
		from.Out = append(from.Out, e)
		to.In = append(to.In, e)
	}
	for _, ps := range p.Steps {
		st := &ps.Step
		if p.byID[st.ID] != ps {
			continue // a duplicate id: reported, and not part of the graph
		}
		seen := map[string]bool{}
		for _, dep := range st.Dependencies {
			if !seen[dep] {
				seen[dep] = true
				addEdge(Edge{From: dep, To: st.ID, Kind: EdgeDependency})
			}
		}
		if st.OnSuccess != "" {
			addEdge(Edge{From: st.ID, To: st.OnSuccess, Kind: EdgeOnSuccess})
		}
		if st.OnFailure != "" {
			addEdge(Edge{From: st.ID, To: st.OnFailure, Kind: EdgeOnFailure})
		}
		if st.Type == models.StepCondition {
			for j, cs := range st.Action.Cases {
				addEdge(Edge{From: st.ID, To: cs.Next, Kind: EdgeCase, Case: j})
			}
			if len(st.Action.Cases) > 0 && st.Action.Default != "" {
				addEdge(Edge{From: st.ID, To: st.Action.Default, Kind: EdgeCase, Case: -1})
			}
		}
	}
	c.findCycles(p)
}

// findCycles reports one cycle per strongly connected component of the
// graph (Tarjan's algorithm), naming its steps in order.
func (c *compiler) findCycles(p *Plan) {
	n := len(p.Steps)
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	next := 0
	var comps [][]int
	var strong func(v int)
	strong = func(v int) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, e := range p.Steps[v].Out {
			w := p.byID[e.To].Index
			if index[w] < 0 {
				strong(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var comp []int
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp = append(comp, w)
				if w == v {
					break
				}
			}
			if len(comp) > 1 {
				comps = append(comps, comp)
			}
		}
	}
	for v := 0; v < n; v++ {
		if index[v] < 0 && p.byID[p.Steps[v].Step.ID] == p.Steps[v] {
			strong(v)
		}
	}
	slices.SortFunc(comps, func(a, b []int) int { return slices.Min(a) - slices.Min(b) })
	for _, comp := range comps {
		in := make(map[int]bool, len(comp))
		for _, v := range comp {
			in[v] = true
		}
		start := slices.Min(comp)
		cycle := shortestCycle(p, start, in)
		names := make([]string, len(cycle)+1)
		for i, v := range cycle {
			names[i] = p.Steps[v].Step.ID
		}
		names[len(cycle)] = p.Steps[start].Step.ID
		c.addf(fmt.Sprintf("steps[%d]", start), "the steps form a cycle: %s", strings.Join(names, " → "))
	}
}

// shortestCycle finds the shortest path from start back to start within the
// component, by breadth-first search.
func shortestCycle(p *Plan, start int, in map[int]bool) []int {
	parent := map[int]int{start: -1}
	queue := []int{start}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, e := range p.Steps[v].Out {
			w := p.byID[e.To].Index
			if w == start {
				var path []int
				for x := v; x != -1; x = parent[x] {
					path = append(path, x)
				}
				slices.Reverse(path)
				return path
			}
			if _, seen := parent[w]; !seen && in[w] {
				parent[w] = v
				queue = append(queue, w)
			}
		}
	}
	return []int{start}
}
