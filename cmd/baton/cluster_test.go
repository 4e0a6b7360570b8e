package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/baton-run/baton/models/store"
	"github.com/baton-run/baton/models/store/storetest"
)

// serveOn starts `baton serve` in this process on the database at url and
// returns its base URL; it stops when t ends.
func serveOn(t *testing.T, url string) string {
	t.Helper()
	e := &env{getenv: func(k string) string {
		if k == "BATON_ADMIN_PASSWORD" {
			return "a-long-enough-password"
		}
		return ""
	}, stdout: io.Discard, stderr: io.Discard}
	log, cfg, err := parseServe(e, []string{"--addr", "127.0.0.1:0", "--db", url, "--data-dir", t.TempDir(), "--secrets-key", base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))})
	if err != nil {
		t.Fatal(err)
	}
	listening := make(chan net.Addr, 1)
	cfg.listening = func(a net.Addr) { listening <- a }
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, log, cfg) }()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	select {
	case a := <-listening:
		return "http://" + a.String()
	case err := <-served:
		t.Fatalf("serve: %v", err)
	}
	return ""
}

type caller struct {
	t     *testing.T
	base  string
	token string
}

func (c caller) call(method, path, ctype, body string, out any) int {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := http.DefaultClient.Do(req) //nolint:bodyclose // closed below; read by the goroutine
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		c.t.Logf("%s %s: %d %s", method, path, res.StatusCode, data)
	}
	if out != nil {
		_ = json.Unmarshal(data, out)
	}
	return res.StatusCode
}

// Two `baton serve` on one PostgreSQL database: a version approved through
// B is startable on A; a run started on A is followed live through B's
// event stream, resumed by a signal sent to B, and another run on A is
// cancelled through B at once.
func TestTwoInstancesOnePostgres(t *testing.T) {
	url := storetest.CreatePostgresDatabase(t)
	st, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	designer, approver, err := benchUsers(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	a, b := serveOn(t, url), serveOn(t, url)
	onA, onB := caller{t, a, designer}, caller{t, b, designer}

	def := "id: gate\nname: gate\nsteps:\n  - {id: gate, type: wait, action: {signal: go}}\n  - {id: after, type: command, dependencies: [gate], action: {kind: log, message: done}}\n"
	if code := onA.call("POST", "/api/v1/templates", "application/yaml", def, nil); code != http.StatusCreated {
		t.Fatalf("create template: %d", code)
	}
	if code := onA.call("POST", "/api/v1/templates/gate/versions/1/submit", "", "", nil); code != http.StatusOK {
		t.Fatalf("submit: %d", code)
	}
	if code := (caller{t, b, approver}).call("POST", "/api/v1/templates/gate/versions/1/approve", "application/json", `{"comment":"ok"}`, nil); code != http.StatusOK {
		t.Fatalf("approve through B: %d", code)
	}
	start := func() string {
		t.Helper()
		var run struct {
			ID string `json:"id"`
		}
		if code := onA.call("POST", "/api/v1/templates/gate/runs", "application/json", `{}`, &run); code != http.StatusCreated {
			t.Fatalf("start on A (version approved through B): %d", code)
		}
		return run.ID
	}
	status := func(c caller, id string) string {
		var run struct {
			Status string `json:"status"`
		}
		c.call("GET", "/api/v1/runs/"+id, "", "", &run)
		return run.Status
	}
	waitStatus := func(id, want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for status(onA, id) != want {
			if time.Now().After(deadline) {
				t.Fatalf("run %s on A is %s; want %s", id, status(onA, id), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	id := start()
	waitStatus(id, "waiting")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", b+"/api/v1/runs/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+designer)
	res, err := http.DefaultClient.Do(req) //nolint:bodyclose // closed below; read by the goroutine
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	lines := make(chan string, 256)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	// The stream replays what is stored; wait until it has, then signal.
	for l := range lines {
		if strings.Contains(l, "step.waiting") {
			break
		}
	}
	if code := onB.call("POST", "/api/v1/runs/"+id+"/signals/go", "application/json", `{"ok":true}`, nil); code != http.StatusAccepted {
		t.Fatalf("signal through B: %d", code)
	}
	var seen []string
	for l := range lines {
		if rest, ok := strings.CutPrefix(l, "event: "); ok {
			seen = append(seen, rest)
		}
	}
	if got := strings.Join(seen, " "); !strings.Contains(got, "run.succeeded") || !strings.HasSuffix(got, "end") {
		t.Fatalf("B's stream of A's run after the signal: %s", got)
	}

	id = start()
	waitStatus(id, "waiting")
	var cancelled struct {
		Status string `json:"status"`
	}
	if code := onB.call("POST", "/api/v1/runs/"+id+"/cancel", "", "", &cancelled); code >= 300 || cancelled.Status != "cancelled" {
		t.Fatalf("cancel through B: %d, the run is %s; want it cancelled", code, cancelled.Status)
	}
	waitStatus(id, "cancelled")
}
