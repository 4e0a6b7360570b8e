package plan

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/baton-run/baton/models"
)

// Compiling one step: its action, condition, parallel branches or wait.
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
	c.refs(st.OnSuccess, path+".onSuccess", st.ID)
	c.refs(st.OnFailure, path+".onFailure", st.ID)
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
		c.checkDeviceRouting(a, path)
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
		if len(st.OnSuccess) > 0 {
			c.add(path+".onSuccess", "does not apply to a decision table: use cases[].next")
		}
		if len(st.OnFailure) > 0 {
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

// checkDeviceRouting checks a device step's routing fields: the strategy,
// the pinned device, and the requirements of each fallback.
func (c *compiler) checkDeviceRouting(a *models.Action, path string) {
	if a.Strategy != "" && !slices.Contains(models.RouteStrategies, a.Strategy) {
		c.addf(path+".strategy", "unknown strategy %q: use one of %s", a.Strategy, strings.Join(models.RouteStrategies, ", "))
	}
	switch {
	case a.Strategy == models.RoutePinned && a.Device == "":
		c.add(path+".device", "required with strategy pinned: the name of the device")
	case a.Strategy != models.RoutePinned && a.Device != "":
		c.add(path+".device", "only with strategy pinned")
	}
	checkRoute := func(p string, require []string, labels map[string]string) {
		for j, r := range require {
			if strings.TrimSpace(r) == "" {
				c.addf(fmt.Sprintf("%s.require[%d]", p, j), "a capability may not be empty")
			}
		}
		for k := range labels {
			if strings.TrimSpace(k) == "" {
				c.add(p+".labels", "a label name may not be empty")
			}
		}
	}
	checkRoute(path, a.Require, a.Labels)
	for i, f := range a.Fallback {
		fp := fmt.Sprintf("%s.fallback[%d]", path, i)
		if len(f.Require) == 0 && len(f.Labels) == 0 {
			c.add(fp, "a fallback needs require or labels (or both)")
		}
		checkRoute(fp, f.Require, f.Labels)
	}
}
