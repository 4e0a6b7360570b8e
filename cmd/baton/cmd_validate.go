package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/models"
)

// cmdValidate checks definition files: `FILE: ok` for each good one, one
// `FILE: <path>: <message>` line per problem of each bad one; exit 0 when
// all are good, 1 otherwise.
func cmdValidate(_ context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("baton validate", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "Usage: baton validate FILE…")
		fmt.Fprintln(e.stderr)
		fmt.Fprintln(e.stderr, "Checks workflow definitions (JSON, or YAML by the .yaml/.yml extension).")
		fmt.Fprintln(e.stderr, "Prints \"FILE: ok\" per good file and \"FILE: <path>: <message>\" per problem;")
		fmt.Fprintln(e.stderr, "exits 0 when every file is good, 1 otherwise.")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &exitError{code: 2}
	}
	files := fs.Args()
	if len(files) == 0 {
		fs.Usage()
		return usageError("validate needs at least one file")
	}
	bad := 0
	for _, name := range files {
		if !validateFile(e.stdout, name) {
			bad++
		}
	}
	if bad > 0 {
		return &exitError{code: 1}
	}
	return nil
}

// validateFile checks one file and prints its lines; it reports whether the
// file is good.
func validateFile(w io.Writer, name string) bool {
	data, err := os.ReadFile(name)
	if err != nil {
		fmt.Fprintf(w, "%s: %v\n", name, unwrapPathError(err))
		return false
	}
	// The same check as POST /api/v1/validate, so the two always agree.
	_, err = plan.Compiler{}.ParseAndCompile(data, plan.FormatFromName(name))
	if err == nil {
		fmt.Fprintf(w, "%s: ok\n", name)
		return true
	}
	printProblems(w, name, err)
	return false
}

// printProblems writes one line per problem, or the error's message when it
// has no list (a syntax error).
func printProblems(w io.Writer, name string, err error) {
	details := models.ErrorDetails(err)
	if len(details) == 0 {
		msg := err.Error()
		var me *models.Error
		if errors.As(err, &me) {
			msg = me.Message
		}
		fmt.Fprintf(w, "%s: %s\n", name, msg)
		return
	}
	for _, p := range details {
		fmt.Fprintf(w, "%s: %s\n", name, p.String())
	}
}

// unwrapPathError drops the file name from an *os.PathError, which the
// line already starts with.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("cannot %s: %w", pe.Op, pe.Err)
	}
	return err
}
