package bench_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/baton-run/baton/bench"
)

// fakeServer answers run starts as finished runs and /metrics with an RSS
// that grows by 1 MiB at each read; it counts the starts.
func fakeServer(t *testing.T, starts *atomic.Int64) string {
	var reads atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/runs") && r.URL.Query().Get("wait") != "":
			starts.Add(1)
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"id":"r","status":"succeeded"}`)
		case r.URL.Path == "/metrics":
			fmt.Fprintf(w, "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %d\n", (10+reads.Add(1))<<20)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// The steady workload starts runs at the rate asked, round robin over the
// servers, reports each interval and the servers' memory before and after.
func TestSteady(t *testing.T) {
	var a, b atomic.Int64
	var clients []*bench.Client
	for _, u := range []string{fakeServer(t, &a), fakeServer(t, &b)} {
		c, err := bench.NewClient(u, "bt_test")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	rep := bench.Steady(t.Context(), clients, 100, time.Second, 500*time.Millisecond)
	if rep.Total.Runs != 100 || rep.Total.Succeeded != 100 || len(rep.Errors) > 0 {
		t.Fatalf("total %+v, errors %v; want 100 runs, all succeeded", rep.Total, rep.Errors)
	}
	if a.Load() != 50 || b.Load() != 50 {
		t.Errorf("starts per server %d and %d; want 50 each", a.Load(), b.Load())
	}
	if len(rep.Interval) != 2 || rep.Interval[0].Runs != 50 || rep.Interval[1].Runs != 50 {
		t.Errorf("intervals %+v; want two of 50 runs", rep.Interval)
	}
	for _, m := range rep.RSS {
		if m.StartMB != 11 || m.EndMB != 12 {
			t.Errorf("RSS of %s: %v → %v MiB; want 11 → 12", m.Server, m.StartMB, m.EndMB)
		}
	}
	var out strings.Builder
	if err := rep.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"0:00–0:01", "total", "p99 ms", "11.0 MiB at the start, 12.0 MiB at the end"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("the table lacks %q:\n%s", s, out.String())
		}
	}
}
