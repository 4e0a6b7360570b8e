package handlers_test

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/handlers"
	"github.com/baton-run/baton/models"
)

// launchLines returns the launcher's JSON log lines with the given message.
func launchLines(t *testing.T, logs *syncBuffer, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		if line["msg"] == msg {
			out = append(out, line)
		}
	}
	return out
}

// lineFor returns the line about run id, failing t when there is none.
func lineFor(t *testing.T, lines []map[string]any, id string) map[string]any {
	t.Helper()
	for _, l := range lines {
		if l["run"] == id {
			return l
		}
	}
	t.Fatalf("no launch line for run %s among %v", id, lines)
	return nil
}

// A run started, retried or rerun by an HTTP request is logged with that
// request's id, the one its access-log line and error bodies carry, so an
// operator can go from a request to the run it started and back.
func TestRunLogsCarryRequestID(t *testing.T) {
	t.Parallel()
	f := newFlow(t, openSQLite)
	logs := &syncBuffer{}
	launcher := engine.NewLauncher(f.eng, engine.LauncherConfig{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	f.app = handlers.New(handlers.Deps{
		Log: slog.New(slog.DiscardHandler), Store: f.store, Definitions: plan.Compiler{}, Registry: prometheus.NewRegistry(),
		Templates: f.store, Runs: launcher, Now: f.clock.Now, RateLimit: -1,
	})
	key := f.publish(t, greetDef)

	start := func(requestID string) (string, response) {
		t.Helper()
		req := request{method: "POST", path: "/api/v1/templates/" + key + "/runs", bearer: f.operator, body: `{"inputs":{"who":"Ada"}}`}
		if requestID != "" {
			req.headers = map[string]string{"X-Request-ID": requestID}
		}
		res := f.do(t, req)
		var run models.Run
		if res.status != 201 || json.Unmarshal([]byte(res.body), &run) != nil {
			t.Fatalf("start run = %d\n%s", res.status, res.body)
		}
		return run.ID, res
	}

	first, _ := start("req-run-42")
	line := lineFor(t, launchLines(t, logs, "run started"), first)
	if line["request_id"] != "req-run-42" || line["template"] != key || line["started_by"] != "otto" || line["trigger"] != "api" {
		t.Errorf("launch line = %v, want request_id req-run-42 for otto's API run of %s", line, key)
	}

	// Without X-Request-ID the server makes an id; the log has the same one
	// the response names.
	second, res := start("")
	made := res.res.Header.Get("X-Request-ID")
	if got := lineFor(t, launchLines(t, logs, "run started"), second)["request_id"]; made == "" || got != made {
		t.Errorf("launch line request_id = %v, want the response's X-Request-ID %q", got, made)
	}

	f.waitRun(t, first, models.RunSucceeded)
	res = f.do(t, request{method: "POST", path: "/api/v1/runs/" + first + "/rerun", bearer: f.operator,
		headers: map[string]string{"X-Request-ID": "req-rerun-7"}})
	var again models.Run
	if res.status != 201 || json.Unmarshal([]byte(res.body), &again) != nil {
		t.Fatalf("rerun = %d\n%s", res.status, res.body)
	}
	line = lineFor(t, launchLines(t, logs, "run started"), again.ID)
	if line["request_id"] != "req-rerun-7" || line["rerun_of"] != first {
		t.Errorf("rerun line = %v, want request_id req-rerun-7 and rerun_of %s", line, first)
	}
}
