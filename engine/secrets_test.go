package engine_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/engine/enginetest"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// A step receives a secret's value, but the run's records show ***: the
// output of a step that echoes it, a failure message that quotes it, and
// the events. The store audits the use (run and name, not the value).
func TestSecretsReachTheActionButNotTheRecords(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		const value = "tok_9f8e7d6c5b4a"
		var mu sync.Mutex
		var gotAuth string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			gotAuth = r.Header.Get("Authorization")
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]string{"echo": r.Header.Get("Authorization")})
		}))
		defer srv.Close()

		var st *store.Store
		h := newHarness(t, func(tb testing.TB) *store.Store {
			st = open(tb)
			if err := st.UseSecretsKey(bytes.Repeat([]byte{7}, store.SecretKeyLen)); err != nil {
				tb.Fatal(err)
			}
			if err := st.CreateSecret(t.Context(), &models.StoredSecret{Name: "API_TOKEN"}, value, "ann", ""); err != nil {
				tb.Fatal(err)
			}
			return st
		}, func(c *engine.Config) {})
		h.stopEngine(h.eng)
		h.cfg.Secrets = st
		var serverLog enginetest.LogSink
		h.cfg.Logger = slog.New(slog.NewTextHandler(&serverLog, nil))
		h.start()

		run := h.run(`
id: uses-secret
name: uses a secret
errorHandling: {strategy: continue}
steps:
  - {id: call, type: command, action: {kind: http, url: "`+srv.URL+`/x", headers: {Authorization: "Bearer {{ secrets.API_TOKEN }}"}}}
  - {id: copy, type: command, action: {kind: set, values: {v: "{{ secrets.API_TOKEN }}"}}}
  - {id: boom, type: command, action: {kind: fail, message: "token {{ secrets.API_TOKEN }} refused"}}
  - {id: say, type: command, action: {kind: log, message: "calling with {{ secrets.API_TOKEN }}"}}
  - {id: missing, type: command, action: {kind: set, values: {v: "{{ secrets.NOPE }}"}}}
  - id: each
    type: parallel
    action: {forEach: "[1, 2]", step: {kind: set, values: {v: "{{ secrets.API_TOKEN }}"}}}
outputs: {leak: "x{{ secrets.API_TOKEN }}"}
`, nil)
		mu.Lock()
		if gotAuth != "Bearer "+value {
			t.Errorf("the action sent Authorization %q; want the secret's value", gotAuth)
		}
		mu.Unlock()
		rec, err := json.Marshal(run)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(rec), value) {
			t.Errorf("the run record holds the secret's value:\n%s", rec)
		}
		if !strings.Contains(string(rec), "Bearer ***") {
			t.Errorf("the echoed header is not shown as ***:\n%s", rec)
		}
		ok := h.run(`
id: secret-output
name: secret output
steps:
  - {id: a, type: command, action: {kind: set, values: {v: "{{ secrets.API_TOKEN }}"}}}
outputs: {leak: "x{{ secrets.API_TOKEN }}"}
`, nil)
		if b, _ := json.Marshal(ok); ok.Status != models.RunSucceeded || !strings.Contains(string(b), `"leak":"x***"`) || strings.Contains(string(b), value) {
			t.Errorf("a run output naming a secret is not ***:\n%s", b)
		}
		if logged := serverLog.String(); strings.Contains(logged, value) || !strings.Contains(logged, "calling with ***") {
			t.Errorf("the server's log shows the value, or not the log step's line with ***:\n%s", logged)
		}
		if e := step(t, run, "boom").Error; e == nil || e.Message != "token *** refused" {
			t.Errorf("boom error = %+v; want the value redacted", e)
		}
		if e := step(t, run, "missing").Error; e == nil || !strings.Contains(e.Message, `secret "NOPE" not found`) {
			t.Errorf("missing = %+v; want a clear error", e)
		}
		// Each attempt's stored input is the rendered action, with *** for the value.
		snap, err := st.LoadRun(t.Context(), run.ID)
		if err != nil {
			t.Fatal(err)
		}
		stored, _ := json.Marshal(snap.StepRuns)
		if strings.Contains(string(stored), value) || !strings.Contains(string(stored), `"Authorization":"Bearer ***"`) {
			t.Errorf("stored attempts hold the value, or not the redacted input:\n%s", stored)
		}
		evs, err := st.RunEvents(t.Context(), run.ID, 0, 1000)
		if err == nil {
			b, _ := json.Marshal(evs)
			if strings.Contains(string(b), value) {
				t.Errorf("events hold the value: %s", b)
			}
		}
		audit, err := st.ListAudit(t.Context(), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		used := 0
		for _, a := range audit {
			if a.Action == models.AuditSecretUsed && a.Target == "API_TOKEN" && a.Detail["run"] == run.ID {
				used++
			}
		}
		if used == 0 {
			t.Errorf("no secret_used audit entry for run %s: %+v", run.ID, audit)
		}
	})
}

// An invalid URL's error shows neither its credentials nor its query.
func TestInvalidURLErrorHidesCredentials(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		h := newHarness(t, open)
		run := h.run(`
id: bad-url
name: bad url
steps:
  - {id: call, type: command, action: {kind: http, url: "ftp://ann:pa55word@example.com/x?token=abc123"}}
`, nil)
		e := step(t, run, "call").Error
		if e == nil || strings.Contains(e.Message, "pa55word") || strings.Contains(e.Message, "abc123") || !strings.Contains(e.Message, "example.com/x") {
			t.Errorf("error = %+v; want the URL without credentials or query", e)
		}
	})
}
