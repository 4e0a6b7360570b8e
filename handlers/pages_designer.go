package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/views"
)

func (s *server) designerPageRoutes() []route {
	return []route{
		{fiber.MethodGet, "/templates/:key/design", models.RoleViewer, s.designerPage},
		{fiber.MethodPost, "/templates/:key/design/panel", models.RoleViewer, s.stepPanel},
		{fiber.MethodPost, "/templates/:key/design/inputs", models.RoleViewer, s.testInputs},
		{fiber.MethodPost, "/templates/:key/design/workflow", models.RoleViewer, s.workflowPanel},
		{fiber.MethodPost, "/templates/:key/design/parse", models.RoleViewer, s.parseSource},
	}
}

// jsonMarshal is json.Marshal without HTML escaping: the result goes into
// attributes and text areas that templ escapes itself, and users read it.
func jsonMarshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func (s *server) designerPage(c *fiber.Ctx) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	key := c.Params("key")
	sum, err := ts.Template(ctx, key)
	if err != nil {
		return err
	}
	ver, err := ts.TemplateVersion(ctx, key, sum.LatestVersion)
	if err != nil {
		return err
	}
	def, err := jsonMarshal(ver.Definition)
	if err != nil {
		return fmt.Errorf("encode the definition of %s v%d: %w", key, ver.Number, err)
	}
	problems, err := jsonMarshal(s.problemsFor(def))
	if err != nil {
		return fmt.Errorf("encode problems: %w", err)
	}
	v := views.DesignerView{
		Key: key, Name: sum.Name, Version: ver.Number, Status: string(ver.Status),
		UpdatedAt:   ver.UpdatedAt.UTC().Format(time.RFC3339Nano),
		Definition:  string(def),
		Problems:    string(problems),
		ReadOnly:    !principalOf(c).user.Can(models.RoleDesigner),
		NewDraft:    ver.Status != models.VersionDraft,
		DesignerJS:  s.assets.url("designer.js"),
		DesignerCSS: s.assets.url("designer.css"),
	}
	return s.page(c, http.StatusOK, "Designer · "+sum.Name, "templates", views.Designer(v))
}

// problemsFor compiles a definition (JSON) and returns its problems; none
// when it is valid or when checking is not available.
func (s *server) problemsFor(def []byte) []models.Problem {
	if s.deps.Definitions == nil {
		return []models.Problem{}
	}
	if err := s.deps.Definitions.Check(def, fiber.MIMEApplicationJSON); err != nil {
		ps := problemsOf(err)
		for i := range ps {
			ps[i].Message = plainWords(ps[i].Message)
		}
		return ps
	}
	if ps, err := s.secretProblems(context.Background(), def); err == nil && len(ps) > 0 {
		return ps
	}
	return []models.Problem{}
}

// The expression parser speaks of tokens; the designer's users write
// expressions, not parsers. plainWords rewrites those messages (keeping
// the column) for the page; the API keeps the parser's words.
var (
	tokenEOF   = regexp.MustCompile(`unexpected token EOF`)
	tokenValue = regexp.MustCompile(`unexpected token \w+\("?(.*?)"?\)`)
)

func plainWords(msg string) string {
	msg = tokenEOF.ReplaceAllString(msg, "the expression ends too early: something is missing at the end")
	return tokenValue.ReplaceAllString(msg, "${1} is not expected here")
}

