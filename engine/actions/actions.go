// Package actions holds Baton's built-in command actions: http, set, log
// and fail. main builds an engine.Registry from them; the engine itself
// knows no action by name.
package actions

import (
	"context"
	"fmt"
	"log/slog"
	"unicode/utf8"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/models"
)

// Builtins returns every built-in action with its default settings (the
// http action with the zero EgressPolicy: metadata and link-local
// refused, loopback permitted, as `baton run` wants).
func Builtins(log *slog.Logger) []engine.Action {
	return BuiltinsWith(log, HTTPConfig{})
}

// BuiltinsWith returns every built-in action, the http action configured
// by h (baton serve passes its egress policy here).
func BuiltinsWith(log *slog.Logger, h HTTPConfig) []engine.Action {
	return []engine.Action{NewHTTP(h), Set{}, Log{Logger: log}, Fail{}}
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

// MaxServerLogMessage is how much of a log step's message goes to the
// server's log; the whole message is the step's output. A run should not
// be able to put megabytes into the operator's log.
const MaxServerLogMessage = 4 << 10

// MaxFailMessage is the longest fail message kept. The message becomes
// the step's error, the run's error and an event, so it is stored several
// times and shown on the run page; 4 KiB says why a run failed.
const MaxFailMessage = 4 << 10

// Run logs the message. A message larger than the step's output limit is
// refused (output_too_large) before anything is written, since the output
// check after it would refuse it anyway; the server's log gets at most
// MaxServerLogMessage bytes of it, marked when cut.
func (l Log) Run(_ context.Context, in engine.ActionInput) (any, error) {
	msg := in.Action.Message
	if in.MaxOutputBytes > 0 && len(msg) > in.MaxOutputBytes {
		return nil, &engine.StepFailure{Code: engine.CodeOutputLarge,
			Message: fmt.Sprintf("the log message is %d bytes; the limit for a step's output is %d", len(msg), in.MaxOutputBytes)}
	}
	if l.Logger != nil {
		logged := msg
		if in.Redact != nil {
			logged = in.Redact(msg) // the server's log is not the run's: no secret goes there
		}
		l.Logger.Info(truncate(logged, MaxServerLogMessage), "run", in.RunID, "step", in.StepID)
	}
	return map[string]any{"message": msg}, nil
}

// truncate cuts s to at most max bytes (on a rune boundary) and says how
// much was cut.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("… [truncated: %d bytes in all]", len(s))
}

// Fail fails the step with its message; retryable only when it says so.
type Fail struct{}

// Kind returns "fail".
func (Fail) Kind() string { return models.KindFail }

// Inline reports that fail runs on the engine's goroutine.
func (Fail) Inline() bool { return true }

// Run fails, with the message cut to MaxFailMessage bytes (marked when
// cut): truncated rather than refused, because the step must still fail
// as the definition says, with its code and retryability.
func (Fail) Run(_ context.Context, in engine.ActionInput) (any, error) {
	retry := in.Action.Retryable != nil && *in.Action.Retryable
	return nil, &engine.StepFailure{Code: engine.CodeFail, Message: truncate(in.Action.Message, MaxFailMessage), Retryable: retry}
}
