package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
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

// buildBaton compiles the binary once per test binary run.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "baton-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "baton")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", &buildError{out: string(out), err: err}
	}
	return bin, nil
})

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

func batonBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	bin, err := buildOnce()
	if err != nil {
		t.Fatalf("build baton: %v", err)
	}
	return bin
}

// logWatcher collects a process's log lines and finds patterns in them.
type logWatcher struct {
	mu    sync.Mutex
	lines []string
	added chan struct{}
}

func watch(r io.Reader) *logWatcher {
	w := &logWatcher{added: make(chan struct{}, 1)}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			w.mu.Lock()
			w.lines = append(w.lines, sc.Text())
			w.mu.Unlock()
			select {
			case w.added <- struct{}{}:
			default:
			}
		}
	}()
	return w
}

// waitFor returns the first submatch of re in the log, waiting up to d.
func (w *logWatcher) waitFor(t *testing.T, re *regexp.Regexp, d time.Duration) string {
	t.Helper()
	deadline := time.After(d)
	for {
		w.mu.Lock()
		for _, l := range w.lines {
			if m := re.FindStringSubmatch(l); m != nil {
				w.mu.Unlock()
				return m[len(m)-1]
			}
		}
		w.mu.Unlock()
		select {
		case <-w.added:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("log never matched %s; log so far:\n%s", re, w.all())
		}
	}
}

func (w *logWatcher) all() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n")
}

// TestServeFreshMachine is the README's first command on an empty folder: the
// embedded database appears, the printed admin password logs in, and SIGTERM
// stops the server cleanly.
func TestServeFreshMachine(t *testing.T) {
	bin := batonBinary(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--addr", "127.0.0.1:0")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BATON_DATABASE_URL=", "DATABASE_URL=", "BATON_ADMIN_PASSWORD=", "BATON_DATA_DIR=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := watch(stderr)
	addr := logs.waitFor(t, regexp.MustCompile(`url=(http://127\.0\.0\.1:\d+)`), 30*time.Second)
	password := logs.waitFor(t, regexp.MustCompile(`password=(\S+)`), 5*time.Second)

	if _, err := os.Stat(filepath.Join(dir, "baton-data", "baton.db")); err != nil {
		t.Fatalf("embedded database not created: %v", err)
	}

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	loginPage := get(t, client, addr+"/login")
	form := url.Values{"username": {"admin"}, "password": {password}}
	if m := regexp.MustCompile(`name="_csrf"\s+value="([^"]+)"`).FindStringSubmatch(loginPage); m != nil {
		form.Set("_csrf", m[1])
	}
	resp, err := client.PostForm(addr+"/login", form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Templates") {
		t.Fatalf("login as admin: status %d, body:\n%.500s", resp.StatusCode, body)
	}
	if home := get(t, client, addr+"/"); !strings.Contains(home, "Approvals") {
		t.Fatalf("the app shell after login lacks its navigation:\n%.500s", home)
	}

	if h := get(t, client, addr+"/healthz"); !strings.Contains(h, `"instance":{"enabled":false`) || !strings.Contains(h, `"ownedRuns":0`) {
		t.Errorf("/healthz of a single instance = %s", h)
	}
	// SQLite serves one instance: a second serve on the same database is
	// refused, saying why.
	second := exec.CommandContext(ctx, bin, "serve", "--addr", "127.0.0.1:0")
	second.Dir = dir
	second.Env = cmd.Env
	out, err := second.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "another baton serve is already running on the SQLite database") {
		t.Errorf("a second serve on the same SQLite database: %v\n%s", err, out)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve did not exit cleanly after SIGTERM: %v\n%s", err, logs.all())
	}
	if !strings.Contains(logs.all(), "stopped") {
		t.Fatalf("no clean shutdown in the log:\n%s", logs.all())
	}
}

func get(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d\n%.500s", u, resp.StatusCode, b)
	}
	return string(b)
}