// pageDefinition reads the definition the designer page sends: JSON, not
// necessarily valid (the panel must render while the user is mid-edit).
func pageDefinition(c *fiber.Ctx) (models.Definition, []byte, error) {
	body := c.Body()
	var def models.Definition
	if len(bytes.TrimSpace(body)) == 0 {
		return def, nil, models.Errorf(models.BadRequest, "the body is empty; send the definition as JSON")
	}
	if err := json.Unmarshal(body, &def); err != nil {
		if json.Valid(body) {
			// Well-formed, but a value cannot be read (a duration such as
			// "soon"): say what is wrong with the value, not with the JSON.
			return def, nil, models.Errorf(models.BadRequest, "%s", strings.TrimPrefix(err.Error(), "json: "))
		}
		return def, nil, models.Errorf(models.BadRequest, "the definition is not valid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return def, body, nil
}

func (s *server) stepPanel(c *fiber.Ctx) error {
	def, body, err := pageDefinition(c)
	if err != nil {
		return err
	}
	id := c.Query("step")
	idx := slices.IndexFunc(def.Steps, func(st models.Step) bool { return st.ID == id })
	if idx < 0 {
		return models.Errorf(models.NotFound, "the definition has no step %q", id)
	}
	st := def.Steps[idx]
	kind := stepKind(st)
	v := views.StepPanelView{
		Key: c.Params("key"), Index: idx, ID: st.ID, Kind: kind, KindLabel: kindLabels[kind], Output: outputShapes[kind],
		Fields: stepFields(st, kind), ReadOnly: !principalOf(c).user.Can(models.RoleDesigner),
	}
	v.Other = attachProblems(v.Fields, s.problemsFor(body), idx)
	v.Suggest = expressionSuggestions(def, st.ID)
	for i := range v.Fields {
		if v.Fields[i].Preview != "" && v.Fields[i].Rows == 0 {
			v.Fields[i].List = views.SuggestListID
		}
	}
	return s.render(c, http.StatusOK, views.StepPanel(v))
}

// expressionSuggestions are what an expression field of step self can read,
// offered as the browser's completion list: each input, and each other
// step's status and output, with the fields of the output its kind gives
// (an http step's status, headers and body; a set step's values).
func expressionSuggestions(def models.Definition, self string) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(def.Inputs)) {
		out = append(out, "inputs."+name)
	}
	for _, st := range def.Steps {
		if st.ID == self {
			continue
		}
		p := "steps." + st.ID
		out = append(out, p+".status", p+".output")
		switch stepKind(st) {
		case models.KindHTTP:
			out = append(out, p+".output.status", p+".output.body", p+".output.headers")
		case models.KindSet:
			for _, k := range slices.Sorted(maps.Keys(st.Action.Values)) {
				out = append(out, p+".output."+k)
			}
		case models.KindLog:
			out = append(out, p+".output.message")
		case models.StepCondition:
			out = append(out, p+".output.result")
		case "decision":
			out = append(out, p+".output.case", p+".output.next")
		}
	}
	return out
}

// workflowPanel renders the side panel shown when no step is open: the
// workflow's name, description and input declarations, with the draft's
// problems next to their fields.
func (s *server) workflowPanel(c *fiber.Ctx) error {
	def, body, err := pageDefinition(c)
	if err != nil {
		return err
	}
	v := views.WorkflowPanelView{
		Name:        text("name", "Name", def.Name, ""),
		Description: area("description", "Description", "text", def.Description, 2, ""),
		ReadOnly:    !principalOf(c).user.Can(models.RoleDesigner),
	}
	for i, n := range def.InputNames() {
		v.Inputs = append(v.Inputs, inputRow(i, n, def.Inputs[n], s.inputTypes()))
	}
	v.Other = attachWorkflowProblems(&v, s.problemsFor(body))
	return s.render(c, http.StatusOK, views.WorkflowPanel(v))
}

// inputTypes are the types an input may declare, as the compiler knows
// them; none without Definitions (the select then offers the current one).
func (s *server) inputTypes() []string {
	if s.deps.Definitions == nil {
		return nil
	}
	return s.deps.Definitions.InputTypes()
}

// inputRow is the editable row of one input declaration. Its fields are
// named by row ("inputs[0].type"): the name itself is one of them.
func inputRow(i int, name string, d models.InputDecl, inputTypeOptions []string) views.InputRowView {
	p := "inputs[" + strconv.Itoa(i) + "]."
	typ := selectField(p+"type", "Type", d.Type, inputTypeOptions...)
	if !slices.Contains(inputTypeOptions, d.Type) {
		// An unknown type (from the code view) stays visible, to be fixed here.
		typ.Options = append([]views.FieldOption{{Value: d.Type, Label: d.Type}}, typ.Options...)
	}
	def := ""
	if d.Default != nil {
		if str, ok := d.Default.(string); ok && d.Type == models.TypeString {
			def = str
		} else if b, err := jsonMarshal(d.Default); err == nil {
			def = string(b)
		}
	}
	req := views.FieldView{Path: p + "required", Label: "Required", Type: "select", Value: strconv.FormatBool(d.Required),
		Options: []views.FieldOption{{Value: "false", Label: "no"}, {Value: "true", Label: "yes"}}}
	return views.InputRowView{
		Index: i, Name: name,
		Fields: []views.FieldView{
			text(p+"name", "Name", name, ""),
			typ,
			text(p+"default", "Default", def, "Used when a run does not give this input."),
			req,
			text(p+"description", "Description", d.Description, ""),
		},
	}
}

