package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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

	"github.com/baton-run/baton/models"
)

// hitCounter is the service the crash tests' http steps call: it counts
// hits per path and per Idempotency-Key; /hang hangs on its first hit.
type hitCounter struct {
	mu       sync.Mutex
	hits     map[string]int
	keys     map[string]map[string]bool
	hangHit  chan struct{}
	hangOnce sync.Once
}

func newHitCounter(t *testing.T) (*hitCounter, string) {
	h := &hitCounter{hits: map[string]int{}, keys: map[string]map[string]bool{}, hangHit: make(chan struct{})}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv.URL
}

func (h *hitCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.hits[r.URL.Path]++
	n := h.hits[r.URL.Path]
	if h.keys[r.URL.Path] == nil {
		h.keys[r.URL.Path] = map[string]bool{}
	}
	h.keys[r.URL.Path][r.Header.Get("Idempotency-Key")] = true
	h.mu.Unlock()
	if r.URL.Path == "/hang" && n == 1 {
		h.hangOnce.Do(func() { close(h.hangHit) })
		<-r.Context().Done() // until the client dies
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"path":%q,"hit":%d}`, r.URL.Path, n)
}

func (h *hitCounter) count(path string) (int, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits[path], len(h.keys[path])
}

// startRun starts `baton run` and returns the process and its stderr.
func startRun(t *testing.T, bin string, args ...string) (*exec.Cmd, *logWatcher, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"run"}, args...)...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd, watch(stderr), &stdout
}

// TestRunSurvivesSIGKILL kills `baton run` during a wait and during an HTTP
// step, restarts it with --resume, and checks that the run finishes without
// redoing anything that had completed.
func TestRunSurvivesSIGKILL(t *testing.T) {
	bin := batonBinary(t)
	cases := []struct {
		name  string
		def   string
		until func(t *testing.T, w *logWatcher, hc *hitCounter)
		// after the restart: path → want (hits, distinct idempotency keys)
		want map[string][2]int
	}{
		{
			name: "during a wait",
			def: `
id: crash-wait
name: crash during a wait
steps:
  - {id: first, type: command, action: {kind: http, url: "{{URL}}/first"}}
  - {id: pause, type: wait, dependencies: [first], action: {duration: 1500}}
  - {id: last, type: command, dependencies: [pause], action: {kind: http, url: "{{URL}}/last"}}
`,
			until: func(t *testing.T, w *logWatcher, _ *hitCounter) {
				w.waitFor(t, regexp.MustCompile(`pause waiting`), 20*time.Second)
			},
			want: map[string][2]int{"/first": {1, 1}, "/last": {1, 1}},
		},
		{
			name: "during an http step",
			def: `
id: crash-http
name: crash during an http step
steps:
  - {id: first, type: command, action: {kind: http, url: "{{URL}}/first"}}
  - {id: call, type: command, dependencies: [first], action: {kind: http, method: POST, url: "{{URL}}/hang"}}
  - {id: last, type: command, dependencies: [call], action: {kind: http, url: "{{URL}}/last"}}
`,
			until: func(t *testing.T, _ *logWatcher, hc *hitCounter) {
				select {
				case <-hc.hangHit:
				case <-time.After(20 * time.Second):
					t.Fatal("the http step never called")
				}
			},
			// /hang: the in-flight attempt runs again, with the same key.
			want: map[string][2]int{"/first": {1, 1}, "/hang": {2, 1}, "/last": {1, 1}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hc, url := newHitCounter(t)
			dir := t.TempDir()
			file := filepath.Join(dir, "def.yaml")
			if err := os.WriteFile(file, []byte(strings.ReplaceAll(tc.def, "{{URL}}", url)), 0o600); err != nil {
				t.Fatal(err)
			}
			db := "sqlite://" + filepath.Join(dir, "runs.db")

			cmd, w, _ := startRun(t, bin, file, "--db", db)
			id := w.waitFor(t, regexp.MustCompile(`run (\w+) started`), 20*time.Second)
			tc.until(t, w, hc)
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()

			cmd2, w2, out := startRun(t, bin, file, "--db", db, "--resume", id, "--json")
			done := make(chan error, 1)
			go func() { done <- cmd2.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("resumed run: %v\n%s", err, w2.all())
				}
			case <-time.After(60 * time.Second):
				t.Fatalf("the resumed run did not finish:\n%s", w2.all())
			}
			var run models.Run
			if err := json.Unmarshal(out.Bytes(), &run); err != nil {
				t.Fatalf("--json output: %v\n%s", err, out)
			}
			if run.ID != id || run.Status != models.RunSucceeded {
				t.Fatalf("run = %s %s; want %s succeeded\n%s", run.ID, run.Status, id, w2.all())
			}
			for path, want := range tc.want {
				hits, keys := hc.count(path)
				if hits != want[0] || keys != want[1] {
					t.Errorf("%s: %d hits with %d idempotency keys; want %d with %d", path, hits, keys, want[0], want[1])
				}
			}
			for _, s := range run.Steps {
				if s.Attempts != 1 {
					t.Errorf("step %s has %d attempts; want 1 (a resumed attempt is the same attempt)", s.ID, s.Attempts)
				}
			}
		})
	}
}

// TestRunCLI checks `baton run`'s contract: exit codes, --json, inputs and
// the progress a person can follow.
func TestRunCLI(t *testing.T) {
	bin := batonBinary(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ok := write("ok.yaml", `
id: ok
name: ok
inputs: {n: {type: integer, required: true}, who: {type: string, default: "x"}}
steps:
  - {id: double, type: command, action: {kind: set, values: {v: "{{ inputs.n * 2 }}", who: "{{ inputs.who }}"}}}
  - {id: child, type: command, dependencies: [double], action: {kind: subworkflow, template: child, inputs: {v: "{{ steps.double.output.v }}"}}}
outputs: {v: "{{ steps.child.output.v }}", who: "{{ steps.double.output.who }}"}
`)
	write("child.yaml", `
id: child
name: child
inputs: {v: {type: integer, required: true}}
steps:
  - {id: inc, type: command, action: {kind: set, values: {v: "{{ inputs.v + 1 }}"}}}
outputs: {v: "{{ steps.inc.output.v }}"}
`)
	bad := write("bad.yaml", `
id: bad
name: bad
steps:
  - {id: a, type: command, action: {kind: fail, message: "it broke"}}
`)
	invalid := write("invalid.yaml", "id: x\nname: x\nsteps: []\n")
	signal := write("signal.yaml", `
id: sig
name: sig
steps:
  - {id: gate, type: wait, action: {signal: go, timeout: 10s}}
outputs: {by: "{{ steps.gate.output.by }}"}
`)

	runCmd := func(args ...string) (string, string, int) {
		cmd := exec.Command(bin, append([]string{"run"}, args...)...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return o.String(), e.String(), code
	}

	out, errOut, code := runCmd(ok, "--input", "n=20", "--input", "who=007", "--json")
	var run models.Run
	if code != 0 || json.Unmarshal([]byte(out), &run) != nil || run.Outputs["v"] != float64(41) || run.Outputs["who"] != "007" {
		t.Errorf("ok: exit %d, outputs %v\n%s%s", code, run.Outputs, out, errOut)
	}
	if !strings.Contains(errOut, "✓ double succeeded") || !strings.Contains(errOut, "succeeded in") {
		t.Errorf("ok: progress not readable:\n%s", errOut)
	}
	if _, errOut, code = runCmd(ok, "--inputs", `{"n": 1.5}`); code != 2 || !strings.Contains(errOut, "inputs.n") {
		t.Errorf("bad input: exit %d; want 2 naming the input\n%s", code, errOut)
	}
	if _, errOut, code = runCmd(bad); code != 1 || !strings.Contains(errOut, "it broke") {
		t.Errorf("failing run: exit %d; want 1 with the message\n%s", code, errOut)
	}
	if _, errOut, code = runCmd(invalid); code != 2 || !strings.Contains(errOut, "steps") {
		t.Errorf("invalid definition: exit %d; want 2\n%s", code, errOut)
	}
	if _, _, code = runCmd(); code != 2 {
		t.Errorf("no file: exit %d; want 2", code)
	}
	if _, _, code = runCmd(ok, "--resume", "x"); code != 2 {
		t.Errorf("--resume without --db: exit %d; want 2", code)
	}
	out, errOut, code = runCmd(signal, "--signal", `go={"by":"ann"}`, "--json")
	if code != 0 || !strings.Contains(out, `"by": "ann"`) {
		t.Errorf("signal: exit %d\n%s%s", code, out, errOut)
	}
}

// TestRunExamples runs every definition in docs/examples against a service
// that answers every request with 200 and a JSON body.
func TestRunExamples(t *testing.T) {
	bin := batonBinary(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok": true, "tracking": "T-1", "rates": {"EUR": 1}}`)
	}))
	t.Cleanup(srv.Close)
	files, err := filepath.Glob("../../docs/examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	extra := map[string][]string{
		"signal-wait.yaml":    {"--signal", `approval={"approved": true, "by": "ann"}`},
		"fan-out.yaml":        {"--inputs", `{"skus": ["a", "b", "c", "d"]}`},
		"decision-table.yaml": {"--input", "country=DE", "--input", "weightKg=3"},
	}
	want := map[string]models.RunStatus{}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			args := append([]string{"run", f, "--json", "--input", "baseUrl=" + srv.URL}, extra[filepath.Base(f)]...)
			cmd := exec.Command(bin, args...)
			var o, e bytes.Buffer
			cmd.Stdout, cmd.Stderr = &o, &e
			_ = cmd.Run()
			var run models.Run
			if err := json.Unmarshal(o.Bytes(), &run); err != nil {
				t.Fatalf("no run record: %v\n%s", err, e.String())
			}
			status := models.RunSucceeded
			if s, ok := want[filepath.Base(f)]; ok {
				status = s
			}
			if run.Status != status {
				t.Errorf("status = %s; want %s\n%s", run.Status, status, e.String())
			}
		})
	}
	t.Run("rollback with failPayment", func(t *testing.T) {
		cmd := exec.Command(bin, "run", "../../docs/examples/rollback.yaml", "--json", "--input", "baseUrl="+srv.URL, "--input", "failPayment=true")
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		_ = cmd.Run()
		var run models.Run
		if err := json.Unmarshal(o.Bytes(), &run); err != nil || run.Status != models.RunRolledBack {
			t.Errorf("status = %s (%v); want rolled_back\n%s", run.Status, err, e.String())
		}
		if !strings.Contains(e.String(), "compensated") {
			t.Errorf("progress does not show the compensations:\n%s", e.String())
		}
	})
}
