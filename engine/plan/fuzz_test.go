package plan

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/baton-run/baton/models"
	"github.com/expr-lang/expr/types"
)

// FuzzParseCompile feeds arbitrary bytes through Parse (as JSON and as
// YAML), Compile, CheckInputs and the rendering of every template. Any
// outcome but a panic or a hang is fine, except that a definition that
// compiles must survive the canonical round trip. The corpus is in
// testdata/fuzz/FuzzParseCompile; CI runs
//
//	go test -run='^$' -fuzz=FuzzParseCompile -fuzztime=20s ./engine
//
// The target takes one argument, not (data, format): with two, Go's fuzzer
// has been seen to stop reporting progress (golang/go#51484).
func FuzzParseCompile(f *testing.F) {
	for _, pattern := range []string{"../../docs/examples/*.yaml", "testdata/definitions/*"} {
		files, _ := filepath.Glob(pattern)
		for _, name := range files {
			if data, err := os.ReadFile(name); err == nil {
				f.Add(data)
			}
		}
	}
	f.Add([]byte(`{"id":"x","name":"X","steps":[{"id":"a","type":"command","action":{"kind":"log","message":"{{ inputs.x }}"}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, format := range []Format{FormatJSON, FormatYAML} {
			p, err := Compiler{}.ParseAndCompile(data, format)
			if err != nil {
				if models.ErrorCode(err) == models.Internal {
					t.Fatalf("an error without a code: %v", err)
				}
				continue
			}
			canon, err := p.Canonical()
			if err != nil {
				t.Fatalf("Canonical: %v", err)
			}
			p2, err := Compiler{}.ParseAndCompile(canon, FormatJSON)
			if err != nil {
				t.Fatalf("the canonical form does not compile: %v\n%s", err, canon)
			}
			canon2, _ := p2.Canonical()
			if !bytes.Equal(canon, canon2) {
				t.Fatalf("canonical form not stable:\n%s\n%s", canon, canon2)
			}
			exercisePlan(p)
		}
	})
}

// exercisePlan evaluates everything a plan holds against a scope built
// from its defaults: errors are expected, panics are not.
func exercisePlan(p *Plan) {
	in, err := p.CheckInputs(nil)
	if err != nil {
		in = map[string]any{}
	}
	s := NewScope(p, RunInfo{ID: "fuzz", Template: p.Definition.ID, Version: 1}, in)
	for _, st := range p.Steps {
		s.SetStep(st.Step.ID, StepResult{Status: models.StepSucceeded, Output: map[string]any{"ok": true, "n": 1.0}, Attempts: 1})
	}
	for _, st := range p.Steps {
		for _, e := range append([]*Expr{st.When, st.Condition, st.ForEach}, st.Cases...) {
			if e != nil {
				_, _ = e.Bool(s)
			}
		}
		for _, a := range []*ActionTemplate{st.Action, st.Compensate} {
			if a != nil {
				_, _ = a.Render(s)
			}
		}
		if st.ItemAction != nil {
			_, _ = st.ItemAction.Render(s.WithItem(st.ItemName, "x", 0))
		}
	}
	for _, t := range p.Outputs {
		_, _ = t.Render(s)
	}
}

// FuzzTemplate compiles and renders arbitrary template strings. Its corpus
// is in testdata/fuzz/FuzzTemplate; CI runs
//
//	go test -run='^$' -fuzz=FuzzTemplate -fuzztime=20s ./engine
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{
		"plain", "{{ inputs.n }}", "a {{ inputs.s }} b {{ steps.a.output }}", "{{", "}}", "{{ }}", "{{{{ 1 }}}}",
		"{{ inputs.o.k }}", "{{ 1..3 }}", "{{ map(1..5, # * inputs.n) }}", "é{{ 'ü' }}ß{{", "{{ steps.a.output.x.y }}",
	} {
		f.Add(s)
	}
	p, err := Compile(models.Definition{ID: "f", Name: "F",
		Inputs: map[string]models.InputDecl{"n": {Type: models.TypeNumber}, "s": {Type: models.TypeString}, "o": {Type: models.TypeObject}},
		Steps:  []models.Step{{ID: "a", Type: models.StepWait, Action: models.Action{Duration: 1}}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, src string) {
		c := &compiler{limits: Limits{}.withDefaults()}
		c.xc = newExprCompiler(c.limits.MaxExpressionBytes)
		env := newExprEnv(map[string]types.Type{"n": exprType(models.TypeNumber), "s": exprType(models.TypeString), "o": exprType(models.TypeObject)}, []string{"a"}, "")
		tpl, msgs := parseTemplate(src, "f", env, c.xc)
		if tpl == nil {
			if len(msgs) == 0 {
				t.Fatalf("parseTemplate(%q) failed without a problem", src)
			}
			return
		}
		s := NewScope(p, RunInfo{}, map[string]any{"n": 2.0, "s": "x", "o": map[string]any{"k": []any{1.0}}})
		s.SetStep("a", StepResult{Status: models.StepSucceeded, Output: map[string]any{"x": nil}})
		_, _ = tpl.Render(s)
		_, _ = tpl.RenderString(s)
	})
}

// FuzzParseYAML feeds arbitrary bytes to the YAML path (pre-scan, parser,
// normalise). Whatever the input, the parse must end with a coded error or
// a definition, and allocate at most yamlFuzzCeiling bytes: the pre-scan
// is what keeps a 1 MiB document from costing gigabytes. CI runs
//
//	go test -run='^$' -fuzz=FuzzParseYAML -fuzztime=15s ./engine/plan
func FuzzParseYAML(f *testing.F) {
	for _, data := range hostileYAML() {
		if len(data) < 64<<10 {
			f.Add(data)
		}
	}
	f.Add([]byte("id: x\nname: X\nsteps:\n  - id: a\n    type: command\n    action: {kind: log, message: hi}\n"))
	f.Add([]byte("a: &a [1, 2]\nb: [*a, *a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Compiler{}.Parse(data, FormatYAML)
		runtime.ReadMemStats(&after)
		if err != nil && models.ErrorCode(err) == models.Internal {
			t.Fatalf("an error without a code: %v", err)
		}
		// Per byte of input: generous for the parser's syntax tree, far
		// below what an unbounded alias or nesting expansion takes.
		if got, ceiling := after.TotalAlloc-before.TotalAlloc, uint64(yamlFuzzCeiling(len(data))); got > ceiling {
			t.Fatalf("parsing %d bytes allocated %d bytes; the ceiling is %d", len(data), got, ceiling)
		}
	})
}

// yamlFuzzCeiling is the allocation a parse of n bytes may make: 8 MiB
// plus 200 bytes per input byte (docs/security.md).
func yamlFuzzCeiling(n int) int { return 8<<20 + 200*n }