// attachWorkflowProblems puts the problems about the name, the
// description and the inputs next to their fields and returns the other
// workflow-level ones (step problems stay in the problems list).
func attachWorkflowProblems(v *views.WorkflowPanelView, ps []models.Problem) []string {
	var other []string
	for _, p := range ps {
		switch {
		case p.Path == "name":
			v.Name.Errors = appendOnce(v.Name.Errors, p.Message)
		case p.Path == "description":
			v.Description.Errors = appendOnce(v.Description.Errors, p.Message)
		case strings.HasPrefix(p.Path, "inputs"):
			if !attachInputProblem(v.Inputs, p) {
				other = appendOnce(other, p.Path+": "+p.Message)
			}
		}
	}
	return other
}

// attachInputProblem finds the row of "inputs.amount.type" (or
// `inputs["odd name"]`) and the field the rest of the path names; the
// declaration itself ("inputs.amount") is its name field.
func attachInputProblem(rows []views.InputRowView, p models.Problem) bool {
	for r := range rows {
		for _, head := range []string{"inputs." + rows[r].Name, "inputs[" + strconv.Quote(rows[r].Name) + "]"} {
			rest, ok := strings.CutPrefix(p.Path, head)
			if !ok || (rest != "" && rest[0] != '.') {
				continue
			}
			field := "name"
			if rest != "" {
				field = strings.SplitN(rest[1:], ".", 2)[0]
			}
			for i := range rows[r].Fields {
				if strings.HasSuffix(rows[r].Fields[i].Path, "]."+field) {
					rows[r].Fields[i].Errors = appendOnce(rows[r].Fields[i].Errors, p.Message)
					return true
				}
			}
		}
	}
	return false
}

// appendOnce appends msg unless the list has it: two checks may report
// the same problem, and the user needs to read it once.
func appendOnce(list []string, msg string) []string {
	if slices.Contains(list, msg) {
		return list
	}
	return append(list, msg)
}

// kindLabels names the palette kinds: the command kinds and step types of
// models, plus the canvas's own names for a decision table (a condition
// with cases), a forEach (parallel) step and a wait for a signal.
var kindLabels = map[string]string{
	models.KindHTTP: "HTTP request", models.KindSet: "Set values", models.KindLog: "Log", models.KindFail: "Fail",
	models.KindSubworkflow: "Sub-workflow", models.KindDevice: "Device command", models.StepCondition: "Condition",
	"decision": "Decision table", "foreach": "For each", models.StepWait: "Wait", "signal": "Wait for signal",
}

// outputShapes says what each kind of step gives its successors as
// steps.<id>.output, shown under the kind in the side panel (the same
// table is in docs/definitions.md).
var outputShapes = map[string]string{
	models.KindHTTP:        "{status, headers, body}: body is parsed JSON when the response is JSON, else text",
	models.KindSet:         "the values, rendered: steps.<id>.output.<name>",
	models.KindLog:         "{message}",
	models.KindFail:        "none: the step fails with its message",
	models.KindSubworkflow: "the child run's outputs",
	models.KindDevice:      "{device, exitCode, stdout, stderr, truncated, durationMs, routing}",
	models.StepCondition:   "{result: true or false}",
	"decision":             "{case: the index taken (-1: default), next: the step id}",
	"foreach":              "{items: each element's output, succeeded, failed}",
	models.StepWait:        "{} when the time is up",
	"signal":               "the signal's JSON payload",
}

// stepKind is the palette kind of a step, as the designer canvas names it.
func stepKind(st models.Step) string {
	switch st.Type {
	case models.StepCommand:
		return st.Action.Kind
	case models.StepCondition:
		if len(st.Action.Cases) > 0 || st.Action.Default != "" {
			return "decision"
		}
		return "condition"
	case models.StepParallel:
		return "foreach"
	case models.StepWait:
		if st.Action.Signal != "" {
			return "signal"
		}
		return "wait"
	}
	return st.Type
}

