package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// runBaton calls run as main would, with the given variables as the environment.
func runBaton(t *testing.T, vars map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string { return vars[k] }
	err := run(context.Background(), args, getenv, &out, &errb)
	code = exitCode(err, &errb)
	return out.String(), errb.String(), code
}

func TestBadConfigurationNamesTheSetting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		vars map[string]string
		args []string
		want string
	}{
		{"bad address flag", nil, []string{"serve", "--addr", "nonsense"}, `--addr: "nonsense" is not host:port`},
		{"bad body limit variable", map[string]string{"BATON_BODY_LIMIT": "lots"}, []string{"serve"}, "--body-limit / BATON_BODY_LIMIT"},
		{"bad timeout", map[string]string{"BATON_REQUEST_TIMEOUT": "soon"}, []string{"serve"}, "BATON_REQUEST_TIMEOUT"},
		{"bad log format", map[string]string{"BATON_LOG_FORMAT": "xml"}, []string{"serve"}, `BATON_LOG_FORMAT: "xml" is not a log format`},
		{"bad log level", nil, []string{"serve", "--log-level", "loud"}, `--log-level: "loud" is not a log level`},
		{"bad trusted proxy", map[string]string{"BATON_TRUSTED_PROXIES": "10.0.0.0/8, proxy.local"}, []string{"serve"}, `--trusted-proxies / BATON_TRUSTED_PROXIES: "proxy.local" is not an IP address`},
		{"bad http allow", map[string]string{"BATON_HTTP_ALLOW": "10.0.0.0/8, http://x"}, []string{"serve"}, `--http-allow / BATON_HTTP_ALLOW: "http://x" is neither a CIDR`},
		{"bad http deny", nil, []string{"serve", "--http-deny", "10.0.0.0/99"}, `--http-deny: "10.0.0.0/99" is neither a CIDR`},
		{"bad catch-up window", map[string]string{"BATON_CATCH_UP_WINDOW": "a week"}, []string{"serve"}, `--catch-up-window / BATON_CATCH_UP_WINDOW: "a week" is not a duration`},
		{"zero catch-up window", nil, []string{"serve", "--catch-up-window", "0s"}, `--catch-up-window: "0s": use a duration such as 168h`},
		{"bad retention", map[string]string{"BATON_RETENTION": "soon"}, []string{"serve"}, `--retention / BATON_RETENTION: retention "soon"`},
		{"prune without an age", nil, []string{"prune"}, "prune needs --older-than"},
		{"prune with a bad age", nil, []string{"prune", "--older-than", "often"}, `--older-than: retention "often"`},
		{"bad catch-up limit", nil, []string{"serve", "--catch-up-limit", "0"}, `--catch-up-limit: "0" is not a positive whole number`},
		{"bad secure flag", map[string]string{"BATON_SECURE_COOKIES": "maybe"}, []string{"serve"}, "BATON_SECURE_COOKIES"},
		{"unknown database scheme", map[string]string{"BATON_DATABASE_URL": "mysql://root:secret@db/x"}, []string{"migrate"}, "--db / BATON_DATABASE_URL"},
		{"password never printed", map[string]string{"DATABASE_URL": "mysql://root:secret@db/x"}, []string{"migrate"}, "root:xxxxx@db"},
		{"unknown flag", nil, []string{"serve", "--colour"}, "flag provided but not defined: -colour"},
		{"stray argument", nil, []string{"serve", "now"}, `serve takes no arguments, got "now"`},
		{"unknown command", nil, []string{"deploy"}, `unknown command "deploy"`},
		{"unknown role", nil, []string{"user", "add", "ann", "--role", "boss"}, `unknown role "boss"`},
		{"role missing", nil, []string{"user", "add", "ann"}, "--role is required"},
		{"token without user", nil, []string{"token", "create"}, "--user is required"},
		{"bad token id", nil, []string{"token", "revoke", "abc"}, `token ID "abc" is not a positive number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, stderr, code := runBaton(t, tt.vars, tt.args...)
			if code != 2 {
				t.Errorf("baton %s: exit code %d; want 2 (bad usage)", strings.Join(tt.args, " "), code)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("baton %s: stderr = %q; want it to contain %q", strings.Join(tt.args, " "), stderr, tt.want)
			}
			// The password of the URLs above; the help text names secrets,
			// so look for the password as it would appear in a URL.
			if strings.Contains(stderr, ":secret@") {
				t.Errorf("stderr leaks a password: %q", stderr)
			}
		})
	}
}

func TestHelpIsReadable(t *testing.T) {
	t.Parallel()
	out, _, code := runBaton(t, nil, "--help")
	if code != 0 {
		t.Fatalf("baton --help: exit %d", code)
	}
	for _, c := range commands() {
		if !strings.Contains(out, c.name) || !strings.Contains(out, c.summary) {
			t.Errorf("baton --help does not list %q with its summary:\n%s", c.name, out)
		}
	}
	_, stderr, code := runBaton(t, nil, "serve", "--help")
	if code != 0 {
		t.Fatalf("baton serve --help: exit %d", code)
	}
	for _, want := range []string{"-addr", "BATON_ADDR", "127.0.0.1:8080", "-db", "BATON_DATABASE_URL", "-body-limit"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("baton serve --help lacks %q:\n%s", want, stderr)
		}
	}
	out, _, _ = runBaton(t, nil, "version")
	if !strings.HasPrefix(out, "baton ") {
		t.Errorf("baton version = %q", out)
	}
}
