package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/models"
)

// validateCLI runs `baton validate args…` and returns its output and exit code.
func validateCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), append([]string{"validate"}, args...), func(string) string { return "" }, &out, &errb)
	code = exitCode(err, &errb)
	return out.String(), errb.String(), code
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidateExamples(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../docs/examples/*.yaml")
	if err != nil || len(files) < 5 {
		t.Fatalf("examples: %v, %v", files, err)
	}
	stdout, stderr, code := validateCLI(t, files...)
	if code != 0 || stderr != "" {
		t.Fatalf("baton validate examples: exit %d, stderr %q, stdout %q", code, stderr, stdout)
	}
	var want strings.Builder
	for _, f := range files {
		fmt.Fprintf(&want, "%s: ok\n", f)
	}
	if stdout != want.String() {
		t.Errorf("stdout = %q; want %q", stdout, want.String())
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := writeFile(t, dir, "good.json", `{"id": "good", "name": "Good", "steps": [{"id": "a", "type": "wait", "action": {"duration": "1s"}}]}`)
	bad := writeFile(t, dir, "bad.yaml", `id: bad
name: Bad
steps:
  - id: fetch_data
    type: command
    action: {kind: log, message: "{{ steps.fetch_dta.output }}"}
  - id: use
    type: command
    dependencies: [fetch_dta]
    action: {kind: htp}
`)
	broken := writeFile(t, dir, "broken.json", "{\n  \"id\": \"x\",\n  \"name\": }\n")
	missing := filepath.Join(dir, "missing.yaml")
	stdout, _, code := validateCLI(t, good, bad, broken, missing)
	if code != 1 {
		t.Errorf("exit code %d; want 1", code)
	}
	want := good + ": ok\n" +
		bad + `: steps[0].action.message: column 10: unknown step "fetch_dta" (did you mean "fetch_data"?)` + "\n" +
		bad + `: steps[1].dependencies[0]: unknown step "fetch_dta" (did you mean "fetch_data"?)` + "\n" +
		bad + `: steps[1].action.kind: unknown kind "htp" (did you mean "http"?): use "http", "set", "log", "fail", "subworkflow" or "device"` + "\n" +
		broken + ": JSON syntax error at line 3, column 11: invalid character '}' looking for beginning of value\n" +
		missing + ": cannot open: no such file or directory\n"
	if stdout != want {
		t.Errorf("stdout =\n%s\nwant\n%s", stdout, want)
	}
}

// TestValidateAgreesWithAPI: the CLI prints exactly the problems that
// POST /api/v1/validate (plan.Compiler) returns for the same file.
func TestValidateAgreesWithAPI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := "id: Bad_ID\nname: x\nstesp: []\nsteps:\n  - {id: a, type: wait, action: {duration: soon}, onSuccess: a}\n"
	file := writeFile(t, dir, "x.yaml", src)
	stdout, _, code := validateCLI(t, file)
	err := plan.Compiler{}.Check([]byte(src), "application/yaml")
	var want strings.Builder
	for _, p := range models.ErrorDetails(err) {
		fmt.Fprintf(&want, "%s: %s\n", file, p)
	}
	if code != 1 || stdout != want.String() || want.Len() == 0 {
		t.Errorf("CLI (exit %d):\n%s\nAPI:\n%s", code, stdout, want.String())
	}
}

func TestValidateUsage(t *testing.T) {
	t.Parallel()
	_, stderr, code := validateCLI(t)
	if code != 2 || !strings.Contains(stderr, "validate needs at least one file") || !strings.Contains(stderr, "Usage: baton validate FILE") {
		t.Errorf("no files: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = validateCLI(t, "--help")
	if code != 0 || !strings.Contains(stderr, "Usage: baton validate FILE") {
		t.Errorf("--help: exit %d, stderr %q", code, stderr)
	}
	_, _, code = validateCLI(t, "--nope")
	if code != 2 {
		t.Errorf("unknown flag: exit %d; want 2", code)
	}
}
