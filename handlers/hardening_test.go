package handlers_test

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baton-run/baton/handlers"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// 100 parallel wrong passwords for one user: at most LoginAttempts of them
// reach the password check (401); the rest are throttled (429).
func TestParallelWrongPasswordsAreThrottledAtomically(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		b := setup(t, open)
		var mu sync.Mutex
		counts := map[int]int{}
		var wg sync.WaitGroup
		for range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := b.postLogin(t, "alice", "wrong password", "")
				mu.Lock()
				counts[res.status]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if counts[500] > 0 {
			for _, l := range strings.Split(b.logs.String(), "\n") {
				if strings.Contains(l, "ERROR") {
					t.Log(l)
					break
				}
			}
		}
		if counts[401] > 5 || counts[401]+counts[429] != 100 {
			t.Errorf("answers = %v; want at most 5 × 401 and the rest 429", counts)
		}
	})
}

// next= accepts only same-origin absolute paths.
func TestLoginNextStaysOnSite(t *testing.T) {
	t.Parallel()
	b := setup(t, openSQLite)
	for _, next := range []string{"/\t/evil.com", "//evil.com", "/\\evil.com", "https://evil.com", "/\n/evil.com", "/%09/x\x7f"} {
		res := b.postLogin(t, "alice", testPassword, next)
		if loc := res.res.Header.Get("Location"); loc != "/" {
			t.Errorf("next=%q: Location %q; want /", next, loc)
		}
	}
	res := b.postLogin(t, "alice", testPassword, "/runs?x=1")
	if loc := res.res.Header.Get("Location"); !strings.HasPrefix(loc, "/runs") {
		t.Errorf("a good next: Location %q", loc)
	}
}

// The CSRF token counts only in the header or a form body, not in the URL.
func TestCSRFTokenNotFromQueryString(t *testing.T) {
	t.Parallel()
	b := setup(t, openSQLite)
	br := b.login(t, "alice", testPassword)
	res := b.do(t, request{method: "POST", path: "/api/v1/tokens?_csrf=" + br.csrf, body: `{"name":"x"}`, browser: br, noCSRF: true})
	if res.status != 403 {
		t.Errorf("token in the query: %d; want 403", res.status)
	}
	res = b.do(t, request{method: "POST", path: "/api/v1/tokens", body: `{"name":"x"}`, browser: br})
	if res.status != 201 {
		t.Errorf("token in the header: %d; want 201: %s", res.status, res.body)
	}
}

// A designer may cancel, signal and rerun only their own test runs; another
// designer gets 403, an operator keeps acting on any run.
func TestDesignersActOnlyOnTheirOwnTestRuns(t *testing.T) {
	t.Parallel()
	f := newFlow(t, openSQLite)
	f.call(t, "POST", "/api/v1/templates", f.designer, greetDef, 201)
	test := f.call(t, "POST", "/api/v1/templates/greet/runs?wait=10s", f.designer, `{"inputs":{"who":"test"},"version":1}`, 201)
	id := test["id"].(string)
	f.refused(t, "POST", "/api/v1/runs/"+id+"/rerun", f.designer2, "", 403, models.Forbidden, "own test runs")
	f.refused(t, "POST", "/api/v1/runs/"+id+"/cancel", f.designer2, "", 403, models.Forbidden, "own test runs")
	f.refused(t, "POST", "/api/v1/runs/"+id+"/signals/go", f.designer2, `{}`, 403, models.Forbidden, "own test runs")
	f.call(t, "POST", "/api/v1/runs/"+id+"/rerun", f.designer, "", 201)
	f.call(t, "POST", "/api/v1/runs/"+id+"/rerun", f.operator, "", 201)
}

// An oversized chunked body under /api gets the JSON 413, not an HTML page.
func TestOversizedChunkedBodyGetsJSON413(t *testing.T) {
	t.Parallel()
	b := setup(t, openSQLite, options{bodyLimit: 1024})
	addr := b.listen(t)
	for _, path := range []string{"/api/v1/validate", "/hooks/x"} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(addr, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		chunk := strings.Repeat("a", 4096)
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", path, len(chunk), chunk)
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		_ = conn.Close()
		if res.StatusCode != 413 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") || !strings.Contains(string(body), `"too_large"`) {
			t.Errorf("%s: %d %s %s", path, res.StatusCode, res.Header.Get("Content-Type"), body)
		}
	}
}

