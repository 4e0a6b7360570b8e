package engine

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/models"
)

// Error codes the engine gives to step failures.
const (
	CodeExpression   = "expression_error"     // an expression or template failed: never retried
	CodeFail         = "fail"                 // a fail action
	CodeTimeout      = "timeout"              // an attempt ran past the step's timeout
	CodeCancelled    = "cancelled"            // the step was cancelled
	CodeSignalTimout = "signal_timeout"       // a signal did not arrive in time
	CodeAction       = "action_error"         // an action failed without saying why
	CodeUnknownKind  = "unknown_kind"         // no action is registered for the kind
	CodeOutputLarge  = "output_too_large"     // an output exceeded the limit
	CodeHTTPStatus   = "http_status"          // an unexpected HTTP status
	CodeHTTP         = "http_error"           // an HTTP transport failure
	CodeSubworkflow  = "subworkflow_failed"   // the child run did not succeed
	CodeTooDeep      = "subworkflow_too_deep" // the child would nest past Config.MaxSubworkflowDepth
	CodeCompensation = "compensation_failed"
	CodeItemsFailed  = "items_failed" // a parallel step's elements failed
	CodeInternal     = "internal"
)

// StepFailure is an error an action returns to say how it failed: a code, a
// message for a person, and whether another attempt may succeed.
type StepFailure struct {
	Code      string
	Message   string
	Retryable bool
	// Output, when set, is recorded as the attempt's output (an HTTP
	// response with an unexpected status, for example).
	Output any
}

func (e *StepFailure) Error() string { return e.Code + ": " + e.Message }

// Permanent returns an error that is never retried.
func Permanent(code, format string, args ...any) error {
	return &StepFailure{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Retryable returns an error that the retry policy may retry.
func Retryable(code, format string, args ...any) error {
	return &StepFailure{Code: code, Message: fmt.Sprintf(format, args...), Retryable: true}
}

// toStepError turns whatever an action returned into a stored StepError.
// Errors that say nothing about themselves are retryable: most failures
// without a classification are transient.
func toStepError(err error) *models.StepError {
	var sf *StepFailure
	if errors.As(err, &sf) {
		return &models.StepError{Code: sf.Code, Message: sf.Message, Retryable: sf.Retryable}
	}
	var ee *plan.EvalError
	if errors.As(err, &ee) {
		return &models.StepError{Code: CodeExpression, Message: ee.Error()}
	}
	return &models.StepError{Code: CodeAction, Message: err.Error(), Retryable: true}
}

// mayRetry reports whether the failed attempt may be followed by another
// (the rule is models.RetryPolicy.MayRetry, which the run page uses too).
func mayRetry(p models.RetryPolicy, attempt int, e *models.StepError) bool {
	return p.MayRetry(attempt, e)
}

// backoff is the pause before attempt next (≥ 2): initialInterval ·
// coefficient^(next-2), capped at maxInterval, ± jitter. The spec's "attempt
// n waits initialInterval·coefficient^(n-1)" counts retries from 1, so the
// first retry waits initialInterval.
func backoff(p models.RetryPolicy, next int, rnd func() float64) time.Duration {
	if next < 2 {
		return 0
	}
	coef := p.BackoffCoefficient
	if coef <= 0 {
		coef = 1
	}
	d := float64(p.InitialInterval) * math.Pow(coef, float64(next-2))
	if max := float64(p.MaxInterval); max > 0 && d > max {
		d = max
	}
	if p.Jitter != nil && *p.Jitter > 0 {
		if rnd == nil {
			rnd = rand.Float64
		}
		d += d * *p.Jitter * (2*rnd() - 1)
	}
	if d < 0 {
		d = 0
	}
	return time.Duration(d * float64(time.Millisecond))
}
