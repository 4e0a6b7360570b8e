package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// deviceEnv is a real `baton serve` with real `baton agent` processes.
type deviceEnv struct {
	t      *testing.T
	bin    string
	db     string
	addr   string
	token  string
	logs   *logWatcher
	server *exec.Cmd
}

func startDeviceServer(t *testing.T, db string) *deviceEnv {
	return startDeviceServerAt(t, db, "127.0.0.1:0", t.TempDir())
}

func startDeviceServerAt(t *testing.T, db, addr, dir string) *deviceEnv {
	t.Helper()
	bin := batonBinary(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", "--addr", addr, "--db", db)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BATON_ADMIN_PASSWORD=correct-horse-battery", "BATON_DATA_DIR="+dir)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cancel()
		}
		cancel()
	})
	e := &deviceEnv{t: t, bin: bin, db: db, logs: watch(stderr), server: cmd}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", e.logs.all())
		}
	})
	e.addr = e.logs.waitFor(t, regexp.MustCompile(`url=(http://127\.0\.0\.1:\d+)`), 60*time.Second)
	e.token = strings.TrimSpace(e.cli("token", "create", "--user", "admin"))
	return e
}

// cli runs a baton command on the server's database and returns stdout.
func (e *deviceEnv) cli(args ...string) string {
	e.t.Helper()
	cmd := exec.Command(e.bin, append(args, "--db", e.db)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		e.t.Fatalf("baton %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// addDevice registers a device and returns its token (the first line of stdout).
func (e *deviceEnv) addDevice(name string, flags ...string) string {
	e.t.Helper()
	out := e.cli(append([]string{"device", "add", name}, flags...)...)
	return strings.SplitN(out, "\n", 2)[0]
}

type agentProc struct {
	cmd  *exec.Cmd
	logs *logWatcher
	done chan struct{} // closed when the process has exited, with err set
	err  error
}

// startAgent starts `baton agent` with token and waits until it is connected.
func (e *deviceEnv) startAgent(token string, flags ...string) *agentProc {
	e.t.Helper()
	a := e.spawnAgent(token, flags...)
	a.logs.waitFor(e.t, regexp.MustCompile(`agent: connected`), 30*time.Second)
	return a
}

func (e *deviceEnv) spawnAgent(token string, flags ...string) *agentProc {
	e.t.Helper()
	cmd := exec.Command(e.bin, append([]string{"agent", "--server", e.addr}, flags...)...)
	cmd.Env = append(os.Environ(), "BATON_AGENT_TOKEN="+token)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	a := &agentProc{cmd: cmd, logs: watch(stderr), done: make(chan struct{})}
	go func() { a.err = cmd.Wait(); close(a.done) }()
	e.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-a.done
	})
	return a
}

func (e *deviceEnv) api(method, path string, body any, want int) map[string]any {
	e.t.Helper()
	var rd io.Reader
	ct := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		rd, ct = strings.NewReader(b), "application/yaml"
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, e.addr+path, rd)
	req.Header.Set("Authorization", "Bearer "+e.token)
	if rd != nil {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := (&http.Client{Timeout: 90 * time.Second}).Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return out
}

// page GETs a page with the API token.
func (e *deviceEnv) page(path string) string {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		e.t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	return string(b)
}

// template stores a one-step workflow whose step is the given device
// action (YAML flow mapping) and returns its key.
func (e *deviceEnv) template(key, action string, extra string) string {
	e.t.Helper()
	def := fmt.Sprintf("id: %s\nname: %s\nsteps:\n  - id: cmd\n    type: command\n    action: %s\n%s", key, key, action, extra)
	e.api("POST", "/api/v1/templates", def, 201)
	return key
}

// run test-runs version 1 of key; wait "" starts it without waiting.
func (e *deviceEnv) run(key, wait string) map[string]any {
	e.t.Helper()
	q := ""
	if wait != "" {
		q = "?wait=" + wait
	}
	return e.api("POST", "/api/v1/templates/"+key+"/runs"+q, map[string]any{"version": 1}, 201)
}

func (e *deviceEnv) waitRun(id string, d time.Duration) map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for {
		r := e.api("GET", "/api/v1/runs/"+id, nil, 200)
		switch r["status"] {
		case "succeeded", "failed", "cancelled", "timed_out":
			return r
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("run %s still %v after %s", id, r["status"], d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// step returns the run's only step.
func step(t *testing.T, run map[string]any) map[string]any {
	t.Helper()
	steps, _ := run["steps"].([]any)
	if len(steps) != 1 {
		t.Fatalf("run has %d steps: %v", len(steps), run)
	}
	return steps[0].(map[string]any)
}

func (e *deviceEnv) commands(device string) []map[string]any {
	e.t.Helper()
	var out []map[string]any
	for _, c := range e.api("GET", "/api/v1/devices/"+device+"/commands", nil, 200)["commands"].([]any) {
		out = append(out, c.(map[string]any))
	}
	return out
}

func TestDevicesWithRealAgents(t *testing.T) {
	t.Parallel()
	for name, url := range databaseURLs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testDevices(t, startDeviceServer(t, url(t)))
		})
	}
}

func testDevices(t *testing.T, e *deviceEnv) {
	work := t.TempDir()
	tokA := e.addDevice("berlin-1", "--capability", "linux,usb", "--label", "site=berlin")
	tokB := e.addDevice("hamburg-1", "--capability", "linux", "--label", "site=hamburg")
	tokC := e.addDevice("spare")
	allow := []string{"--allow", "echo", "--allow", "sleep", "--allow", "false", "--work-dir", work}
	agentA := e.startAgent(tokA, allow...)
	e.startAgent(tokB, append(allow, "--max-concurrency", "2")...)
	_ = tokC

	t.Run("CapabilityAndLabelRouting", func(t *testing.T) {
		e.template("usb", `{kind: device, require: [usb], command: echo, args: ["hi {{ run.id }}"]}`, "")
		r := e.run("usb", "60s")
		s := step(t, r)
		out := s["output"].(map[string]any)
		if r["status"] != "succeeded" || out["device"] != "berlin-1" || !strings.HasPrefix(out["stdout"].(string), "hi ") {
			t.Fatalf("usb step: %v", r)
		}
		routing := out["routing"].(map[string]any)
		cands := fmt.Sprint(routing["candidates"])
		if routing["chosen"] != "berlin-1" || !strings.Contains(cands, "lacks capability usb") || !strings.Contains(cands, "offline (never connected)") {
			t.Errorf("routing does not explain itself: %v\ndevices: %v", routing, e.api("GET", "/api/v1/devices", nil, 200))
		}
		// The run page says why this device.
		page := e.page("/runs/" + r["id"].(string))
		for _, want := range []string{`data-testid="step-routing-cmd"`, `Sent to <strong><a href="/devices/berlin-1">berlin-1</a></strong>`, "lacks capability usb"} {
			if !strings.Contains(page, want) {
				t.Errorf("run page lacks %q", want)
			}
		}
		e.template("hh", `{kind: device, labels: {site: hamburg}, command: echo, args: [x]}`, "")
		if out := step(t, e.run("hh", "60s"))["output"].(map[string]any); out["device"] != "hamburg-1" {
			t.Errorf("label routing chose %v", out["device"])
		}
	})

	t.Run("FallbackInOrder", func(t *testing.T) {
		e.template("fb", `{kind: device, require: [usb], labels: {site: paris}, command: echo, args: [fb],
      fallback: [{require: [gpu]}, {labels: {site: hamburg}}, {require: [linux]}]}`, "")
		out := step(t, e.run("fb", "60s"))["output"].(map[string]any)
		routing := out["routing"].(map[string]any)
		if out["device"] != "hamburg-1" || routing["route"] != 2.0 || !strings.Contains(routing["why"].(string), "fallback 2") {
			t.Fatalf("fallback: %v", out)
		}
	})

	t.Run("NoDeviceExplained", func(t *testing.T) {
		e.template("nodev", `{kind: device, require: [fpga], command: echo, queueTimeout: 300ms}`, "")
		r := e.run("nodev", "60s")
		s := step(t, r)
		errv, _ := s["error"].(map[string]any)
		msg := fmt.Sprint(errv["message"])
		if r["status"] != "failed" || errv["code"] != "no_device" || !strings.Contains(msg, "berlin-1: lacks capability fpga") ||
			!strings.Contains(msg, "hamburg-1: lacks capability fpga") || !strings.Contains(msg, "spare: offline") {
			t.Fatalf("no_device: %v", r)
		}
	})

	t.Run("AllowListRefusal", func(t *testing.T) {
		e.template("rm", `{kind: device, require: [usb], command: rm, args: ["-rf", "/tmp/nothing"]}`, "")
		r := e.run("rm", "60s")
		errv, _ := step(t, r)["error"].(map[string]any)
		if r["status"] != "failed" || errv["code"] != "command_not_allowed" || !strings.Contains(fmt.Sprint(errv["message"]), "--allow") {
			t.Fatalf("a command off the allow-list: %v", r)
		}
	})

	t.Run("NonZeroExitFails", func(t *testing.T) {
		e.template("exit1", `{kind: device, require: [usb], command: "false"}`, "")
		r := e.run("exit1", "60s")
		errv, _ := step(t, r)["error"].(map[string]any)
		if r["status"] != "failed" || errv["code"] != "exit_code" {
			t.Fatalf("exit 1: %v", r)
		}
	})

	t.Run("CancelStopsTheProcess", func(t *testing.T) {
		e.template("long", `{kind: device, require: [usb], command: sleep, args: ["41.25"]}`, "")
		r := e.run("long", "")
		id := r["id"].(string)
		waitFor(t, 20*time.Second, "the sleep to start", func() bool { return processRunning("sleep", "41.25") })
		e.api("POST", "/api/v1/runs/"+id+"/cancel", nil, 200)
		waitFor(t, 10*time.Second, "the sleep to be killed", func() bool { return !processRunning("sleep", "41.25") })
		if got := e.waitRun(id, 20*time.Second); got["status"] != "cancelled" {
			t.Fatalf("cancelled run: %v", got["status"])
		}
	})

	t.Run("KilledAgentCommandCompletesElsewhereOnce", func(t *testing.T) {
		tokK1 := e.addDevice("kill-1", "--capability", "killme")
		tokK2 := e.addDevice("kill-2", "--capability", "killme")
		k1 := e.startAgent(tokK1, allow...)
		e.template("survive", `{kind: device, require: [killme], command: sleep, args: ["1.5"]}`, "")
		id := e.run("survive", "")["id"].(string)
		waitFor(t, 20*time.Second, "kill-1 to run the command", func() bool { return processRunning("sleep", "1.5") })
		e.startAgent(tokK2, allow...)
		_ = k1.cmd.Process.Signal(syscall.SIGKILL)
		<-k1.done
		r := e.waitRun(id, 60*time.Second)
		s := step(t, r)
		out, _ := s["output"].(map[string]any)
		if r["status"] != "succeeded" || out["device"] != "kill-2" {
			t.Fatalf("after kill -9 of kill-1: %v", r)
		}
		if attempts, _ := s["attempts"].([]any); len(attempts) > 1 {
			t.Errorf("the step was attempted %d times; the engine should see one attempt", len(attempts))
		}
		if out["routing"].(map[string]any)["deliveries"] != 2.0 {
			t.Errorf("routing: %v", out["routing"])
		}
		k1cmds, k2cmds := e.commands("kill-1"), e.commands("kill-2")
		if len(k1cmds) != 1 || k1cmds[0]["status"] != "lost" || len(k2cmds) != 1 || k2cmds[0]["status"] != "succeeded" {
			t.Fatalf("commands: kill-1 %v, kill-2 %v", k1cmds, k2cmds)
		}
	})

	t.Run("SIGTERMFinishesTheRunningCommand", func(t *testing.T) {
		tok := e.addDevice("graceful", "--capability", "grace")
		a := e.startAgent(tok, allow...)
		e.template("grace", `{kind: device, require: [grace], command: sleep, args: ["1.125"]}`, "")
		id := e.run("grace", "")["id"].(string)
		waitFor(t, 20*time.Second, "the command to start", func() bool { return processRunning("sleep", "1.125") })
		_ = a.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-a.done:
			if a.err != nil {
				t.Fatalf("agent after SIGTERM: %v\n%s", a.err, a.logs.all())
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the agent did not stop after SIGTERM")
		}
		r := e.waitRun(id, 30*time.Second)
		out, _ := step(t, r)["output"].(map[string]any)
		if r["status"] != "succeeded" || out["device"] != "graceful" || out["routing"].(map[string]any)["deliveries"] != 1.0 {
			t.Fatalf("the command should have finished on the stopping agent: %v", r)
		}
	})

	t.Run("LiveOutputOnTheRunPage", func(t *testing.T) {
		script := filepath.Join(t.TempDir(), "chatty")
		if err := os.WriteFile(script, []byte("#!/bin/sh\necho started-live\nsleep 1.75\necho done-live\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		tok := e.addDevice("live-1", "--capability", "live")
		e.startAgent(tok, "--allow", script)
		e.template("live", fmt.Sprintf(`{kind: device, require: [live], command: %q}`, script), "")
		id := e.run("live", "")["id"].(string)
		waitFor(t, 20*time.Second, "live output", func() bool {
			return strings.Contains(e.page("/runs/"+id+"/steps/cmd/output"), "started-live")
		})
		if page := e.page("/runs/" + id); !strings.Contains(page, `/runs/`+id+`/steps/cmd/output`) {
			t.Error("the run page does not fetch the running step's live output")
		}
		r := e.waitRun(id, 30*time.Second)
		if out, _ := step(t, r)["output"].(map[string]any); r["status"] != "succeeded" || out["stdout"] != "started-live\ndone-live\n" {
			t.Fatalf("live run: %v", r)
		}
		if strings.Contains(e.page("/runs/"+id+"/steps/cmd/output"), "hx-get") {
			t.Error("the live output keeps polling after the command ended")
		}
	})

	t.Run("SecretsRedactedFromStoredArguments", func(t *testing.T) {
		e.api("POST", "/api/v1/secrets", map[string]any{"name": "FLASH_KEY", "value": "hunter2-very-secret"}, 201)
		e.template("secret", `{kind: device, require: [usb], command: echo, args: ["key={{ secrets.FLASH_KEY }}"]}`, "")
		r := e.run("secret", "60s")
		raw, _ := json.Marshal(r)
		if r["status"] != "succeeded" || strings.Contains(string(raw), "hunter2") {
			t.Fatalf("run record: %s", raw)
		}
		cmds, _ := json.Marshal(e.commands("berlin-1"))
		if strings.Contains(string(cmds), "hunter2") || !strings.Contains(string(cmds), "key=***") {
			t.Fatalf("stored arguments: %s", cmds)
		}
	})

	t.Run("RevokedTokenRefused", func(t *testing.T) {
		tok := e.addDevice("gone")
		a := e.startAgent(tok, allow...)
		e.api("DELETE", "/api/v1/devices/gone", nil, 204)
		// The live connection is closed, and the agent's reconnect is refused.
		select {
		case <-a.done:
			if err := a.err; err == nil || !strings.Contains(a.logs.all(), "refused") {
				t.Fatalf("agent after revoke: %v\n%s", err, a.logs.all())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("the agent of a revoked device still runs:\n%s", a.logs.all())
		}
		list := e.api("GET", "/api/v1/devices", nil, 200)["devices"].([]any)
		if !strings.Contains(fmt.Sprint(list), "status:revoked") {
			t.Errorf("devices: %v", list)
		}
	})

	_ = agentA
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// processRunning reports whether a process runs with this argv (argv[0]
// compared by its base name).
func processRunning(argv ...string) bool {
	want := strings.Join(argv, "\x00")
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		got := strings.TrimRight(string(b), "\x00")
		if i := strings.IndexByte(got, 0); i > 0 {
			got = filepath.Base(got[:i]) + got[i:]
		}
		if got == want {
			return true
		}
	}
	return false
}

// TestDeviceCommandSurvivesServerRestart kills the server (kill -9) while an
// agent runs a step's command, and while another step's command waits for a
// device; after the restart the running command is taken over when its
// agent reconnects (it runs once), the waiting one is sent when a device
// connects, and both runs succeed.
func TestDeviceCommandSurvivesServerRestart(t *testing.T) {
	t.Parallel()
	for name, url := range databaseURLs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := url(t)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			dir := t.TempDir()
			e := startDeviceServerAt(t, db, addr, dir)
			tok := e.addDevice("survivor", "--capability", "linux")
			e.addDevice("later", "--capability", "gpu")
			e.startAgent(tok, "--allow", "sleep", "--max-concurrency", "1")
			e.template("restart", `{kind: device, require: [linux], command: sleep, args: ["2.25"]}`, "")
			e.template("queued", `{kind: device, require: [gpu], command: sleep, args: ["0.1"], queueTimeout: 2m}`, "")
			running := e.run("restart", "")["id"].(string)
			queued := e.run("queued", "")["id"].(string)
			waitFor(t, 20*time.Second, "the command to start", func() bool { return processRunning("sleep", "2.25") })
			_ = e.server.Process.Signal(syscall.SIGKILL)
			_ = e.server.Wait()

			e2 := startDeviceServerAt(t, db, addr, dir)
			e2.token = e.token
			r := e2.waitRun(running, 60*time.Second)
			s := step(t, r)
			out, _ := s["output"].(map[string]any)
			if r["status"] != "succeeded" || out["device"] != "survivor" {
				t.Fatalf("after the restart: %v", r)
			}
			cmds := e2.commands("survivor")
			succeeded := 0
			for _, c := range cmds {
				if c["status"] == "succeeded" {
					succeeded++
				}
			}
			if len(cmds) != 1 || succeeded != 1 {
				t.Errorf("the command should have run once and been taken over: %v", cmds)
			}
			// The queued command goes out once a capable device connects.
			gpu := e2.addDevice("gpu-box", "--capability", "gpu")
			e2.startAgent(gpu, "--allow", "sleep")
			if r := e2.waitRun(queued, 60*time.Second); r["status"] != "succeeded" || step(t, r)["output"].(map[string]any)["device"] != "gpu-box" {
				t.Fatalf("queued across the restart: %v", r)
			}
		})
	}
}
