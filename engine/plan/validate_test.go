package plan

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/baton-run/baton/models"
)

// problemsOf parses and compiles a YAML definition and returns its problems.
func problemsOf(t *testing.T, yamlDef string, l Limits) []models.Problem {
	t.Helper()
	_, err := Compiler{Limits: l}.ParseAndCompile([]byte(yamlDef), FormatYAML)
	if err == nil {
		return nil
	}
	if c := models.ErrorCode(err); c != models.Invalid {
		t.Fatalf("ParseAndCompile: code %s (%v); want invalid", c, err)
	}
	return models.ErrorDetails(err)
}

// TestValidationProblems shows, for each problem class of the spec's
// Validation section, the exact path and message a person gets.
func TestValidationProblems(t *testing.T) {
	t.Parallel()
	const head = "id: wf\nname: Workflow\n"
	tests := []struct {
		name  string
		def   string
		limit Limits
		want  []problem
	}{
		{
			name: "RequiredFields",
			def:  "description: nothing else\n",
			want: []problem{
				{"id", "required"},
				{"name", "required"},
				{"steps", "at least one step is required"},
			},
		},
		{
			name: "RequiredStepFields",
			def: head + `steps:
  - {name: unnamed}
  - {id: b, type: command}
  - {id: c, type: condition, action: {}}
  - {id: d, type: parallel, action: {forEach: "[1]"}}
conditions:
  - {description: no id}
parallelGroups:
  - {maxConcurrency: 1}
`,
			want: []problem{
				{"steps[0].id", "required"},
				{"steps[0].type", `required: "command", "condition", "parallel" or "wait"`},
				{"steps[1].action.kind", `required for a command: "http", "set", "log", "fail", "subworkflow" or "device"`},
				{"steps[2].action", "a condition step needs one of expression, condition or cases"},
				{"steps[3].action.step", "required for a parallel step: the command action to run for each element"},
				{"conditions[0].id", "required"},
				{"conditions[0].expression", "required"},
				{"parallelGroups[0].id", "required"},
				{"parallelGroups[0].steps", "at least one step is required"},
			},
		},
		{
			name: "Types",
			def: `id: wf
name: 7
maxConcurrency: 1.5
timeout: soon
steps:
  - id: a
    type: command
    dependencies: b
    retryPolicy: {maxAttempts: "3", jitter: true}
    action: {kind: log, message: hi, headers: [x], expectStatus: ["200"]}
`,
			want: []problem{
				{"name", "must be a string, not a number"},
				{"steps[0].action.expectStatus[0]", "must be a whole number, not a string"},
				{"steps[0].action.headers", "must be an object, not a list"},
				{"steps[0].dependencies", "must be a list, not a string"},
				{"steps[0].retryPolicy.jitter", "must be a number, not a boolean"},
				{"steps[0].retryPolicy.maxAttempts", "must be a whole number, not a string"},
				// The element was left out, but the field is still set, and
				// still does not belong.
				{"steps[0].action.expectStatus", `"expectStatus" does not belong to a "log" action`},
				{"timeout", `"soon" is not a duration: use milliseconds or a string such as "1.5s" or "10m"`},
				{"maxConcurrency", "must be a whole number, not 1.5"},
			},
		},
		{
			name: "UnknownFields",
			def: head + `stesp: []
steps:
  - id: a
    type: command
    acton: {kind: log, message: hi}
    action: {kind: log, mesage: hi, message: hi}
`,
			want: []problem{
				{"steps[0].action.mesage", `unknown field "mesage" (did you mean "message"?)`},
				{"steps[0].acton", `unknown field "acton" (did you mean "action"?)`},
				{"stesp", `unknown field "stesp" (did you mean "steps"?)`},
			},
		},
		{
			name: "IDPatterns",
			def: `id: Order_1
name: Workflow
inputs:
  order-id: {type: string}
steps:
  - {id: 1st, type: command, action: {kind: log, message: a}}
  - {id: ok, type: wait, action: {signal: "not ok"}}
conditions:
  - {id: is-big, expression: "true"}
parallelGroups:
  - {id: "g 1", steps: [ok]}
`,
			want: []problem{
				{"id", `"Order_1" is not a valid id: use lowercase letters, digits and '-', starting with a letter or digit, at most 63 characters`},
				{`inputs["order-id"]`, `"order-id" is not a valid input name: use letters, digits and '_', not starting with a digit`},
				{"steps[0].id", `"1st" is not a valid step id: use letters, digits and '_', not starting with a digit, at most 64 characters`},
				{"steps[1].action.signal", `"not ok" is not a valid signal name: use letters, digits, '_', '.' and '-', at most 128 characters`},
				{"conditions[0].id", `"is-big" is not a valid condition id: use letters, digits and '_', not starting with a digit, at most 64 characters`},
				{"parallelGroups[0].id", `"g 1" is not a valid group id: use letters, digits, '_' and '-', at most 64 characters`},
			},
		},
		{
			name: "DuplicateIDs",
			def: head + `steps:
  - {id: a, type: command, action: {kind: log, message: a}}
  - {id: a, type: command, action: {kind: log, message: b}}
conditions:
  - {id: c, expression: "true"}
  - {id: c, expression: "false"}
parallelGroups:
  - {id: g, steps: [a]}
  - {id: g, steps: [a]}
`,
			want: []problem{
				{"steps[1].id", `duplicate step id "a" (also steps[0])`},
				{"conditions[1].id", `duplicate condition id "c" (also conditions[0])`},
				{"parallelGroups[1].id", `duplicate group id "g"`},
				{"parallelGroups[1].steps[0]", `step "a" is already in group "g"; a step belongs to one group at most`},
			},
		},
		{
			name: "UnknownReferences",
			def: head + `steps:
  - {id: fetch_data, type: command, action: {kind: log, message: a}}
  - id: use
    type: command
    dependencies: [fetch_dta, fetch_data, fetch_data]
    onSuccess: nowhere
    onFailure: fetch_dat
    action: {kind: log, message: b}
  - {id: check, type: condition, action: {condition: is_bgi}}
  - id: table
    type: condition
    action: {cases: [{when: "true", next: fetchdata}], default: uss}
conditions:
  - {id: is_big, expression: "true"}
parallelGroups:
  - {id: g, steps: [fetch_data, usee]}
`,
			want: []problem{
				{"steps[1].dependencies[0]", `unknown step "fetch_dta" (did you mean "fetch_data"?)`},
				{"steps[1].dependencies[2]", `"fetch_data" is listed twice`},
				{"steps[1].onSuccess", `unknown step "nowhere"`},
				{"steps[1].onFailure", `unknown step "fetch_dat" (did you mean "fetch_data"?)`},
				{"steps[2].action.condition", `unknown condition "is_bgi" (did you mean "is_big"?)`},
				{"steps[3].action.cases[0].next", `unknown step "fetchdata" (did you mean "fetch_data"?)`},
				{"steps[3].action.default", `unknown step "uss" (did you mean "use"?)`},
				{"parallelGroups[0].steps[1]", `unknown step "usee" (did you mean "use"?)`},
			},
		},
		{
			name: "SelfReferences",
			def: head + `steps:
  - {id: a, type: command, dependencies: [a], onSuccess: a, onFailure: a, action: {kind: log, message: a}}
  - {id: t, type: condition, action: {cases: [{when: "true", next: t}], default: t}}
`,
			want: []problem{
				{"steps[0].dependencies[0]", "a step cannot refer to itself"},
				{"steps[0].onSuccess", "a step cannot refer to itself"},
				{"steps[0].onFailure", "a step cannot refer to itself"},
				{"steps[1].action.cases[0].next", "a step cannot refer to itself"},
				{"steps[1].action.default", "a step cannot refer to itself"},
			},
		},
		{
			name: "Cycles",
			def: head + `steps:
  - {id: start, type: command, action: {kind: log, message: s}}
  - {id: a, type: command, dependencies: [start, c], action: {kind: log, message: a}}
  - {id: b, type: command, dependencies: [a], action: {kind: log, message: b}}
  - {id: c, type: command, dependencies: [b], action: {kind: log, message: c}}
  - {id: d, type: condition, action: {expression: "true"}, onSuccess: e}
  - {id: e, type: condition, action: {cases: [{when: "true", next: d}]}}
`,
			want: []problem{
				{"steps[1]", "the steps form a cycle: a → b → c → a"},
				{"steps[4]", "the steps form a cycle: d → e → d"},
			},
		},
		{
			name: "Expressions",
			def: head + `inputs:
  amount: {type: number}
steps:
  - {id: fetch_data, type: command, action: {kind: log, message: a}}
  - {id: syntax, type: command, when: "inputs.amount >", action: {kind: log, message: a}}
  - {id: step_typo, type: condition, action: {expression: "steps.fetch_dta.output.ok"}}
  - {id: input_typo, type: condition, action: {expression: "inputs.amont > 5"}}
  - {id: types, type: condition, action: {expression: "inputs.amount > 'x'"}}
  - {id: not_bool, type: condition, action: {expression: "inputs.amount + 1"}}
  - {id: field, type: condition, action: {expression: "steps.fetch_data.outptu == 1"}}
  - {id: name, type: condition, action: {expression: "amount > 1"}}
  - {id: runf, type: command, when: "run.versoin > 1", action: {kind: log, message: a}}
`,
			want: []problem{
				{"steps[1].when", "column 15: unexpected token EOF"},
				{"steps[2].action.expression", `column 7: unknown step "fetch_dta" (did you mean "fetch_data"?)`},
				{"steps[3].action.expression", `column 8: unknown input "amont" (did you mean "amount"?)`},
				{"steps[4].action.expression", "column 15: invalid operation: > (mismatched types float64 and string)"},
				{"steps[5].action.expression", "a condition must give true or false, but this gives a number"},
				{"steps[6].action.expression", `column 18: a step has no field "outptu" (it has attempts, error, output, status) (did you mean "output"?)`},
				{"steps[7].action.expression", `column 1: unknown name "amount": expressions see inputs, run, steps`},
				{"steps[8].when", `column 5: run has no field "versoin" (did you mean "version"?)`},
			},
		},
		{
			name: "Templates",
			def: head + `steps:
  - id: a
    type: command
    action:
      kind: http
      url: "http://x/{{ inputs.id "
      headers: {X-A: "{{ }}"}
      body: {deep: ["ok", "{{ steps.b.output }}"]}
outputs:
  result: "value: {{ 1 + }}"
  literal: 5
`,
			want: []problem{
				{"steps[0].action.url", `column 10: unclosed "{{": close it with "}}"`},
				{`steps[0].action.headers["X-A"]`, `column 1: empty placeholder "{{}}"`},
				{"steps[0].action.body.deep[1]", `column 10: unknown step "b"`},
				{"outputs.literal", `must be a template string, such as "{{ steps.<id>.output }}", not the number 5`},
				{"outputs.result", "column 14: unexpected token EOF"},
			},
		},
		{
			name: "UnknownKindAndType",
			def: head + `steps:
  - {id: a, type: command, action: {kind: htp, url: "http://x"}}
  - {id: b, type: comand, action: {kind: log, message: b}}
  - {id: c, type: command, action: {kind: email}}
`,
			want: []problem{
				{"steps[0].action.kind", `unknown kind "htp" (did you mean "http"?): use "http", "set", "log", "fail", "subworkflow" or "device"`},
				{"steps[1].type", `unknown step type "comand" (did you mean "command"?): use "command", "condition", "parallel" or "wait"`},
				{"steps[2].action.kind", `unknown kind "email": use "http", "set", "log", "fail", "subworkflow" or "device"`},
			},
		},
		{
			name: "FieldsThatDoNotBelong",
			def: head + `steps:
  - {id: a, type: command, action: {kind: log, message: a, url: "http://x"}}
  - {id: b, type: condition, action: {expression: "true", forEach: "[1]"}}
  - {id: c, type: wait, action: {duration: 1s, kind: http}}
  - {id: d, type: parallel, action: {forEach: "[1]", step: {kind: set, values: {a: 1}, message: m}, signal: s}}
  - {id: e, type: wait, action: {duration: 5s, timeout: 1s}}
  - {id: f, type: condition, action: {expression: "true", default: a}}
`,
			want: []problem{
				{"steps[0].action.url", `"url" does not belong to a "log" action`},
				{"steps[1].action.forEach", `"forEach" does not belong to a condition step`},
				{"steps[2].action.kind", `"kind" does not belong to a wait step`},
				{"steps[2].action.timeout", ""},
				{"steps[3].action.signal", `"signal" does not belong to a parallel step`},
				{"steps[3].action.step.message", `"message" does not belong to a "set" action`},
				{"steps[4].action.timeout", "belongs to a signal wait only"},
				{"steps[5].action.default", "belongs to a decision table (cases) only"},
			},
		},
		{
			name:  "Limits",
			limit: Limits{MaxSteps: 2, MaxExpressionBytes: 10},
			def: head + `steps:
  - {id: a, type: condition, action: {expression: "1 + 1 == 2 && true"}}
  - {id: b, type: command, action: {kind: log, message: "{{ 'a very long expression' }}"}}
  - {id: c, type: command, action: {kind: log, message: c}}
`,
			want: []problem{
				{"steps", "3 steps; the limit is 2"},
				{"steps[0].action.expression", "expression is 18 bytes; the limit is 10"},
				{"steps[1].action.message", "expression is 26 bytes; the limit is 10"},
			},
		},
		{
			name: "Settings",
			def: head + `maxConcurrency: -1
errorHandling: {strategy: rollbak}
retryPolicy: {maxAttempts: 1000, jitter: 2, backoffCoefficient: 0.5, initialInterval: 5s, maxInterval: 1s, nonRetryable: [""]}
inputs:
  n: {type: integr}
  m: {type: integer, default: 1.5}
  o: {}
steps:
  - {id: a, type: command, trigger: any, action: {kind: http, url: "http://x", method: FETCH, expectStatus: [99]}}
  - {id: b, type: command, action: {kind: subworkflow, template: Bad_Key, version: -1}}
  - {id: c, type: parallel, action: {forEach: "[1]", as: index, maxConcurrency: -2, step: {kind: set}}}
  - {id: d, type: wait, action: {duration: 1s, signal: go}}
  - {id: e, type: wait, action: {}}
  - {id: f, type: command, action: {kind: device}}
`,
			want: []problem{
				{"inputs.m.default", "must be a whole number, not 1.5"},
				{"inputs.n.type", `unknown type "integr" (did you mean "integer"?): use "string", "number", "integer", "boolean", "object" or "array"`},
				{"inputs.o.type", `required: "string", "number", "integer", "boolean", "object" or "array"`},
				{"steps[0].trigger", `unknown trigger rule "any": use "none_failed", "all_success" or "all_done"`},
				{"steps[0].action.method", `unknown HTTP method "FETCH": use "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD" or "OPTIONS"`},
				{"steps[0].action.expectStatus[0]", "99 is not an HTTP status (100–599)"},
				{"steps[1].action.template", `"Bad_Key" is not a valid template key: use lowercase letters, digits and '-', starting with a letter or digit, at most 63 characters`},
				{"steps[1].action.version", "must be 1 or more (or left out for the latest approved version)"},
				{"steps[2].action.as", `"index" is already a name in expressions: choose another`},
				{"steps[2].action.maxConcurrency", "must be 0 (no cap) or more"},
				{"steps[2].action.step.values", `required for a "set" action: a map of names to values`},
				{"steps[3].action", "a wait step takes a duration or a signal, not both"},
				{"steps[4].action", "a wait step needs a duration or a signal"},
				{"steps[5].action.command", `required for a "device" action`},
				{"errorHandling.strategy", `unknown strategy "rollbak" (did you mean "rollback"?): use "fail", "continue" or "rollback"`},
				{"retryPolicy.maxAttempts", "must be between 1 and 100, not 1000"},
				{"retryPolicy.backoffCoefficient", "must be between 1 and 100, not 0.5"},
				{"retryPolicy.jitter", "must be between 0 and 1, not 2"},
				{"retryPolicy.nonRetryable[0]", "an error code may not be empty"},
				{"retryPolicy.maxInterval", "1000 ms is shorter than initialInterval (5000 ms)"},
				{"maxConcurrency", "must be 0 (no cap) or more"},
			},
		},
		{
			name: "DecisionTableEdges",
			def: head + `steps:
  - {id: a, type: command, action: {kind: log, message: a}}
  - id: t
    type: condition
    onSuccess: a
    onFailure: a
    action: {cases: [{when: "true", next: a}, {next: a}]}
  - {id: both, type: condition, action: {expression: "true", condition: x}}
`,
			want: []problem{
				{"steps[1].action.cases[1].when", "required"},
				{"steps[1].onSuccess", "does not apply to a decision table: use cases[].next"},
				{"steps[1].onFailure", "does not apply to a decision table: use default"},
				{"steps[2].action", "a condition step takes only one of expression, condition or cases"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := problemsOf(t, tt.def, tt.limit)
			want := tt.want
			// An empty message in want marks a problem we do not expect:
			// a compact way to say "this field has no other complaint".
			var unexpected []string
			var filtered []models.Problem
			for _, w := range want {
				if w.msg == "" {
					unexpected = append(unexpected, w.path)
					continue
				}
				filtered = append(filtered, models.Problem{Path: w.path, Message: w.msg})
			}
			for _, g := range got {
				for _, u := range unexpected {
					if g.Path == u {
						t.Errorf("unexpected problem %s", g)
					}
				}
			}
			if !reflect.DeepEqual(got, filtered) {
				t.Errorf("problems:\n%s\nwant:\n%s", problemList(got), problemList(filtered))
			}
		})
	}
}

// problem is a models.Problem written compactly in tables.
type problem struct{ path, msg string }

func problemList(ps []models.Problem) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "  {%q, %q},\n", p.Path, p.Message)
	}
	return b.String()
}
