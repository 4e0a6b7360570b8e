package handlers_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// sseMessage is one parsed server-sent event.
type sseMessage struct {
	id, event string
	data      models.Event
}

// parseSSE reads messages (and counts comments) from a stream body.
func parseSSE(t *testing.T, body string) (msgs []sseMessage, comments []string) {
	t.Helper()
	for _, block := range strings.Split(body, "\n\n") {
		if strings.TrimSpace(block) == "" {
			continue
		}
		var m sseMessage
		for _, line := range strings.Split(block, "\n") {
			switch {
			case strings.HasPrefix(line, ":"):
				comments = append(comments, line)
			case strings.HasPrefix(line, "id: "):
				m.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				m.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &m.data); err != nil {
					t.Fatalf("data is not an event: %q: %v", line, err)
				}
			}
		}
		if m.event != "" {
			msgs = append(msgs, m)
		}
	}
	return msgs, comments
}

// checkSequence checks ids are the data's seq, consecutive from first.
func checkSequence(t *testing.T, msgs []sseMessage, first int64, runID string) {
	t.Helper()
	for i, m := range msgs {
		want := first + int64(i)
		if m.id != strconv.FormatInt(want, 10) || m.data.Seq != want || m.data.Type != m.event || m.data.RunID != runID {
			t.Fatalf("message %d = %+v; want id and seq %d of run %s", i, m, want, runID)
		}
	}
}

// withoutEnd checks a finished run's stream closes with the "end" event
// (no id, so a reconnect resumes after the last real event) and returns the
// messages before it.
func withoutEnd(t *testing.T, msgs []sseMessage, runID string) []sseMessage {
	t.Helper()
	if len(msgs) == 0 {
		t.Fatalf("no messages; want events and a final end")
	}
	last := msgs[len(msgs)-1]
	if last.event != "end" || last.id != "" || last.data.RunID != runID {
		t.Fatalf("last message = %+v; want an end event of run %s without id", last, runID)
	}
	for _, m := range msgs[:len(msgs)-1] {
		if m.event == "end" {
			t.Fatalf("end before the last message: %+v", msgs)
		}
	}
	return msgs[:len(msgs)-1]
}

func TestRunEventsReplayAndResume(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f := newFlow(t, open)
		f.publish(t, greetDef)
		run := f.call(t, "POST", "/api/v1/templates/greet/runs?wait=10s", f.operator, `{"inputs":{"who":"sse"}}`, 201)
		id := run["id"].(string)
		path := "/api/v1/runs/" + id + "/events"

		res := f.do(t, request{method: "GET", path: path, bearer: f.viewerToken})
		if res.status != 200 || !strings.HasPrefix(res.res.Header.Get("Content-Type"), "text/event-stream") ||
			res.res.Header.Get("X-Accel-Buffering") != "no" {
			t.Fatalf("GET events = %d %v\n%s", res.status, res.res.Header, res.body)
		}
		all, comments := parseSSE(t, res.body)
		if len(comments) == 0 || comments[0] != ": connected" {
			t.Fatalf("the stream must open with a comment, so the client sees it open before any event: %v", comments)
		}
		all = withoutEnd(t, all, id)
		if len(all) < 4 || all[0].event != models.EventRunQueued || all[len(all)-1].event != models.EventRunSucceeded {
			t.Fatalf("replay: %+v", all)
		}
		checkSequence(t, all, 1, id)

		resumed := f.do(t, request{method: "GET", path: path, bearer: f.viewerToken, headers: map[string]string{"Last-Event-ID": "2"}})
		rest, _ := parseSSE(t, resumed.body)
		rest = withoutEnd(t, rest, id)
		if len(rest) != len(all)-2 {
			t.Fatalf("resume after 2 gave %d events; want %d:\n%s", len(rest), len(all)-2, resumed.body)
		}
		checkSequence(t, rest, 3, id)

		// Resuming a finished run after its last event: nothing to replay,
		// only the end, so a browser that reconnects closes for good.
		last := strconv.FormatInt(all[len(all)-1].data.Seq, 10)
		over := f.do(t, request{method: "GET", path: path, bearer: f.viewerToken, headers: map[string]string{"Last-Event-ID": last}})
		if msgs, _ := parseSSE(t, over.body); len(withoutEnd(t, msgs, id)) != 0 {
			t.Fatalf("resume after the final event sent %+v; want only the end", msgs)
		}

		f.refused(t, "GET", "/api/v1/runs/01NOSUCHRUN0000000000000000/events", f.viewerToken, "", 404, models.NotFound)
		bad := f.do(t, request{method: "GET", path: path, bearer: f.viewerToken, headers: map[string]string{"Last-Event-ID": "x"}})
		if bad.status != 400 {
			t.Fatalf("bad Last-Event-ID = %d", bad.status)
		}
		f.refused(t, "GET", path, "", "", 401, models.Unauthenticated)
	})
}

