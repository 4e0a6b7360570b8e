package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// baton secret set reads the value from stdin, creates the key file 0600 on
// first use, and list never prints a value.
func TestSecretCommands(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"BATON_DATA_DIR": dir}
	stdin = strings.NewReader("hunter2-value\n")
	t.Cleanup(func() { stdin = os.Stdin })
	if _, errOut, code := runBaton(t, vars, "secret", "set", "DB_PASSWORD", "--description", "the db"); code != 0 {
		t.Fatalf("set: exit %d: %s", code, errOut)
	}
	fi, err := os.Stat(filepath.Join(dir, secretsKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	stdin = strings.NewReader("rotated")
	if _, errOut, code := runBaton(t, vars, "secret", "set", "DB_PASSWORD"); code != 0 || !strings.Contains(errOut, "rotated") {
		t.Fatalf("rotate: exit %d: %s", code, errOut)
	}
	out, _, code := runBaton(t, vars, "secret", "list")
	if code != 0 || !strings.Contains(out, "DB_PASSWORD") || !strings.Contains(out, "the db") ||
		strings.Contains(out, "hunter2") || strings.Contains(out, "rotated") {
		t.Fatalf("list (exit %d): %q", code, out)
	}
	stdin = strings.NewReader("")
	if _, errOut, code := runBaton(t, vars, "secret", "set", "EMPTY"); code != 2 || !strings.Contains(errOut, "empty") {
		t.Errorf("empty value: exit %d: %s", code, errOut)
	}
	stdin = strings.NewReader("v")
	if _, errOut, code := runBaton(t, vars, "secret", "set", "SOME", "--secrets-key", "short"); code != 2 || !strings.Contains(errOut, "--secrets-key") {
		t.Errorf("bad key: exit %d: %s", code, errOut)
	}
	if _, errOut, code := runBaton(t, vars, "secret", "delete", "DB_PASSWORD"); code != 0 {
		t.Fatalf("delete: exit %d: %s", code, errOut)
	}
	if _, _, code := runBaton(t, vars, "secret", "delete", "DB_PASSWORD"); code == 0 {
		t.Error("deleting twice succeeded")
	}
}