// One user may hold at most 32 event streams; the 33rd gets 429, and a
// closed stream frees its slot within seconds, long before the next
// heartbeat (the default, 15 s): the stream's probe finds the client gone.
func TestEventStreamsPerUserAreCapped(t *testing.T) {
	t.Parallel()
	f := newFlow(t, openSQLite)
	base := f.listen(t)
	// open starts a stream; close ends it (after reading the answer of a
	// refused one).
	open := func() (status int, body string, close func()) {
		req, _ := http.NewRequest("GET", base+"/api/v1/events", nil)
		req.Header.Set("Authorization", "Bearer "+f.operator)
		res, err := http.DefaultClient.Do(req) //nolint:bodyclose // closed by the close func returned
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != 200 {
			b, _ := io.ReadAll(res.Body)
			body = string(b)
		}
		return res.StatusCode, body, func() { _ = res.Body.Close() }
	}
	var closers []func()
	for range 32 {
		status, _, closeIt := open()
		closers = append(closers, closeIt)
		if status != 200 {
			t.Fatalf("stream: %d", status)
		}
	}
	status, body, closeIt := open()
	closeIt()
	if status != 429 || !strings.Contains(body, "event streams open") {
		t.Errorf("33rd stream: %d %s; want 429", status, body)
	}
	for _, c := range closers {
		c()
	}
	// The closed streams end at their next probes and free their slots.
	closed := time.Now()
	deadline := closed.Add(10 * time.Second)
	for {
		status, _, closeIt := open()
		closeIt()
		if status == 200 {
			t.Logf("slots free %v after the clients closed", time.Since(closed).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after closing every stream a new one still gets %d", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A captured webhook call cannot be replayed: not under a new delivery id
// (the signature covers it), not later than the tolerance, and not in the
// old body-only form unless the legacy setting allows it.
func TestWebhookReplayIsRefused(t *testing.T) {
	t.Parallel()
	for _, legacy := range []bool{false, true} {
		f := newFlow(t, openSQLite, flowOptions{legacySig: legacy})
		f.publish(t, greetDef)
		created := f.call(t, "POST", "/api/v1/templates/greet/webhook", f.operator, `{"mode":"hmac"}`, 201)
		secret, url := created["secret"].(string), created["url"].(string)
		body := `{"who":"hook"}`
		captured := f.signed(secret, body, "d-1")
		if r := f.hook(t, url, body, captured); r.status != 201 {
			t.Fatalf("first delivery = %d\n%s", r.status, r.body)
		}
		replay := map[string]string{}
		for k, v := range captured {
			replay[k] = v
		}
		replay["X-Baton-Delivery"] = "d-2"
		if r := f.hook(t, url, body, replay); r.status != 401 || !strings.Contains(r.body, "delivery id") {
			t.Errorf("replay under a new delivery id = %d\n%s", r.status, r.body)
		}
		late := f.signed(secret, body, "d-3")
		f.clock.Advance(handlers.HookTolerance + time.Second)
		if r := f.hook(t, url, body, late); r.status != 401 || !strings.Contains(r.body, "X-Baton-Timestamp") {
			t.Errorf("a call signed too long ago = %d\n%s", r.status, r.body)
		}
		old := map[string]string{"X-Baton-Delivery": "d-4",
			"X-Baton-Signature": "sha256=" + hex.EncodeToString(handlers.HookSignature(secret, []byte(body)))}
		r := f.hook(t, url, body, old)
		if legacy && r.status != 201 {
			t.Errorf("legacy signature with the setting on = %d\n%s", r.status, r.body)
		}
		if !legacy && (r.status != 401 || !strings.Contains(r.body, "turned off")) {
			t.Errorf("legacy signature with the setting off = %d\n%s", r.status, r.body)
		}
	}
}
