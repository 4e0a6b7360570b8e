package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestAlertEscalationSurvivesSIGKILL: an alert fires, level 1 is sent, the
// server is killed with SIGKILL before level 2 is due, and a restart after
// level 2 became due sends level 2 exactly once (one delivery id, one
// successful call) and never level 1 again.
func TestAlertEscalationSurvivesSIGKILL(t *testing.T) {
	bin := batonBinary(t)
	dir := t.TempDir()
	db := "sqlite://" + filepath.Join(dir, "baton.db")
	vars := map[string]string{"BATON_DATABASE_URL": db}
	mustRun := func(args ...string) string {
		t.Helper()
		out, errOut, code := runBaton(t, vars, args...)
		if code != 0 {
			t.Fatalf("baton %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out, errOut)
		}
		return strings.TrimSpace(out)
	}
	mustRun("migrate")
	mustRun("user", "add", "root", "--role", "admin", "--password", "root password 1")
	mustRun("user", "add", "rita", "--role", "approver", "--password", "rita password 1")
	admin := mustRun("token", "create", "--user", "root")
	rita := mustRun("token", "create", "--user", "rita")

	var mu sync.Mutex
	hits := map[string][]string{} // path → delivery ids
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		hits[r.URL.Path] = append(hits[r.URL.Path], r.Header.Get("X-Baton-Delivery"))
		mu.Unlock()
	}))
	defer recv.Close()
	count := func(path string) []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), hits[path]...)
	}

	start := func() (*exec.Cmd, string, *logWatcher) {
		cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--db", db, "--data-dir", dir)
		cmd.Env = append(os.Environ(), "BATON_ADMIN_PASSWORD=x")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		logs := watch(stderr)
		return cmd, logs.waitFor(t, regexp.MustCompile(`url=(http://127\.0\.0\.1:\d+)`), 30*time.Second), logs
	}
	cmd, base, logs := start()
	call := func(token, method, path string, body any, want int) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, base+path, rd)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != want {
			t.Fatalf("%s %s = %d, want %d: %s\n%s", method, path, res.StatusCode, want, b, logs.all())
		}
	}
	call(admin, "POST", "/api/v1/alerts/channels", map[string]any{"name": "one", "kind": "webhook", "config": map[string]string{"url": recv.URL + "/one", "secret": "s"}}, 201)
	call(admin, "POST", "/api/v1/alerts/channels", map[string]any{"name": "two", "kind": "webhook", "config": map[string]string{"url": recv.URL + "/two", "secret": "s"}}, 201)
	call(admin, "POST", "/api/v1/alerts/policies", map[string]any{"name": "p", "levels": []map[string]any{{"after": "0s", "channels": []int{1}}, {"after": "8s", "channels": []int{2}}}}, 201)
	call(admin, "POST", "/api/v1/alerts/rules", map[string]any{"name": "boom", "severity": "critical", "policy": 1, "enabled": true, "condition": map[string]string{"kind": "run_failed"}}, 201)
	call(admin, "POST", "/api/v1/templates", map[string]any{"id": "boom", "name": "Boom", "steps": []map[string]any{{"id": "x", "type": "command", "action": map[string]string{"kind": "fail", "message": "no"}}}}, 201)
	call(admin, "POST", "/api/v1/templates/boom/versions/1/submit", nil, 200)
	call(rita, "POST", "/api/v1/templates/boom/versions/1/approve", map[string]string{"comment": "ok"}, 200)
	fired := time.Now()
	call(admin, "POST", "/api/v1/templates/boom/runs", map[string]any{"inputs": map[string]any{}}, 201)

	deadline := time.Now().Add(20 * time.Second)
	for len(count("/one")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("level 1 never arrived\n%s", logs.all())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if len(count("/two")) != 0 {
		t.Fatal("level 2 was sent before it was due")
	}
	time.Sleep(time.Until(fired.Add(9 * time.Second)))

	_, _, logs2 := start()
	deadline = time.Now().Add(20 * time.Second)
	for len(count("/two")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("level 2 never arrived after the restart\n%s", logs2.all())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(6 * time.Second) // past the next tick (every 5s)
	if two, one := count("/two"), count("/one"); len(two) != 1 || len(one) != 1 || two[0] == "" || two[0] == one[0] {
		t.Errorf("after the restart: level 1 calls %v, level 2 calls %v; want one each, distinct delivery ids", one, two)
	}
}
