package models

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Definition is a workflow as users write it: the format of
// shared/spec/definition.md. JSON is canonical; YAML with the same field
// names is accepted by the parser in package engine.
type Definition struct {
	ID             string               `json:"id"`
	Name           string               `json:"name"`
	Version        string               `json:"version,omitempty"`
	Description    string               `json:"description,omitempty"`
	Inputs         map[string]InputDecl `json:"inputs,omitempty"`
	Steps          []Step               `json:"steps"`
	Conditions     []Condition          `json:"conditions,omitempty"`
	ParallelGroups []ParallelGroup      `json:"parallelGroups,omitempty"`
	ErrorHandling  *ErrorHandling       `json:"errorHandling,omitempty"`
	Timeout        Duration             `json:"timeout,omitempty"`
	RetryPolicy    *RetryPolicy         `json:"retryPolicy,omitempty"`
	MaxConcurrency int                  `json:"maxConcurrency,omitempty"`
	Outputs        map[string]any       `json:"outputs,omitempty"`

	// inputOrder is the order the JSON declared Inputs in (see InputNames).
	inputOrder []string
}

// InputDecl declares one run input.
type InputDecl struct {
	Type        string `json:"type"`
	Required    bool   `json:"required,omitempty"`
	Default     any    `json:"default,omitempty"`
	Description string `json:"description,omitempty"`
}

// Input types.
const (
	TypeString  = "string"
	TypeNumber  = "number"
	TypeInteger = "integer"
	TypeBoolean = "boolean"
	TypeObject  = "object"
	TypeArray   = "array"
)

// Step is one node of a workflow.
type Step struct {
	ID           string       `json:"id"`
	Name         string       `json:"name,omitempty"`
	Type         string       `json:"type"`
	Action       Action       `json:"action"`
	Dependencies []string     `json:"dependencies,omitempty"`
	Trigger      string       `json:"trigger,omitempty"`
	When         string       `json:"when,omitempty"`
	Timeout      Duration     `json:"timeout,omitempty"`
	RetryPolicy  *RetryPolicy `json:"retryPolicy,omitempty"`
	OnSuccess    StepRefs     `json:"onSuccess,omitempty"`
	OnFailure    StepRefs     `json:"onFailure,omitempty"`
	Compensate   *Action      `json:"compensate,omitempty"`
	// Position is where the designer draws the step; an extension of the
	// spec's format that the engine ignores.
	Position *Position `json:"position,omitempty"`
}

// Position is a point on the designer's canvas.
type Position struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Step types.
const (
	StepCommand   = "command"
	StepCondition = "condition"
	StepParallel  = "parallel"
	StepWait      = "wait"
)

// Command action kinds.
const (
	KindHTTP        = "http"
	KindSet         = "set"
	KindLog         = "log"
	KindFail        = "fail"
	KindSubworkflow = "subworkflow"
	KindDevice      = "device"
)

// Trigger rules.
const (
	TriggerNoneFailed = "none_failed"
	TriggerAllSuccess = "all_success"
	TriggerAllDone    = "all_done"
)

