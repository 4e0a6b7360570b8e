package agentd

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
)

func newTestAgent(t *testing.T, allow ...string) *Agent {
	t.Helper()
	a, err := New(Config{Server: "http://127.0.0.1:1", Token: "t", Allow: allow, WorkDir: t.TempDir(), MaxOutputBytes: 64,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAllowListIsEnforcedByTheAgent(t *testing.T) {
	t.Parallel()
	a := newTestAgent(t, "echo")
	for _, cmd := range []string{"sh", "/bin/sh", "rm", "echo;rm", "../echo"} {
		res := a.execute(context.Background(), &models.AgentCommand{ID: "x", Command: cmd, Args: []string{"-c", "true"}})
		if res.Code != "not_allowed" || res.ExitCode != -1 {
			t.Errorf("%q: %+v, want not_allowed", cmd, res)
		}
	}
	// Arguments are an argv: a shell never sees them.
	res := a.execute(context.Background(), &models.AgentCommand{ID: "y", Command: "echo", Args: []string{"$HOME; rm -rf /"}})
	if res.Code != "" || res.ExitCode != 0 || res.Stdout != "$HOME; rm -rf /\n" {
		t.Errorf("echo: %+v", res)
	}
	if _, err := New(Config{Server: "http://x", Token: "t", Allow: []string{"no-such-program-anywhere"}}); err == nil {
		t.Error("an --allow entry that is not on PATH was accepted")
	}
	if _, err := New(Config{Server: "http://x", Token: "t", Allow: []string{"bin/sh"}}); err == nil {
		t.Error("a relative path in --allow was accepted")
	}
}

func TestOutputCappedAndEnvironment(t *testing.T) {
	t.Setenv("BATON_AGENT_TOKEN", "secret-token")
	a := newTestAgent(t, "env", "seq")
	res := a.execute(context.Background(), &models.AgentCommand{ID: "c1", Command: "env", IdempotencyKey: "run/step", Env: map[string]string{"LEVEL": "3"}})
	if res.ExitCode != 0 || !res.Truncated || len(res.Stdout) != 64 {
		t.Fatalf("env output not capped at 64 bytes: %+v", res)
	}
	a.cfg.MaxOutputBytes = 1 << 20
	res = a.execute(context.Background(), &models.AgentCommand{ID: "c1", Command: "env", IdempotencyKey: "run/step", Env: map[string]string{"LEVEL": "3"}})
	for _, want := range []string{"LEVEL=3\n", "BATON_IDEMPOTENCY_KEY=run/step\n", "BATON_COMMAND_ID=c1\n"} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("environment lacks %q", want)
		}
	}
	if strings.Contains(res.Stdout, "secret-token") {
		t.Error("the agent's token leaked into the command's environment")
	}
	if res.Truncated {
		t.Error("truncated without reason")
	}
}

// TestTimeoutKillsTheProcessGroup runs a command whose child outlives it
// unless the whole group is killed.
func TestTimeoutKillsTheProcessGroup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	script := filepath.Join(dir, "spawn")
	// The script is an allowed executable; the agent itself never starts a shell.
	if err := os.WriteFile(script, []byte("#!/bin/sh\nsleep 37.125 &\nsleep 37.125\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	a := newTestAgent(t, script)
	start := time.Now()
	res := a.execute(context.Background(), &models.AgentCommand{ID: "t", Command: script, TimeoutMs: 300})
	if res.Code != "timeout" || time.Since(start) > 5*time.Second {
		t.Fatalf("timeout: %+v after %s", res, time.Since(start))
	}
	deadline := time.Now().Add(3 * time.Second)
	for sleeping() {
		if time.Now().After(deadline) {
			t.Fatal("a child of the command survived the timeout")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Cancelling works the same way.
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() { time.Sleep(200 * time.Millisecond); cancel(errCancelled) }()
	res = a.execute(ctx, &models.AgentCommand{ID: "c", Command: script})
	if res.Code != "cancelled" {
		t.Fatalf("cancel: %+v", res)
	}
}

func sleeping() bool {
	files, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), "37.125") {
			return true
		}
	}
	return false
}

func TestBackoffIsCappedWithJitter(t *testing.T) {
	t.Parallel()
	lo, hi := 500*time.Millisecond, 30*time.Second
	seen := map[time.Duration]bool{}
	for attempt := 1; attempt < 60; attempt++ {
		d := backoff(attempt, lo, hi)
		if d < lo/2 || d > hi {
			t.Fatalf("attempt %d: %s outside [%s, %s]", attempt, d, lo/2, hi)
		}
		seen[d] = true
	}
	if len(seen) < 50 {
		t.Errorf("backoff has no jitter: %d distinct pauses of 59", len(seen))
	}
}
