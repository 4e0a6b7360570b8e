package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestVersionPrintsBuildInformation: what the release build sets with
// -ldflags is what `baton version` prints, as text and as JSON.
func TestVersionPrintsBuildInformation(t *testing.T) {
	old := [3]string{version, commit, date}
	t.Cleanup(func() { version, commit, date = old[0], old[1], old[2] })
	version, commit, date = "v1.4.0", "0123456789abcdef0123456789abcdef01234567", "2026-12-06T03:00:00Z"

	out, _, code := runBaton(t, nil, "version")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"baton v1.4.0\n", "commit  0123456789abcdef0123456789abcdef01234567\n", "built   2026-12-06T03:00:00Z\n", "go      go1."} {
		if !strings.Contains(out, want) {
			t.Errorf("baton version lacks %q:\n%s", want, out)
		}
	}
	out, _, _ = runBaton(t, nil, "version", "--json")
	var b build
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if b.Version != "v1.4.0" || b.Commit != commit || b.Date != date || b.Modified {
		t.Errorf("version --json = %+v", b)
	}
	if got := b.String(); got != "v1.4.0 (0123456789ab)" {
		t.Errorf("short form = %q", got)
	}
}
