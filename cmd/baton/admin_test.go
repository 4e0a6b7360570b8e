package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/baton-run/baton/models/store/storetest"
)

// databaseURLs returns a fresh SQLite URL, and a fresh PostgreSQL database's
// URL when BATON_TEST_POSTGRES_URL is set.
func databaseURLs(t *testing.T) map[string]func(t *testing.T) string {
	t.Helper()
	urls := map[string]func(t *testing.T) string{
		"sqlite": func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "baton.db") },
	}
	for _, db := range storetest.Databases(t) {
		if db.Name == "postgres" {
			urls["postgres"] = func(t *testing.T) string { return storetest.CreatePostgresDatabase(t) }
		}
	}
	return urls
}

// TestUsersAndTokensFromTheCommandLine walks an administrator through adding
// users, changing roles and creating, listing and revoking a token.
func TestUsersAndTokensFromTheCommandLine(t *testing.T) {
	t.Parallel()
	for name, newURL := range databaseURLs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := newURL(t)
			vars := map[string]string{"BATON_DATABASE_URL": db}
			mustRun := func(args ...string) (string, string) {
				t.Helper()
				out, errOut, code := runBaton(t, vars, args...)
				if code != 0 {
					t.Fatalf("baton %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
				}
				return out, errOut
			}

			out, _ := mustRun("migrate")
			if !strings.Contains(out, "up to date") {
				t.Errorf("migrate says %q", out)
			}
			out, _ = mustRun("user", "add", "ann", "--role", "designer", "--role", "approver", "--password", "correct horse")
			if !strings.Contains(out, "user ann added with roles designer,approver") {
				t.Errorf("user add says %q", out)
			}
			out, _ = mustRun("user", "add", "bob", "--role", "viewer")
			if !regexp.MustCompile(`password: \S{20} \(shown once\)`).MatchString(out) {
				t.Errorf("user add without --password must print a generated one once; said %q", out)
			}
			if _, stderr, code := runBaton(t, vars, "user", "add", "ann", "--role", "viewer", "--password", "whatever1"); code != 1 || !strings.Contains(stderr, `a user named "ann" exists already`) {
				t.Errorf("adding ann twice: exit %d, %q", code, stderr)
			}
			if _, stderr, code := runBaton(t, vars, "user", "add", "cy", "--role", "viewer", "--password", "short"); code != 2 || !strings.Contains(stderr, "at least 8 characters") {
				t.Errorf("a short password: exit %d, %q", code, stderr)
			}

			mustRun("user", "roles", "bob", "--role", "operator,viewer")
			out, _ = mustRun("user", "list")
			if !regexp.MustCompile(`(?m)^ann\s+designer,approver$`).MatchString(out) || !regexp.MustCompile(`(?m)^bob\s+operator,viewer$`).MatchString(out) {
				t.Errorf("user list:\n%s", out)
			}

			token, stderr := mustRun("token", "create", "--user", "ann", "--name", "laptop")
			token = strings.TrimSpace(token)
			if len(token) < 32 || !strings.Contains(stderr, "shown once") {
				t.Fatalf("token create printed %q (stderr %q)", token, stderr)
			}
			out, _ = mustRun("token", "list", "--user", "ann")
			if !strings.Contains(out, "laptop") || !strings.Contains(out, "active") || strings.Contains(out, token) {
				t.Errorf("token list must show the token's label and state but never the token:\n%s", out)
			}
			id := strings.Fields(out)[0]
			mustRun("token", "revoke", id)
			out, _ = mustRun("token", "list", "--user", "ann")
			if !strings.Contains(out, "revoked") {
				t.Errorf("after revoke, token list:\n%s", out)
			}
			if _, stderr, code := runBaton(t, vars, "token", "revoke", "999999"); code != 1 || !strings.Contains(stderr, "token 999999") {
				t.Errorf("revoking an unknown token: exit %d, %q", code, stderr)
			}
			mustRun("token", "create", "--user", "ann", "--name", "script", "--rate-limit", "50")
			mustRun("token", "create", "--user", "ann", "--name", "batch", "--rate-limit", "0")
			out, _ = mustRun("token", "list", "--user", "ann")
			if !regexp.MustCompile(`(?m)\tscript\t.*\trate limit 50/s\t`).MatchString(out) ||
				!regexp.MustCompile(`(?m)\tbatch\t.*\tno rate limit\t`).MatchString(out) ||
				!regexp.MustCompile(`(?m)\tlaptop\t.*\tserver rate limit\t`).MatchString(out) {
				t.Errorf("token list must show each token's rate limit:\n%s", out)
			}
			if _, stderr, code := runBaton(t, vars, "token", "create", "--user", "ann", "--rate-limit", "-3"); code != 2 || !strings.Contains(stderr, "--rate-limit") {
				t.Errorf("a negative --rate-limit: exit %d, %q", code, stderr)
			}
			if _, stderr, code := runBaton(t, vars, "token", "create", "--user", "nobody"); code != 1 || !strings.Contains(stderr, `user "nobody"`) {
				t.Errorf("a token for an unknown user: exit %d, %q", code, stderr)
			}
		})
	}
}
