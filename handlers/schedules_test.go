package handlers_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

func TestSchedules(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f := newFlow(t, open)
		f.call(t, "POST", "/api/v1/templates", f.designer, boomDef, 201) // never approved
		f.publish(t, greetDef)
		api := "/api/v1/templates/greet/schedules"
		body := `{"cron":"* * * * *","timeZone":"Europe/Berlin","overlap":"skip","inputs":{"who":"cron"}}`
		f.refused(t, "POST", "/api/v1/templates/boom/schedules", f.operator, `{"cron":"* * * * *"}`, 409, models.Conflict, "no approved version")
		f.refused(t, "POST", api, f.designer, body, 403, models.Forbidden)
		f.refused(t, "POST", api, f.operator, `{"cron":"every day"}`, 422, models.Invalid, `"path":"cron"`)
		f.refused(t, "POST", api, f.operator, `{"cron":"61 * * * *"}`, 422, models.Invalid, `"path":"cron"`)
		f.refused(t, "POST", api, f.operator, `{"cron":"* * * * *","timeZone":"Mars/Olympus"}`, 422, models.Invalid, `"path":"timeZone"`)
		f.refused(t, "POST", "/api/v1/templates/nope/schedules", f.operator, body, 404, models.NotFound)
		f.refused(t, "POST", api, f.operator, `{"cron":"* * * * *","catchUp":"backfill"}`, 422, models.Invalid, `"path":"catchUp"`, "backfill")
		f.refused(t, "POST", api, f.operator, `{"cron":"* * * * *","catchUp":100}`, 400, models.BadRequest)
		all := f.call(t, "POST", api, f.operator, `{"cron":"0 3 * * *","catchUp":"all","enabled":false}`, 201)
		if all["catchUp"] != "all" {
			t.Fatalf("created with catchUp all: %v", all)
		}
		f.call(t, "DELETE", fmt.Sprintf("%s/%d", api, int64(all["id"].(float64))), f.operator, "", 204)

		sc := f.call(t, "POST", api, f.operator, body, 201)
		id := int64(sc["id"].(float64))
		next := sc["nextFires"].([]any)
		if len(next) != 5 || sc["enabled"] != true || sc["timeZone"] != "Europe/Berlin" || sc["catchUp"] != "none" {
			t.Fatalf("created schedule: %v", sc)
		}
		first, _ := time.Parse(time.RFC3339Nano, next[0].(string))
		if !first.Equal(time.Date(2026, 11, 27, 9, 1, 0, 0, time.UTC)) {
			t.Fatalf("first fire %v; want 09:01 UTC", first)
		}
		list := f.call(t, "GET", api, f.viewerToken, "", 200)["schedules"].([]any)
		if len(list) != 1 {
			t.Fatalf("list: %v", list)
		}
		one := fmt.Sprintf("%s/%d", api, id)
		f.call(t, "GET", one, f.viewerToken, "", 200)
		f.refused(t, "GET", fmt.Sprintf("/api/v1/templates/boom/schedules/%d", id), f.viewerToken, "", 404, models.NotFound)

		// The fake clock reaches the fire time: a run starts, recorded as
		// started by the schedule.
		var run map[string]any
		for i := 0; run == nil; i++ {
			if i > 200 {
				t.Fatal("the schedule never fired")
			}
			f.fake.Advance(time.Minute)
			time.Sleep(20 * time.Millisecond)
			runs := f.call(t, "GET", "/api/v1/runs?template=greet", f.viewerToken, "", 200)["runs"].([]any)
			if len(runs) > 0 {
				run = runs[0].(map[string]any)
			}
		}
		if run["trigger"] != "schedule" || run["startedBy"] != fmt.Sprintf("schedule:%d", id) || run["inputs"].(map[string]any)["who"] != "cron" {
			t.Fatalf("scheduled run: %v", run)
		}
		// The schedule's fires name the fire time of each run (the clock
		// may have passed more than one fire time by now).
		var fires []any
		for i := 0; ; i++ {
			if i > 500 {
				t.Fatalf("the fires' runs were never recorded: %v", fires)
			}
			fires = f.call(t, "GET", one+"/fires", f.viewerToken, "", 200)["fires"].([]any)
			recorded := len(fires) > 0
			for _, fire := range fires {
				recorded = recorded && fire.(map[string]any)["runId"] != ""
			}
			if recorded {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		scheduled := map[any]bool{}
		for _, r := range f.call(t, "GET", "/api/v1/runs?template=greet", f.viewerToken, "", 200)["runs"].([]any) {
			scheduled[r.(map[string]any)["id"]] = true
		}
		for _, fire := range fires {
			if fire := fire.(map[string]any); !scheduled[fire["runId"]] || fire["skipped"] != false {
				t.Fatalf("fire %v names no run of the schedule", fire)
			}
		}
		if oldest := fires[len(fires)-1].(map[string]any); oldest["fireAt"] != "2026-11-27T09:01:00Z" {
			t.Fatalf("oldest fire: %v; want 09:01", oldest)
		}
		f.refused(t, "GET", one+"/fires?limit=0", f.viewerToken, "", 422, models.Invalid, `"path":"limit"`)
		f.refused(t, "GET", fmt.Sprintf("/api/v1/templates/boom/schedules/%d/fires", id), f.viewerToken, "", 404, models.NotFound)
		f.refused(t, "GET", api+"/999/fires", f.viewerToken, "", 404, models.NotFound)

		// Changes take effect without a restart.
		changed := f.call(t, "PATCH", one, f.operator, `{"cron":"0 9 * * 1-5","timeZone":"UTC"}`, 200)
		if n := changed["nextFires"].([]any); len(n) != 5 {
			t.Fatalf("changed schedule: %v", changed)
		}
		next0, _ := time.Parse(time.RFC3339Nano, changed["nextFires"].([]any)[0].(string))
		if next0.Hour() != 9 || next0.Minute() != 0 || next0.Weekday() == time.Saturday || next0.Weekday() == time.Sunday {
			t.Fatalf("next fire after the change: %v", next0)
		}
		f.refused(t, "PATCH", one, f.operator, `{"cron":"nope"}`, 422, models.Invalid, `"path":"cron"`)
		f.refused(t, "PATCH", one, f.operator, `{"catchUp":"sometimes"}`, 422, models.Invalid, `"path":"catchUp"`, "sometimes")
		f.refused(t, "PATCH", one, f.operator, `{"catchUp":true}`, 400, models.BadRequest, "catchUp")
		if got := f.call(t, "PATCH", one, f.operator, `{"catchUp":"latest"}`, 200); got["catchUp"] != "latest" || got["cron"] != "0 9 * * 1-5" {
			t.Fatalf("catch-up changed: %v", got)
		}
		if got := f.call(t, "GET", one, f.viewerToken, "", 200); got["catchUp"] != "latest" {
			t.Fatalf("catch-up after the change: %v", got)
		}
		disabled := f.call(t, "PATCH", one, f.operator, `{"enabled":false}`, 200)
		if disabled["enabled"] != false || len(disabled["nextFires"].([]any)) != 0 {
			t.Fatalf("disabled: %v", disabled)
		}
		f.call(t, "DELETE", one, f.operator, "", 204)
		f.refused(t, "DELETE", one, f.operator, "", 404, models.NotFound)
	})
}
