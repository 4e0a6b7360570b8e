package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/baton-run/baton/bench"
)

// baton bench in process, small and bounded, on each database: every
// workload reports its runs, all of them succeeded, and the table names
// the ratio to the engine.
func TestBenchInProcess(t *testing.T) {
	t.Parallel()
	for name, newURL := range databaseURLs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			args := []string{"bench", "--db", newURL(t), "--history", "500", "--runs", "3", "--at-once", "20", "--async", "20", "--clients", "4", "--timeout", "2m", "--json"}
			out, errOut, code := runBaton(t, nil, args...)
			if code != 0 {
				t.Fatalf("baton bench: exit %d\n%s\n%s", code, out, errOut)
			}
			var rep bench.Report
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("bench --json printed %v:\n%s", err, out)
			}
			want := map[string]int{"engine": 3, "W1": 3, "W2": 3, "W3": 20, "W4": 3, "async": 20,
				"list": 3, "list-template": 3, "run": 3, "approvals": 3}
			if len(rep.Results) != len(want) {
				t.Fatalf("results: %+v", rep.Results)
			}
			if !strings.Contains(rep.Target, "500 runs of history") {
				t.Errorf("target %q does not say the history was filled", rep.Target)
			}
			for _, r := range rep.Results {
				if r.Runs != want[r.Workload] || r.Succeeded != r.Runs || len(r.Errors) > 0 {
					t.Errorf("%s: %d runs, %d succeeded, errors %v; want %d, all succeeded", r.Workload, r.Runs, r.Succeeded, r.Errors, want[r.Workload])
				}
				if r.P50ms <= 0 || r.P99ms < r.P50ms || r.RunsPerS <= 0 {
					t.Errorf("%s: implausible figures %+v", r.Workload, r)
				}
			}
		})
	}
}

func TestBenchTable(t *testing.T) {
	t.Parallel()
	out, errOut, code := runBaton(t, nil, "bench", "--workloads", "engine,W1", "--runs", "2")
	if code != 0 {
		t.Fatalf("baton bench: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, s := range []string{"p50 ms", "runs/s", "peak RSS MB", "engine", "W1", "W1 through the API / the engine alone (p50):"} {
		if !strings.Contains(out, s) {
			t.Errorf("the table lacks %q:\n%s", s, out)
		}
	}
}

func TestBenchUsage(t *testing.T) {
	t.Parallel()
	out, errOut, code := runBaton(t, nil, "bench", "--help")
	if code != 0 || !strings.Contains(errOut+out, "W3") || !strings.Contains(errOut+out, "--url") {
		t.Errorf("bench --help: exit %d\n%s%s", code, out, errOut)
	}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"bench", "--url", "http://127.0.0.1:1"}, "--token"},
		{[]string{"bench", "--url", "http://127.0.0.1:1", "--token", "x", "--db", "sqlite://x.db"}, "--db"},
		{[]string{"bench", "--token", "x"}, "--url"},
		{[]string{"bench", "--workloads", "W9"}, "unknown workload"},
		{[]string{"bench", "--runs", "0"}, "--runs"},
		{[]string{"bench", "--at-once", "100000"}, "--at-once"},
		{[]string{"bench", "--url", "ftp://x", "--token", "x"}, "not a server URL"},
		{[]string{"bench", "--history", "-1"}, "--history"},
		{[]string{"bench", "--url", "http://127.0.0.1:1", "--token", "x", "--history", "10"}, "--history"},
	} {
		if _, errOut, code := runBaton(t, nil, c.args...); code != 2 || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", c.args, code, errOut, c.msg)
		}
	}
}
