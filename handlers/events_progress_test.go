package handlers_test

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
)

// A forEach step's elements reach a run's live stream as step.progress
// events: without an id (they are not stored, so a resume neither replays
// nor misses anything it needs), after the stored event they follow, and
// ending with the final counts before the step's own event. A replay of the
// finished run has none and the record has the same counts.
func TestRunEventsProgress(t *testing.T) {
	t.Parallel()
	f := newFlow(t, openSQLite, flowOptions{heartbeat: 20 * time.Millisecond})
	url := f.listen(t)
	// Held on a signal first, so the stream is live before the elements run.
	f.publish(t, `{"id":"fanout","name":"Fan out","steps":[
	 {"id":"wait_go","type":"wait","action":{"signal":"go","timeout":"1h"}},
	 {"id":"fan","type":"parallel","dependencies":["wait_go"],
	  "action":{"forEach":"[1, 2, 3, 4, 5]","step":{"kind":"set","values":{"n":"{{ item }}"}}}}]}`)
	id := f.call(t, "POST", "/api/v1/templates/fanout/runs", f.operator, `{}`, 201)["id"].(string)

	req, _ := http.NewRequest("GET", url+"/api/v1/runs/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+f.viewerToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	rd := bufio.NewReader(res.Body)
	var body strings.Builder
	for !strings.Contains(body.String(), "event: step.waiting") {
		line, err := rd.ReadString('\n')
		body.WriteString(line)
		if err != nil {
			t.Fatalf("stream ended before the wait: %v\n%s", err, body.String())
		}
	}
	f.call(t, "POST", "/api/v1/runs/"+id+"/signals/go", f.operator, `{}`, 202)
	rest, err := readAll(rd)
	if err != nil {
		t.Fatalf("stream did not end cleanly: %v", err)
	}
	body.WriteString(rest)
	msgs, _ := parseSSE(t, body.String())
	msgs = withoutEnd(t, msgs, id)

	var stored, progress []sseMessage
	var lastStored int64
	fanDone := -1
	for i, m := range msgs {
		if m.event != models.EventStepProgress {
			stored = append(stored, m)
			lastStored = m.data.Seq
			if m.event == models.EventStepSucceeded && m.data.StepID == "fan" {
				fanDone = i
			}
			continue
		}
		p := m.data.Progress
		if m.id != "" || m.data.Type != m.event || m.data.RunID != id || m.data.StepID != "fan" || p == nil || p.Items != 5 {
			t.Fatalf("progress message %d = %+v (progress %+v); want no id, step fan, 5 items", i, m, p)
		}
		if m.data.Seq > lastStored {
			t.Errorf("progress follows stored event %d before the stream sent it (last sent %d)", m.data.Seq, lastStored)
		}
		if fanDone >= 0 {
			t.Errorf("progress message %d comes after the step's own event", i)
		}
		if n := len(progress); n > 0 {
			prev := progress[n-1].data.Progress
			if p.Succeeded < prev.Succeeded || p.Failed < prev.Failed {
				t.Errorf("counts went down: %+v after %+v", p, prev)
			}
		}
		progress = append(progress, m)
	}
	checkSequence(t, stored, 1, id)
	if len(progress) == 0 || fanDone < 0 {
		t.Fatalf("no progress (or no step.succeeded) in the live stream:\n%s", body.String())
	}
	if last := progress[len(progress)-1].data.Progress; *last != (models.ItemProgress{Items: 5, Succeeded: 5}) {
		t.Errorf("last progress = %+v; want all 5 succeeded", *last)
	}

	// Replayed, the run has only its stored events.
	replay := f.do(t, request{method: "GET", path: "/api/v1/runs/" + id + "/events", bearer: f.viewerToken})
	again, _ := parseSSE(t, replay.body)
	again = withoutEnd(t, again, id)
	checkSequence(t, again, 1, id)
	if len(again) != len(stored) {
		t.Errorf("replay has %d events; the live stream had %d stored ones", len(again), len(stored))
	}
	run := f.waitRun(t, id, models.RunSucceeded)
	for _, s := range run["steps"].([]any) {
		st := s.(map[string]any)
		if st["id"] == "fan" {
			if out := st["output"].(map[string]any); out["succeeded"] != 5.0 || out["failed"] != 0.0 {
				t.Errorf("record = %v; want 5 succeeded", out)
			}
		}
	}
}