// TestRunEventsLive streams a run that waits for a signal over a real
// connection: replay, heartbeats while it waits, live events, and the end
// of the stream after the final event.
func TestRunEventsLive(t *testing.T) {
	t.Parallel()
	f := newFlow(t, openSQLite, flowOptions{heartbeat: 20 * time.Millisecond})
	url := f.listen(t)
	f.publish(t, gateDef)
	run := f.call(t, "POST", "/api/v1/templates/gate/runs", f.operator, `{}`, 201)
	id := run["id"].(string)

	req, _ := http.NewRequest("GET", url+"/api/v1/runs/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+f.viewerToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	rd := bufio.NewReader(res.Body)
	var body strings.Builder
	readUntil := func(what string) {
		t.Helper()
		for !strings.Contains(body.String(), what) {
			line, err := rd.ReadString('\n')
			body.WriteString(line)
			if err != nil {
				t.Fatalf("stream ended before %q: %v\n%s", what, err, body.String())
			}
		}
	}
	readUntil("event: step.waiting")
	readUntil(": heartbeat")
	f.call(t, "POST", "/api/v1/runs/"+id+"/signals/go", f.operator, `{"by":"sse"}`, 202)
	readUntil("event: run.succeeded")
	// The stream ends with the end event after the final event.
	restBytes, err := readAll(rd)
	if err != nil {
		t.Fatalf("stream did not end cleanly: %v", err)
	}
	body.WriteString(restBytes)
	msgs, comments := parseSSE(t, body.String())
	msgs = withoutEnd(t, msgs, id)
	checkSequence(t, msgs, 1, id)
	if msgs[len(msgs)-1].event != models.EventRunSucceeded || len(comments) == 0 {
		t.Fatalf("live stream: %+v, comments %v", msgs, comments)
	}
}

func readAll(rd *bufio.Reader) (string, error) {
	var sb strings.Builder
	_, err := rd.WriteTo(&sb)
	return sb.String(), err
}

// TestAllRunsStream watches the stream of every run's changes.
func TestAllRunsStream(t *testing.T) {
	t.Parallel()
	// A short heartbeat lets the server notice the client left, so the
	// test's shutdown does not wait for the stream.
	f := newFlow(t, openSQLite, flowOptions{heartbeat: 20 * time.Millisecond})
	url := f.listen(t)
	f.publish(t, greetDef)

	req, _ := http.NewRequest("GET", url+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+f.viewerToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.Header.Get("X-Accel-Buffering") != "no" {
		t.Fatalf("headers: %v", res.Header)
	}
	rd := bufio.NewReader(res.Body)
	if line, err := rd.ReadString('\n'); err != nil || line != ": connected\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	run := f.call(t, "POST", "/api/v1/templates/greet/runs", f.operator, `{"inputs":{"who":"all"}}`, 201)
	want := `"runId":"` + run["id"].(string) + `"`
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended: %v", err)
		}
		if strings.Contains(line, want) && strings.Contains(line, `"type":"run.succeeded"`) {
			return
		}
	}
}
