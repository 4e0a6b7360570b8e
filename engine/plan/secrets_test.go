package plan

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

type fakeSecrets map[string]string

func (f fakeSecrets) SecretValue(_ context.Context, name, _ string) (string, error) {
	if v, ok := f[name]; ok {
		return v, nil
	}
	return "", errors.New("not found")
}

// A preview (no resolver) shows ***; a run gets the value and can redact it.
func TestSecretPlaceholders(t *testing.T) {
	def, err := Parse([]byte(`
id: s
name: s
steps:
  - {id: a, type: command, action: {kind: set, values: {auth: "Bearer {{ secrets.TOKEN }}", whole: "{{secrets.TOKEN}}"}}}
`), FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compiler{}.Compile(def)
	if err != nil {
		t.Fatal(err)
	}
	render := func(s *Scope) string {
		act, err := p.Steps[0].Action.Render(s)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(act)
		return string(b)
	}
	preview := NewScope(p, RunInfo{ID: "r1"}, nil)
	if got := render(preview); !strings.Contains(got, `"Bearer ***"`) || !strings.Contains(got, `"whole":"***"`) {
		t.Errorf("preview = %s; want ***", got)
	}
	run := NewScope(p, RunInfo{ID: "r1"}, nil)
	run.SetSecrets(context.Background(), fakeSecrets{"TOKEN": "v4lue"}, "r1")
	got := render(run)
	if !strings.Contains(got, `"Bearer v4lue"`) {
		t.Errorf("run = %s; want the value", got)
	}
	if r := run.Redact(map[string]any{"echo": []any{"x v4lue y"}}); r.(map[string]any)["echo"].([]any)[0] != "x *** y" {
		t.Errorf("Redact = %v", r)
	}
	noStore := NewScope(p, RunInfo{ID: "r1"}, nil)
	noStore.SetSecrets(context.Background(), nil, "r1")
	if _, err := p.Steps[0].Action.Render(noStore); err == nil {
		t.Error("a run without a secrets store rendered a secret")
	}
}