// stepFields lists a step's editable fields, those of its kind first. Edges
// (dependencies, onSuccess, onFailure, cases' next) are drawn on the canvas
// and edited there.
func stepFields(st models.Step, kind string) []views.FieldView {
	a := st.Action
	fs := []views.FieldView{text("name", "Name", st.Name, "Shown on the canvas; the id stays "+st.ID+".")}
	switch kind {
	case "http":
		fs = append(fs,
			selectField("action.method", "Method", a.Method, "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"),
			text("action.url", "URL", a.URL, "May use templates, e.g. {{ inputs.baseUrl }}/orders."),
			area("action.headers", "Headers", "headers", headerLines(a.Headers), 3, "One per line: Name: value."),
			area("action.query", "Query parameters", "headers", headerLines(a.Query), 2, "One per line: name: value."),
			area("action.body", "Body (JSON)", "json", jsonText(a.Body), 4, ""),
			text("action.expectStatus", "Expected status codes", jsonText(a.ExpectStatus), "A JSON list, e.g. [200, 201]; empty means any 2xx."),
		)
		fs[len(fs)-1].Type = "json"
	case "set":
		fs = append(fs, area("action.values", "Values (JSON object)", "json", jsonText(a.Values), 5, "Each value may be a template or an expression."))
	case "log":
		fs = append(fs, text("action.message", "Message", a.Message, "A template, e.g. Order {{ inputs.orderId }}."))
	case "fail":
		fs = append(fs, text("action.message", "Message", a.Message, ""), boolField("action.retryable", "Retryable", a.Retryable))
	case "subworkflow":
		fs = append(fs,
			text("action.template", "Template key", a.Template, ""),
			number("action.version", "Version", a.Version, "Empty: the latest approved version."),
			area("action.inputs", "Inputs (JSON object)", "json", jsonText(a.Inputs), 3, ""))
	case "device":
		strategy := a.Strategy
		if strategy == "" {
			strategy = models.RouteLeastLoaded
		}
		fs = append(fs,
			text("action.command", "Command", a.Command, "An executable on the agent's --allow list; never run by a shell."),
			area("action.args", "Arguments (JSON list)", "json", jsonText(a.Args), 2, ""),
			area("action.require", "Required capabilities (JSON list)", "json", jsonText(a.Require), 1, `e.g. ["linux", "usb"]`),
			area("action.labels", "Labels (JSON object)", "json", jsonText(a.Labels), 1, `e.g. {"site": "berlin"}`),
			area("action.env", "Environment (JSON object)", "json", jsonText(a.Env), 2, ""),
			selectField("action.strategy", "Strategy", strategy, models.RouteStrategies...),
			text("action.device", "Pinned device", a.Device, "With strategy pinned: the device's name."),
			duration("action.queueTimeout", "Queue timeout", a.QueueTimeout, "How long to wait for a capable device; empty: 30s."),
			area("action.fallback", "Fallbacks (JSON list)", "json", jsonText(a.Fallback), 2, `Tried in order when no device matches, e.g. [{"require": ["linux"]}]`),
		)
	case "condition":
		fs = append(fs,
			text("action.expression", "Expression", a.Expression, "True takes the true port, false the false port; e.g. inputs.amount > 1000."),
			text("action.condition", "Named condition", a.Condition, "Or the id of a condition declared in the definition."))
	case "decision":
		fs = append(fs, caseFields(a.Cases)...)
	case "foreach":
		fs = append(fs,
			text("action.forEach", "For each (expression)", a.ForEach, "A list, e.g. inputs.items."),
			text("action.as", "Item name", a.As, ""),
			number("action.maxConcurrency", "At most at once", a.MaxConcurrency, ""),
			selectField("action.failFast", "Fail fast", strconv.FormatBool(a.FailFast), "false", "true"),
		)
		fs[len(fs)-1].Type = "bool"
		fs = append(fs, actionFields("action.step", "For each item: ", a.Step)...)
	case "wait":
		fs = append(fs, duration("action.duration", "Wait for", a.Duration, "e.g. 30s, 5m, 1h."))
	case "signal":
		fs = append(fs, text("action.signal", "Signal name", a.Signal, ""), duration("action.timeout", "Give up after", a.Timeout, "Empty: wait as long as the run may."))
	}
	fs = append(fs,
		text("when", "Run only when (guard)", st.When, "An expression; when false the step is skipped."),
		selectField("trigger", "Trigger rule", st.Trigger, "", "all_success", "none_failed", "all_done"),
		duration("timeout", "Timeout", st.Timeout, "e.g. 30s; empty: no step timeout."),
	)
	// The empty choice is the engine's default, named so the designer
	// knows which rule applies (the spec's default: none_failed).
	fs[len(fs)-2].Options[0].Label = "default (" + models.TriggerNoneFailed + ")"
	fs = append(fs, retryFields(st.RetryPolicy)...)
	if st.Type == models.StepCommand {
		fs = append(fs, actionFields("compensate", "Compensate: ", st.Compensate)...)
	}
	markPreviews(fs)
	return fs
}

