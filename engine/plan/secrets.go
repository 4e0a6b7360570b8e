package plan

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
)

// Secrets in templates: {{ secrets.NAME }} is a placeholder of its own kind,
// not an expression. It is resolved only when a step's action is rendered
// for a run (through the scope's SecretResolver), so a definition, a
// version, an export or a preview never holds a value; a scope without a
// resolver (previews, validation) renders it as Redacted. Every value
// resolved for a run is remembered by the run's scope, and the engine passes
// what it stores (outputs, errors, events) through Scope.Redact.

// Redacted is what a secret's value is replaced with wherever it would be shown.
const Redacted = "***"

// SecretResolver gives a secret's value for a run; the store's
// implementation audits each use. An unknown name is an error the step
// fails with (the value is never in it).
type SecretResolver interface {
	SecretValue(ctx context.Context, name, runID string) (string, error)
}

// secretRef matches a placeholder that names a secret: {{ secrets.NAME }}.
var secretRef = regexp.MustCompile(`^\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*$`)

// secretState is one run's secrets: how to resolve them and the values
// resolved so far, for redaction. Shared by a scope and its children.
type secretState struct {
	ctx      context.Context
	resolver SecretResolver
	runID    string
	// mu guards values: forEach elements run (and are redacted) on their
	// own goroutines while the run renders other steps.
	mu     sync.Mutex
	values map[string]string // name → value, resolved once per run
}

// snapshot copies the values resolved so far.
func (st *secretState) snapshot() map[string]string {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.values) == 0 {
		return nil
	}
	out := make(map[string]string, len(st.values))
	for k, v := range st.values {
		out[k] = v
	}
	return out
}

// SetSecrets lets this run's templates resolve {{ secrets.NAME }} through r;
// with a nil r they fail ("no secrets store"). A scope on which SetSecrets
// was never called (a preview) renders them as Redacted. ctx bounds the
// lookups.
func (s *Scope) SetSecrets(ctx context.Context, r SecretResolver, runID string) {
	root := s
	if s.root != nil {
		root = s.root
	}
	root.secrets = &secretState{ctx: ctx, resolver: r, runID: runID, values: map[string]string{}}
}

func (s *Scope) secretState() *secretState {
	if s.root != nil {
		return s.root.secrets
	}
	return s.secrets
}

// secret resolves one secret for this scope's run, or Redacted without a
// resolver.
func (s *Scope) secret(name string) (string, error) {
	st := s.secretState()
	if st == nil {
		return Redacted, nil
	}
	if st.resolver == nil {
		return "", errors.New("this server has no secrets store")
	}
	st.mu.Lock()
	v, ok := st.values[name]
	st.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := st.resolver.SecretValue(st.ctx, name, st.runID)
	if err != nil {
		return "", err
	}
	st.mu.Lock()
	st.values[name] = v
	st.mu.Unlock()
	return v, nil
}

// Redact replaces every secret value this run resolved, wherever it appears
// in v (strings, and strings inside maps and lists), by Redacted. It returns
// v itself when there is nothing to replace.
func (s *Scope) Redact(v any) any {
	st := s.secretState()
	if st == nil {
		return v
	}
	values := st.snapshot()
	if values == nil {
		return v
	}
	return redactValue(v, values)
}

// HasSecrets reports whether the run has resolved any secret so far, so
// callers can skip preparing a value for Redact when it cannot change it.
func (s *Scope) HasSecrets() bool {
	st := s.secretState()
	return st != nil && st.snapshot() != nil
}

// RedactString is Redact for one string.
func (s *Scope) RedactString(str string) string {
	st := s.secretState()
	if st == nil {
		return str
	}
	values := st.snapshot()
	if values == nil {
		return str
	}
	return redactString(str, values)
}

func redactString(str string, values map[string]string) string {
	for _, v := range values {
		if v != "" && strings.Contains(str, v) {
			str = strings.ReplaceAll(str, v, Redacted)
		}
	}
	return str
}

func redactValue(v any, values map[string]string) any {
	switch v := v.(type) {
	case string:
		return redactString(v, values)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[redactString(k, values)] = redactValue(x, values)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = redactValue(x, values)
		}
		return out
	}
	return v
}
