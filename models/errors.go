// Package models holds Baton's domain types: the workflow definition format,
// templates and versions, runs and their steps and events, users and tokens,
// and the one error type every layer returns. It imports the standard library
// only, so the engine, the store and the views can all share it.
package models

import (
	"errors"
	"fmt"
	"strings"
)

// Code classifies an Error; the HTTP layer maps each code to one status.
type Code string

// Error codes, stored and sent as these words.
const (
	Invalid         Code = "invalid"         // 422: a definition or inputs failed validation
	BadRequest      Code = "bad_request"     // 400: a malformed body or parameter
	Unauthenticated Code = "unauthenticated" // 401
	Forbidden       Code = "forbidden"       // 403
	NotFound        Code = "not_found"       // 404
	Conflict        Code = "conflict"        // 409: wrong state, or already exists
	TooLarge        Code = "too_large"       // 413
	RateLimited     Code = "rate_limited"    // 429
	Busy            Code = "busy"            // 429 + Retry-After: a cap on work in progress (a template's active runs); try again a little later
	Unavailable     Code = "unavailable"     // 503
	Internal        Code = "internal"        // 500: never shown in detail to a client
)

// Problem is one finding about a definition or a set of inputs: where, and what.
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// Error is a failure whose Message is safe to show to a user.
type Error struct {
	Code    Code
	Message string
	Details []Problem
}

func (e *Error) Error() string {
	if len(e.Details) == 0 {
		return e.Message
	}
	parts := make([]string, len(e.Details))
	for i, p := range e.Details {
		parts[i] = p.String()
	}
	return e.Message + ": " + strings.Join(parts, "; ")
}

// Errorf builds an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Problems builds an Invalid error that lists every problem found.
func Problems(message string, problems []Problem) error {
	return &Error{Code: Invalid, Message: message, Details: problems}
}

// ErrorCode returns the Code of the first *Error in err's chain, or Internal.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// ErrorDetails returns the problems of the first *Error in err's chain.
func ErrorDetails(err error) []Problem {
	var e *Error
	if errors.As(err, &e) {
		return e.Details
	}
	return nil
}

// IsCode reports whether err carries the given code.
func IsCode(err error, code Code) bool {
	return err != nil && ErrorCode(err) == code
}