// caseFields are a decision table's cases: one guard per case, in order.
// Their targets are the case ports on the canvas.
func caseFields(cases []models.Case) []views.FieldView {
	fs := make([]views.FieldView, 0, len(cases))
	for i, c := range cases {
		f := text(fmt.Sprintf("action.cases[%d].when", i), fmt.Sprintf("Case %d: when", i+1), c.When, "")
		if i == 0 {
			f.Help = "The first case whose condition is true wins; connect each case's port on the canvas."
		}
		fs = append(fs, f)
	}
	return append(fs, views.FieldView{Path: "action.cases", Label: "Cases", Type: "add-case",
		Help: "Adds a case (and its port); remove one by clearing its condition and deleting its edge."})
}

// retryFields edit a step's retry policy field by field; all empty means
// the workflow's policy applies.
func retryFields(p *models.RetryPolicy) []views.FieldView {
	var rp models.RetryPolicy
	if p != nil {
		rp = *p
	}
	coef := ""
	if rp.BackoffCoefficient != 0 {
		coef = strconv.FormatFloat(rp.BackoffCoefficient, 'f', -1, 64)
	}
	return []views.FieldView{
		number("retryPolicy.maxAttempts", "Retry: attempts at most", rp.MaxAttempts, "Empty: the workflow's retry policy."),
		duration("retryPolicy.initialInterval", "Retry: first wait", rp.InitialInterval, "e.g. 1s."),
		{Path: "retryPolicy.backoffCoefficient", Label: "Retry: wait multiplier", Type: "number", Value: coef, Help: "e.g. 2 doubles each wait."},
		duration("retryPolicy.maxInterval", "Retry: longest wait", rp.MaxInterval, ""),
	}
}

// actionFields edit a nested command action (a forEach's step, a
// compensate action) as fields: its kind, then what that kind needs.
func actionFields(path, label string, a *models.Action) []views.FieldView {
	var act models.Action
	if a != nil {
		act = *a
	}
	kind := selectField(path+".kind", label+"kind", act.Kind, "", models.KindHTTP, models.KindLog, models.KindSet, models.KindFail)
	kind.Options[0].Label = "none"
	fs := []views.FieldView{kind}
	switch act.Kind {
	case models.KindHTTP:
		fs = append(fs,
			selectField(path+".method", label+"method", act.Method, "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"),
			text(path+".url", label+"URL", act.URL, ""),
			area(path+".body", label+"body (JSON)", "json", jsonText(act.Body), 2, ""))
	case models.KindLog, models.KindFail:
		fs = append(fs, text(path+".message", label+"message", act.Message, ""))
	case models.KindSet:
		fs = append(fs, area(path+".values", label+"values (JSON object)", "json", jsonText(act.Values), 3, ""))
	case "":
		fs[0].Help = "Choose a kind to see its fields."
	default:
		fs = append(fs, area(path, label+"action (JSON)", "json", jsonText(a), 3, "This kind has no form yet."))
	}
	return fs
}

// previewKinds says which fields are expressions or templates: the panel
// shows their value against the last run (or sample inputs) as they are
// typed.
var previewKinds = map[string]string{
	"action.url": "template", "action.message": "template", "action.expression": "condition",
	"action.forEach": "expression", "when": "condition",
	"action.step.url": "template", "action.step.message": "template",
	"compensate.url": "template", "compensate.message": "template",
}

func markPreviews(fs []views.FieldView) {
	for i := range fs {
		if k, ok := previewKinds[fs[i].Path]; ok {
			fs[i].Preview = k
		} else if strings.HasPrefix(fs[i].Path, "action.cases[") && strings.HasSuffix(fs[i].Path, "].when") {
			fs[i].Preview = "condition"
		}
	}
}

func text(path, label, value, help string) views.FieldView {
	return views.FieldView{Path: path, Label: label, Type: "text", Value: value, Help: help}
}

func area(path, label, typ, value string, rows int, help string) views.FieldView {
	return views.FieldView{Path: path, Label: label, Type: typ, Value: value, Rows: rows, Help: help}
}

