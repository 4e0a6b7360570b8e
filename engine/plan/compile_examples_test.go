package plan

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// exampleFiles are the definitions that must always validate: the spec's
// example, the docs' examples and the valid fixtures.
func exampleFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{
		"../../docs/examples/*.yaml",
		"../../docs/examples/*.json",
		"testdata/definitions/*.yaml",
		"testdata/definitions/*.json",
	} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 7 {
		t.Fatalf("found %d example definitions; want the docs' examples and the fixtures", len(files))
	}
	return files
}

func TestExamplesValidate(t *testing.T) {
	t.Parallel()
	for _, name := range exampleFiles(t) {
		t.Run(filepath.Base(name), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			def, err := Parse(data, FormatFromName(name))
			if err != nil {
				t.Fatalf("Parse(%s) = %v", name, err)
			}
			p, err := Compile(def)
			if err != nil {
				t.Fatalf("Compile(%s) = %v", name, err)
			}
			// parse → canonical → parse is the identity.
			canon, err := p.Canonical()
			if err != nil {
				t.Fatal(err)
			}
			def2, err := Parse(canon, FormatJSON)
			if err != nil {
				t.Fatalf("Parse(Canonical) = %v", err)
			}
			p2, err := Compile(def2)
			if err != nil {
				t.Fatalf("Compile(Parse(Canonical)) = %v", err)
			}
			canon2, err := p2.Canonical()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(canon, canon2) {
				t.Errorf("canonical form is not stable:\n first: %s\nsecond: %s", canon, canon2)
			}
		})
	}
}
