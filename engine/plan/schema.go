package plan

import (
	"encoding/json"
	"reflect"
	"strings"

	"github.com/baton-run/baton/models"
)

// schemaExtras adds to the schema generated from the Go types what the
// types cannot say: patterns, enumerations, bounds, required fields.
// Keys are "<Go type name>.<json field>".
var schemaExtras = map[string]map[string]any{
	"Definition.id":             {"pattern": workflowIDPattern.String()},
	"Definition.name":           {"minLength": 1, "maxLength": 200},
	"Definition.maxConcurrency": {"minimum": 0},
	"Definition.inputs":         {"propertyNames": map[string]any{"type": "string", "pattern": identPattern.String()}},
	"InputDecl.type":            {"enum": inputTypes},
	"Step.id":                   {"pattern": stepIDPattern.String()},
	"Step.name":                 {"maxLength": 200},
	"Step.type":                 {"enum": stepTypes},
	"Step.trigger":              {"enum": triggers},
	"Step.onSuccess":            {"pattern": stepIDPattern.String()},
	"Step.onFailure":            {"pattern": stepIDPattern.String()},
	"Action.kind":               {"enum": commandKinds},
	"Action.as":                 {"pattern": identPattern.String()},
	"Action.maxConcurrency":     {"minimum": 0},
	"Action.signal":             {"pattern": signalPattern.String()},
	"Action.strategy":           {"enum": models.RouteStrategies},
	"Action.version":            {"minimum": 0},
	"Action.expectStatus":       {"items": map[string]any{"type": "integer", "minimum": 100, "maximum": 599}},
	"Condition.id":              {"pattern": stepIDPattern.String()},
	"ParallelGroup.id":          {"pattern": groupIDPattern.String()},
	"ParallelGroup.steps":       {"minItems": 1},
	"ErrorHandling.strategy":    {"enum": strategies},
	"RetryPolicy.maxAttempts":   {"minimum": 0, "maximum": maxMaxAttempts},
	"RetryPolicy.jitter":        {"minimum": 0, "maximum": 1},
	"RetryPolicy.backoffCoefficient": {
		"anyOf": []any{map[string]any{"const": 0}, map[string]any{"minimum": 1, "maximum": 100}},
	},
}

// schemaRequired lists each object's required fields.
var schemaRequired = map[string][]string{
	"Definition":    {"id", "name", "steps"},
	"InputDecl":     {"type"},
	"Step":          {"id", "type", "action"},
	"Case":          {"when", "next"},
	"Condition":     {"id", "expression"},
	"ParallelGroup": {"id", "steps"},
	"ErrorHandling": {"strategy"},
}

// jsonSchema builds the JSON Schema of the definition format.
func jsonSchema(l Limits) []byte {
	g := &schemaGen{defs: map[string]any{}}
	root := g.structSchema(reflect.TypeOf(models.Definition{}))
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = "https://baton.run/schema/workflow.json"
	root["title"] = "Baton workflow definition"
	root["$defs"] = g.defs
	props := root["properties"].(map[string]any)
	steps := props["steps"].(map[string]any)
	steps["minItems"] = 1
	steps["maxItems"] = l.MaxSteps
	out, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		// The schema is built from maps of plain values; failing to encode
		// it is a programming error.
		panic("engine: encode JSON schema: " + err.Error())
	}
	return out
}

type schemaGen struct {
	defs map[string]any
}

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	if t == durationType {
		return map[string]any{"$ref": "#/$defs/Duration"}
	}
	if t == stepRefsType {
		return map[string]any{
			"description": "a step id, or a list of step ids (the branch fans out to each)",
			"anyOf": []any{
				map[string]any{"type": "string"},
				map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "minItems": 1, "uniqueItems": true},
			},
		}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.schema(t.Elem())
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		name := t.Name()
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = true // placeholder: stops recursion (Action.step)
			g.defs[name] = g.structSchema(t)
		}
		return map[string]any{"$ref": "#/$defs/" + name}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32:
		return map[string]any{"type": "integer"}
	case reflect.Float64, reflect.Float32:
		return map[string]any{"type": "number"}
	}
	return map[string]any{}
}

func (g *schemaGen) structSchema(t reflect.Type) map[string]any {
	if _, ok := g.defs["Duration"]; !ok {
		g.defs["Duration"] = map[string]any{
			"description": "milliseconds, or a Go duration string such as \"1.5s\" or \"10m\"",
			"anyOf": []any{
				map[string]any{"type": "integer", "minimum": 0},
				map[string]any{"type": "string", "pattern": `^\s*([0-9]+|([0-9]*\.?[0-9]+(ns|us|µs|ms|s|m|h))+)\s*$`},
			},
		}
	}
	props := map[string]any{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		s := g.schema(f.Type)
		for k, v := range schemaExtras[t.Name()+"."+name] {
			s[k] = v
		}
		props[name] = s
	}
	out := map[string]any{
		"type":                 "object",
		"properties":           props,
		"additionalProperties": false,
	}
	if req := schemaRequired[t.Name()]; req != nil {
		out["required"] = req
	}
	return out
}
