package models

import (
	"bytes"
	"encoding/json"
	"slices"
)

// Inputs are a JSON object, and Go maps forget the order of their keys: a
// definition read and written again would list its inputs alphabetically,
// so the designer's inputs would re-sort after every save. A Definition
// therefore remembers the order its JSON declared them in (inputOrder) and
// writes them back in that order.

// InputNames lists the declared inputs in the order the definition declares
// them; inputs added in Go after it was read (or a definition built in Go)
// follow in alphabetical order.
func (d Definition) InputNames() []string {
	names := make([]string, 0, len(d.Inputs))
	seen := make(map[string]bool, len(d.Inputs))
	for _, n := range d.inputOrder {
		if _, ok := d.Inputs[n]; ok && !seen[n] {
			names = append(names, n)
			seen[n] = true
		}
	}
	var rest []string
	for n := range d.Inputs {
		if !seen[n] {
			rest = append(rest, n)
		}
	}
	slices.Sort(rest)
	return append(names, rest...)
}

// SetInputOrder sets the order InputNames and the JSON form list the inputs
// in (names not declared are ignored).
func (d *Definition) SetInputOrder(names []string) { d.inputOrder = slices.Clone(names) }

// definitionJSON has Definition's fields without its methods.
type definitionJSON Definition

// UnmarshalJSON reads a definition and remembers the order of its inputs.
func (d *Definition) UnmarshalJSON(b []byte) error {
	var p definitionJSON
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*d = Definition(p)
	d.inputOrder = inputKeyOrder(b)
	return nil
}

// MarshalJSON writes a definition with its inputs in their declared order.
func (d Definition) MarshalJSON() ([]byte, error) {
	p := definitionJSON(d)
	if len(d.Inputs) == 0 || len(d.inputOrder) == 0 {
		return marshalRaw(p)
	}
	var inputs bytes.Buffer
	inputs.WriteByte('{')
	for i, n := range d.InputNames() {
		if i > 0 {
			inputs.WriteByte(',')
		}
		k, err := json.Marshal(n)
		if err != nil {
			return nil, err
		}
		v, err := marshalRaw(d.Inputs[n])
		if err != nil {
			return nil, err
		}
		inputs.Write(k)
		inputs.WriteByte(':')
		inputs.Write(v)
	}
	inputs.WriteByte('}')
	return marshalRaw(struct {
		definitionJSON
		Inputs json.RawMessage `json:"inputs,omitempty"`
	}{p, inputs.Bytes()})
}

// marshalRaw encodes v without escaping <, > and &: the encoder that called
// MarshalJSON escapes them or not as it was asked to (Canonical does not).
func marshalRaw(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// inputKeyOrder returns the keys of the top-level "inputs" object of a
// definition's JSON, in order; nil when there is none or b cannot be read
// (Unmarshal has already accepted b, so that does not happen).
func inputKeyOrder(b []byte) []string {
	var top struct {
		Inputs json.RawMessage `json:"inputs"`
	}
	if json.Unmarshal(b, &top) != nil || len(top.Inputs) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(top.Inputs))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return keys
		}
		k, _ := t.(string)
		keys = append(keys, k)
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return keys
		}
	}
	return keys
}
