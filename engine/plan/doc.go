// Package plan is Baton's definition language: it turns a workflow
// definition (shared/spec/definition.md, JSON or YAML) into a Plan that the
// engine executes, and answers every question the product asks of a
// definition without running it.
//
// The entry point is Compiler, which holds the Limits a definition must
// keep within:
//
//   - Compiler.Parse reads a definition strictly (parse.go): syntax errors
//     with line and column, unknown fields and wrong types with their JSON
//     path, size, depth and value-count limits;
//   - Compiler.Compile validates it whole and compiles it (validate.go,
//     compile.go): every problem at once, the graph with its edges and
//     trigger rules, every expression (expr.go, expr_safe.go) and template
//     (template.go) compiled once, with limits;
//   - Compiler.Check and Compiler.ParseChecked are what the API's validate
//     and save endpoints do; Compiler.JSONSchema is the format as a JSON
//     Schema (schema.go) generated from the Go types.
//
// A Plan (plan.go) is immutable and shared between runs. At run time the
// engine evaluates its expressions against a Scope (scope.go) and checks a
// run's inputs with Plan.CheckInputs (inputs.go). For people designing and
// reviewing workflows, Diff (diff.go) compares two definitions and Preview
// (preview.go) evaluates one expression against sample data.
//
// The package imports nothing of Baton but models: it knows nothing of
// runs, storage or HTTP.
package plan
