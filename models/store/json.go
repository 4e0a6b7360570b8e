package store

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
)

// JSON is a column holding V encoded as JSON: jsonb on PostgreSQL, TEXT on
// SQLite. It is the one JSON column type of the store; use a pointer
// (*JSON[T]) for a nullable column, where nil is SQL NULL.
type JSON[T any] struct {
	V T
}

// NewJSON wraps v for a JSON column.
func NewJSON[T any](v T) JSON[T] { return JSON[T]{V: v} }

// Value encodes V. It returns a string, not []byte: SQLite would store
// bytes as a BLOB, and PostgreSQL parses text into jsonb.
func (j JSON[T]) Value() (driver.Value, error) {
	b, err := json.Marshal(j.V)
	if err != nil {
		return nil, fmt.Errorf("store: encode JSON column: %w", err)
	}
	return string(b), nil
}

// Scan decodes a JSON column; SQL NULL leaves V at its zero value.
func (j *JSON[T]) Scan(src any) error {
	var zero T
	j.V = zero
	var b []byte
	switch s := src.(type) {
	case nil:
		return nil
	case string:
		b = []byte(s)
	case []byte:
		b = s
	default:
		return fmt.Errorf("store: a JSON column holds text, not %T", src)
	}
	if err := json.Unmarshal(b, &j.V); err != nil {
		return fmt.Errorf("store: decode JSON column: %w", err)
	}
	return nil
}