// Action is the union of every step type's action fields. Which fields may be
// set depends on the step's type (and, for commands, on Kind); validation in
// package engine reports fields that do not belong.
type Action struct {
	// command
	Kind         string            `json:"kind,omitempty"`
	Method       string            `json:"method,omitempty"`
	URL          string            `json:"url,omitempty"`
	Headers      map[string]string `json:"headers,omitempty"`
	Query        map[string]string `json:"query,omitempty"`
	Body         any               `json:"body,omitempty"`
	ExpectStatus []int             `json:"expectStatus,omitempty"`
	Values       map[string]any    `json:"values,omitempty"`
	Message      string            `json:"message,omitempty"`
	Retryable    *bool             `json:"retryable,omitempty"`
	Template     string            `json:"template,omitempty"`
	Version      int               `json:"version,omitempty"`
	Inputs       map[string]any    `json:"inputs,omitempty"`
	Command      string            `json:"command,omitempty"`
	Args         []string          `json:"args,omitempty"`
	// device (see shared/spec/devices.md)
	Require      []string          `json:"require,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	Env          map[string]string `json:"env,omitempty"`
	Strategy     string            `json:"strategy,omitempty"`
	Device       string            `json:"device,omitempty"`
	QueueTimeout Duration          `json:"queueTimeout,omitempty"`
	Fallback     []DeviceRoute     `json:"fallback,omitempty"`

	// condition
	Expression string `json:"expression,omitempty"`
	Condition  string `json:"condition,omitempty"`
	Cases      []Case `json:"cases,omitempty"`
	Default    string `json:"default,omitempty"`

	// parallel
	ForEach        string  `json:"forEach,omitempty"`
	As             string  `json:"as,omitempty"`
	MaxConcurrency int     `json:"maxConcurrency,omitempty"`
	FailFast       bool    `json:"failFast,omitempty"`
	Step           *Action `json:"step,omitempty"`

	// wait
	Duration Duration `json:"duration,omitempty"`
	Signal   string   `json:"signal,omitempty"`
	Timeout  Duration `json:"timeout,omitempty"`
}

// Case is one row of a decision table.
type Case struct {
	When string `json:"when"`
	Next string `json:"next"`
}

// Condition is a named, reusable boolean expression.
type Condition struct {
	ID          string `json:"id"`
	Expression  string `json:"expression"`
	Description string `json:"description,omitempty"`
}

// ParallelGroup caps how many of its steps run at once.
type ParallelGroup struct {
	ID             string   `json:"id"`
	Steps          []string `json:"steps"`
	MaxConcurrency int      `json:"maxConcurrency,omitempty"`
	FailFast       bool     `json:"failFast,omitempty"`
}

// ErrorHandling says what an unhandled step failure does to the run.
type ErrorHandling struct {
	Strategy string `json:"strategy"`
}

// Error-handling strategies.
const (
	StrategyFail     = "fail"
	StrategyContinue = "continue"
	StrategyRollback = "rollback"
)

// RetryPolicy says how often and how far apart a step's attempts are.
type RetryPolicy struct {
	MaxAttempts        int      `json:"maxAttempts,omitempty"`
	InitialInterval    Duration `json:"initialInterval,omitempty"`
	BackoffCoefficient float64  `json:"backoffCoefficient,omitempty"`
	MaxInterval        Duration `json:"maxInterval,omitempty"`
	// Jitter is a pointer because 0 (no jitter) differs from unset (0.1).
	Jitter       *float64 `json:"jitter,omitempty"`
	NonRetryable []string `json:"nonRetryable,omitempty"`
}

// MayRetry reports whether a failed attempt (attempt counts from 1) is
// followed by another under this policy: the error says it is retryable,
// attempts are left, and its code is not listed NonRetryable. The policy
// is an effective one (the engine's compiled plan fills every field).
func (p RetryPolicy) MayRetry(attempt int, err *StepError) bool {
	if err == nil || !err.Retryable || attempt >= p.MaxAttempts {
		return false
	}
	return !slices.Contains(p.NonRetryable, err.Code)
}

// Duration is a length of time in whole milliseconds. It is written as a
// number; it reads a number of milliseconds or a Go duration string such as
// "1.5s".
type Duration int64

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) * time.Millisecond }

// MarshalJSON writes d as a number of milliseconds.
func (d Duration) MarshalJSON() ([]byte, error) {
	return strconv.AppendInt(nil, int64(d), 10), nil
}

// UnmarshalJSON reads a number of milliseconds or a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := ParseDuration(s)
		if err != nil {
			return err
		}
		*d = v
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("a duration is a number of milliseconds or a string such as \"1.5s\"")
	}
	if f < 0 || f != float64(int64(f)) {
		return fmt.Errorf("a duration in milliseconds must be a whole number of at least 0, not %v", f)
	}
	*d = Duration(f)
	return nil
}

// ParseDuration reads a Go duration string ("1.5s", "10m") or a plain number
// of milliseconds ("250").
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("duration %q is negative", s)
		}
		return Duration(n), nil
	}
	td, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: use milliseconds or a string such as \"1.5s\" or \"10m\"", s)
	}
	if td < 0 {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	if td%time.Millisecond != 0 {
		return 0, fmt.Errorf("duration %q is finer than a millisecond", s)
	}
	return Duration(td / time.Millisecond), nil
}

// StepRefs names the steps an onSuccess or onFailure edge leads to: one
// step id (the spec's form, written as a string) or several (a branch that
// fans out; written as a list). An extension of the spec: a condition's
// true or false branch may start several steps at once.
type StepRefs []string

// UnmarshalJSON reads a step id or a list of them; "" and null are none.
func (r *StepRefs) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*r = nil
		if one != "" {
			*r = StepRefs{one}
		}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("must be a step id or a list of step ids")
	}
	*r = StepRefs(many)
	return nil
}

// MarshalJSON writes one step as a string (the spec's form) and several
// as a list.
func (r StepRefs) MarshalJSON() ([]byte, error) {
	if len(r) == 1 {
		return json.Marshal(r[0])
	}
	return json.Marshal([]string(r))
}
