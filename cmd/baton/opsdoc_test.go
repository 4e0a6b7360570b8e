package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
)

var updateDocs = flag.Bool("update", false, "rewrite generated sections of docs/ from the code")

const (
	opsDoc       = "../../docs/operations.md"
	flagsBegin   = "<!-- generated: baton serve flags; go test ./cmd/baton -run TestOperationsFlagReference -update -->"
	flagsEnd     = "<!-- end of generated flags -->"
	flagsRefHint = "run `go test ./cmd/baton -run TestOperationsFlagReference -update` to regenerate docs/operations.md, then explain the new setting in the README's configuration table"
)

// serveFlagTable renders the configuration reference of `baton serve` from
// its flag definitions: flag, variable, default and meaning.
func serveFlagTable(t *testing.T) (string, []string) {
	t.Helper()
	e := &env{getenv: func(string) string { return "" }, stdout: io.Discard, stderr: io.Discard}
	if _, _, err := parseServe(e, []string{"--help"}); err == nil || exitCode(err, io.Discard) != 0 {
		t.Fatalf("serve --help: %v", err)
	}
	if e.declared == nil {
		t.Fatal("parseServe declared no settings")
	}
	byFlag := map[string]*setting{}
	for _, st := range e.declared.list {
		byFlag[st.flag] = st
	}
	var b strings.Builder
	var names []string
	b.WriteString("| flag | variable | default | meaning |\n|---|---|---|---|\n")
	e.declared.fs.VisitAll(func(f *flag.Flag) {
		names = append(names, f.Name)
		env, def, usage := "—", f.DefValue, f.Usage
		if st := byFlag[f.Name]; st != nil {
			env, def, usage = "`"+st.env+"`", st.def, st.usage
		}
		if def == "" {
			def = "(none)"
		} else {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| `--%s` | %s | %s | %s |\n", f.Name, env, def, strings.ReplaceAll(usage, "|", "\\|"))
	})
	return b.String(), names
}

// TestOperationsFlagReference keeps docs/operations.md's configuration
// reference generated from the flag definitions: a flag added to, changed in
// or removed from `baton serve` fails here until the document is
// regenerated. Every flag must also be in the README's configuration table.
func TestOperationsFlagReference(t *testing.T) {
	table, names := serveFlagTable(t)
	doc, err := os.ReadFile(opsDoc)
	if err != nil {
		t.Fatal(err)
	}
	begin := bytes.Index(doc, []byte(flagsBegin))
	end := bytes.Index(doc, []byte(flagsEnd))
	if begin < 0 || end < begin {
		t.Fatalf("docs/operations.md lacks the markers %q … %q around its flag table", flagsBegin, flagsEnd)
	}
	current := string(doc[begin+len(flagsBegin) : end])
	want := "\n" + table
	if current != want {
		if *updateDocs {
			out := append([]byte{}, doc[:begin+len(flagsBegin)]...)
			out = append(out, want...)
			out = append(out, doc[end:]...)
			if err := os.WriteFile(opsDoc, out, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Log("rewrote the flag table of docs/operations.md")
		} else {
			for _, n := range names {
				if !strings.Contains(current, "`--"+n+"`") {
					t.Errorf("flag --%s of baton serve is missing from docs/operations.md", n)
				}
			}
			t.Errorf("the flag table of docs/operations.md differs from the flag definitions: %s", flagsRefHint)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !bytes.Contains(readme, []byte("| `--"+n+"`")) {
			t.Errorf("flag --%s of baton serve is missing from the README's configuration table", n)
		}
	}
}