func number(path, label string, n int, help string) views.FieldView {
	v := ""
	if n != 0 {
		v = strconv.Itoa(n)
	}
	return views.FieldView{Path: path, Label: label, Type: "int", Value: v, Help: help}
}

func duration(path, label string, d models.Duration, help string) views.FieldView {
	v := ""
	if d != 0 {
		v = d.D().String()
	}
	return views.FieldView{Path: path, Label: label, Type: "duration", Value: v, Help: help}
}

func selectField(path, label, value string, options ...string) views.FieldView {
	f := views.FieldView{Path: path, Label: label, Type: "select", Value: value}
	for _, o := range options {
		f.Options = append(f.Options, views.FieldOption{Value: o, Label: o})
	}
	return f
}

func boolField(path, label string, b *bool) views.FieldView {
	v := ""
	if b != nil {
		v = strconv.FormatBool(*b)
	}
	f := selectField(path, label, v, "", "true", "false")
	f.Options[0].Label = "default"
	f.Type = "bool"
	return f
}

// jsonText is v as indented JSON, "" for nothing.
func jsonText(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil || string(b) == "null" || string(b) == "{}" || string(b) == "[]" {
		return ""
	}
	return string(b)
}

func headerLines(h map[string]string) string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %s\n", k, h[k])
	}
	return strings.TrimRight(b.String(), "\n")
}

// attachProblems puts each problem of step idx next to its field and
// returns the step's other problems (not about a field shown; edges are
// marked on the canvas and left out).
func attachProblems(fields []views.FieldView, ps []models.Problem, idx int) []string {
	prefix := "steps[" + strconv.Itoa(idx) + "]"
	var other []string
	for _, p := range ps {
		rest, ok := strings.CutPrefix(p.Path, prefix)
		if !ok || (rest != "" && rest[0] != '.' && rest[0] != '[') {
			continue
		}
		rest = strings.TrimPrefix(rest, ".")
		matched := false
		for i := range fields {
			f := fields[i].Path
			if rest == f || strings.HasPrefix(rest, f+".") || strings.HasPrefix(rest, f+"[") {
				fields[i].Errors = appendOnce(fields[i].Errors, p.Message)
				matched = true
				break
			}
		}
		if matched || isEdgePath(rest) {
			continue
		}
		if rest == "" {
			other = append(other, p.Message)
		} else {
			other = append(other, rest+": "+p.Message)
		}
	}
	return other
}

func isEdgePath(rest string) bool {
	for _, p := range []string{"dependencies", "onSuccess", "onFailure", "action.default"} {
		if strings.HasPrefix(rest, p) {
			return true
		}
	}
	return strings.HasPrefix(rest, "action.cases[") && strings.HasSuffix(rest, ".next")
}

func (s *server) testInputs(c *fiber.Ctx) error {
	def, _, err := pageDefinition(c)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(def.Inputs))
	for n := range def.Inputs {
		names = append(names, n)
	}
	slices.Sort(names)
	var v views.InputsView
	for _, n := range names {
		d := def.Inputs[n]
		f := views.FieldView{Path: "inputs." + n, Label: n, Type: "text", Help: d.Description}
		if d.Required {
			f.Label += " (required)"
		}
		switch d.Type {
		case models.TypeNumber, models.TypeInteger:
			f.Type = "number"
		case models.TypeBoolean:
			f = selectField(f.Path, f.Label, "", "", "true", "false")
			f.Type, f.Help = "bool", d.Description
		case models.TypeObject, models.TypeArray:
			f.Type, f.Rows = "json", 3
		}
		if d.Default != nil {
			if str, ok := d.Default.(string); ok {
				f.Value = str
			} else if b, err := json.Marshal(d.Default); err == nil {
				f.Value = string(b)
			}
		}
		v.Fields = append(v.Fields, f)
	}
	return s.render(c, http.StatusOK, views.TestInputs(v))
}

// parseSource turns the code view's YAML (or JSON) into the definition as
// JSON, with every problem listed when it is not valid.
func (s *server) parseSource(c *fiber.Ctx) error {
	rs, err := s.runs()
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(c.Body())) == 0 {
		return models.Errorf(models.BadRequest, "the definition is empty")
	}
	def, err := rs.ParseDefinition(c.Body(), "application/yaml")
	if err != nil {
		return err
	}
	return c.JSON(def)
}
