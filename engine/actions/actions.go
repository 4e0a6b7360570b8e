// Package actions holds Baton's built-in command actions: http, set, log
// and fail. main builds an engine.Registry from them; the engine itself
// knows no action by name.
package actions

import (
	"context"
	"log/slog"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/models"
)

// Builtins returns every built-in action with its default settings.
func Builtins(log *slog.Logger) []engine.Action {
	return []engine.Action{NewHTTP(HTTPConfig{}), Set{}, Log{Logger: log}, Fail{}}
}

// Set outputs its values, already rendered by the engine.
type Set struct{}

// Kind returns "set".
func (Set) Kind() string { return models.KindSet }

// Inline reports that set runs on the engine's goroutine.
func (Set) Inline() bool { return true }

// Run returns the values.
func (Set) Run(_ context.Context, in engine.ActionInput) (any, error) {
	v := in.Action.Values
	if v == nil {
		v = map[string]any{}
	}
	return v, nil
}

// Log outputs its message, and writes it to Logger when set.
type Log struct {
	Logger *slog.Logger
}

// Kind returns "log".
func (Log) Kind() string { return models.KindLog }

// Inline reports that log runs on the engine's goroutine.
func (Log) Inline() bool { return true }

// Run logs the message.
func (l Log) Run(_ context.Context, in engine.ActionInput) (any, error) {
	if l.Logger != nil {
		l.Logger.Info(in.Action.Message, "run", in.RunID, "step", in.StepID)
	}
	return map[string]any{"message": in.Action.Message}, nil
}

// Fail fails the step with its message; retryable only when it says so.
type Fail struct{}

// Kind returns "fail".
func (Fail) Kind() string { return models.KindFail }

// Inline reports that fail runs on the engine's goroutine.
func (Fail) Inline() bool { return true }

// Run fails.
func (Fail) Run(_ context.Context, in engine.ActionInput) (any, error) {
	retry := in.Action.Retryable != nil && *in.Action.Retryable
	return nil, &engine.StepFailure{Code: engine.CodeFail, Message: in.Action.Message, Retryable: retry}
}
