package plan

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/baton-run/baton/models"
)

// CheckInputs checks a run's inputs against the plan's input declarations:
// unknown names, missing required inputs and values of the wrong type are
// reported all at once as an Invalid *models.Error whose problems have
// paths such as "inputs.amount". It returns a new map with defaults applied;
// integer inputs come back as Go ints and numbers as float64.
func (p *Plan) CheckInputs(in map[string]any) (map[string]any, error) {
	decls := p.Definition.Inputs
	out := make(map[string]any, len(decls))
	var problems []models.Problem
	names := sortedKeys(decls)
	for _, k := range sortedKeys(in) {
		d, ok := decls[k]
		path := "inputs" + keyPath(k)
		if !ok {
			msg := fmt.Sprintf("unknown input %q%s", k, didYouMean(k, names))
			if len(names) == 0 {
				msg = fmt.Sprintf("unknown input %q: this workflow takes no inputs", k)
			}
			problems = append(problems, models.Problem{Path: path, Message: msg})
			continue
		}
		v := in[k]
		if v == nil {
			continue // null is "not given": the default or the required check applies
		}
		norm, msg := checkValue(d.Type, v)
		if msg != "" {
			problems = append(problems, models.Problem{Path: path, Message: msg})
			continue
		}
		out[k] = norm
	}
	for _, k := range names {
		if _, given := out[k]; given {
			continue
		}
		if v, ok := in[k]; ok && v != nil {
			continue // given, but wrong: reported above
		}
		d := decls[k]
		switch {
		case d.Default != nil:
			norm, _ := checkValue(d.Type, clone(d.Default))
			out[k] = norm
		case d.Required:
			problems = append(problems, models.Problem{Path: "inputs" + keyPath(k), Message: fmt.Sprintf("required (%s)", article(d.Type))})
		}
	}
	if len(problems) > 0 {
		msg := "the inputs have 1 problem"
		if len(problems) > 1 {
			msg = fmt.Sprintf("the inputs have %d problems", len(problems))
		}
		return nil, models.Problems(msg, problems)
	}
	return out, nil
}

// article names a type with its article: "a string", "an integer".
func article(t string) string {
	switch t {
	case models.TypeInteger, models.TypeObject, models.TypeArray:
		if t == models.TypeArray {
			return "a list"
		}
		return "an " + t
	case models.TypeBoolean:
		return "true or false"
	}
	return "a " + t
}

// checkValue checks v against an input type and returns it normalised, or a
// message saying what is wrong.
func checkValue(typ string, v any) (any, string) {
	wrong := func() (any, string) {
		return nil, fmt.Sprintf("must be %s, not %s", article(typ), describe(v))
	}
	switch typ {
	case models.TypeString:
		if _, ok := v.(string); !ok {
			return wrong()
		}
		return v, ""
	case models.TypeBoolean:
		if _, ok := v.(bool); !ok {
			return wrong()
		}
		return v, ""
	case models.TypeNumber:
		f, ok := toFloat(v)
		if !ok {
			return wrong()
		}
		return f, ""
	case models.TypeInteger:
		// Exact when the caller decoded the number exactly (json.Number,
		// an int): 9007199254740993 stays itself.
		switch n := v.(type) {
		case json.Number:
			if i, err := n.Int64(); err == nil {
				return int(i), ""
			}
		case int:
			return n, ""
		case int64:
			return int(n), ""
		}
		f, ok := toFloat(v)
		if !ok {
			return wrong()
		}
		if f != math.Trunc(f) {
			return nil, fmt.Sprintf("must be a whole number, not %v", f)
		}
		// A float64 at or past 2^53 may already be a rounded integer
		// (9007199254740993 decodes as ...992): refused, not guessed.
		if math.Abs(f) >= 1<<53 {
			return nil, fmt.Sprintf("must be a whole number within ±2^53 when sent as a floating-point number, not %v (it may have been rounded)", f)
		}
		return int(f), ""
	case models.TypeObject:
		if _, ok := v.(map[string]any); !ok {
			return wrong()
		}
		return v, ""
	case models.TypeArray:
		if _, ok := v.([]any); !ok {
			return wrong()
		}
		return v, ""
	}
	return nil, fmt.Sprintf("the declared type %q is unknown", typ)
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, !math.IsNaN(n) && !math.IsInf(n, 0)
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case uint64:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// clone deep-copies a JSON value, so that a run cannot change a default
// shared by every run of the plan.
func clone(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = clone(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = clone(x)
		}
		return out
	}
	return v
}
