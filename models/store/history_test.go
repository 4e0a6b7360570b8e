package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/baton-run/baton/models/store/storetest"
)

func TestFillHistory(t *testing.T) {
	t.Parallel()
	for _, db := range storetest.Databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			t.Parallel()
			st := db.Open(t)
			ctx := context.Background()
			var progress []int
			stats, err := st.FillHistory(ctx, store.HistoryOptions{Runs: 2500, Steps: 2, Chunk: 1000,
				Templates: []string{"a", "b"}, Seed: 7, Progress: func(done, total int) {
					if total != 2500 {
						t.Errorf("progress total %d", total)
					}
					progress = append(progress, done)
				}})
			ok(t, err, "fill")
			if stats.Runs != 2500 || stats.StepRuns != 5000 || stats.Events != 2500*7 {
				t.Fatalf("stats %+v", stats)
			}
			if fmt.Sprint(progress) != "[1000 2000 2500]" {
				t.Fatalf("progress %v", progress)
			}
			runs, err := st.ListRuns(ctx, models.RunFilter{Template: "a", Limit: 500})
			ok(t, err, "list")
			if len(runs) != 500 || !runs[0].Status.Final() || runs[0].ID <= runs[1].ID || runs[0].FinishedAt == nil {
				t.Fatalf("listed %d runs, first %+v", len(runs), runs[0])
			}
			snap, err := st.LoadRun(ctx, runs[0].ID)
			ok(t, err, "load")
			if len(snap.StepRuns) != 2 || snap.Run.Seq != 7 || len(snap.Run.Definition) == 0 {
				t.Fatalf("snapshot %+v", snap)
			}
			evs, err := st.RunEvents(ctx, runs[0].ID, 0, 0)
			ok(t, err, "events")
			if len(evs) != 7 || evs[0].Type != models.EventRunQueued || !strings.HasPrefix(evs[6].Type, "run.") {
				t.Fatalf("events %+v", evs)
			}
			// Every run is finished: no counter moved.
			counters, counted, err := st.ActiveRunCounts(ctx)
			ok(t, err, "counts")
			if len(counters) != 0 || len(counted) != 0 {
				t.Fatalf("counters %v, counted %v", counters, counted)
			}
		})
	}
}

// bigTable is the size from which a sequential scan fails the test.
const bigTable = 100_000

// Every hot read is served by an index on both databases: with 100,000
// runs (and their steps and events) stored, EXPLAIN of exactly the SQL the
// store sends (captured from GORM) shows no sequential scan of a table of
// 100,000 rows or more.
func TestHotQueriesUseIndexes(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 100,000 runs")
	}
	t.Parallel()
	for _, db := range storetest.Databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			t.Parallel()
			st := db.Open(t)
			ctx := context.Background()
			// Templates with versions in review and approved, for the
			// inbox and the templates list.
			for i := range 20 {
				key := fmt.Sprintf("history-%d", i+1)
				_, _, err := st.CreateTemplate(ctx, storetest.Def(key, "History"), "dana")
				ok(t, err, "template")
				if i%2 == 0 {
					_, err = st.SubmitVersion(ctx, key, 1, "dana")
					ok(t, err, "submit")
				}
			}
			start := time.Now()
			stats, err := st.FillHistory(ctx, store.HistoryOptions{Runs: bigTable, Steps: 1, Seed: 1,
				Templates: []string{"history-1", "history-2", "history-3", "history-4"}})
			ok(t, err, "fill")
			t.Logf("filled %+v in %s", stats, time.Since(start).Round(time.Millisecond))
			// A few runs with a parent and a schedule, as the filters need.
			some, err := st.ListRuns(ctx, models.RunFilter{Template: "history-2", Limit: 3})
			ok(t, err, "list")
			take := store.CaptureSQL(st)
			queries := map[string]func() error{
				"runs list": func() error { _, err := st.ListRuns(ctx, models.RunFilter{}); return err },
				"runs list, next page": func() error {
					_, err := st.ListRuns(ctx, models.RunFilter{Before: some[2].ID})
					return err
				},
				"runs by template": func() error {
					_, err := st.ListRuns(ctx, models.RunFilter{Template: "history-3", Before: some[1].ID})
					return err
				},
				"runs by status": func() error {
					_, err := st.ListRuns(ctx, models.RunFilter{Statuses: []models.RunStatus{models.RunFailed}})
					return err
				},
				"active runs of a template": func() error {
					_, err := st.ListRuns(ctx, models.RunFilter{Template: "history-1", Statuses: []models.RunStatus{models.RunQueued, models.RunRunning, models.RunWaiting}})
					return err
				},
				"runs by schedule": func() error { _, err := st.ListRuns(ctx, models.RunFilter{ScheduleID: 3}); return err },
				"children of a run": func() error {
					_, err := st.ListRuns(ctx, models.RunFilter{ParentRunID: some[0].ID})
					return err
				},
				"run page": func() error { _, err := st.LoadRun(ctx, some[1].ID); return err },
				"evidence runs": func() error {
					_, err := st.RecentProductionRuns(ctx, "history-2", 50)
					return err
				},
				"evidence staleness probe": func() error {
					_, _, err := st.LatestProductionRun(ctx, "history-2")
					return err
				},
				"event replay":             func() error { _, err := st.RunEvents(ctx, some[1].ID, 2, 100); return err },
				"unfinished":               func() error { _, err := st.UnfinishedRunIDs(ctx); return err },
				"self-check of owned runs": func() error { _, err := st.OwnedRunIDs(ctx, "instance-1"); return err },
				"inbox":                    func() error { _, err := st.ApprovalInbox(ctx, "ann"); return err },
				"templates":                func() error { _, err := st.ListTemplates(ctx, models.TemplateFilter{}); return err },
				"template page":            func() error { _, err := st.Template(ctx, "history-3"); return err },
			}
			sizes := tableSizes(t, st)
			for name, q := range queries {
				ok(t, q(), name)
				stmts := take()
				if len(stmts) == 0 {
					t.Fatalf("%s: no statement captured", name)
				}
				for _, c := range stmts {
					plan := explain(t, st, c)
					t.Logf("%s: %s\n    %s", name, oneLine(c.SQL), strings.Join(plan.lines, "\n    "))
					for _, tbl := range plan.seqScans {
						if sizes[tbl] >= bigTable {
							t.Errorf("%s: a sequential scan of %s (%d rows):\n%s\n%s", name, tbl, sizes[tbl], c.SQL, strings.Join(plan.lines, "\n"))
						}
					}
				}
			}
		})
	}
}

func tableSizes(t *testing.T, st *store.Store) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, tbl := range []string{"runs", "step_runs", "run_events", "run_timers", "run_signals", "templates", "template_versions", "version_approvals", "version_editors"} {
		var n int
		if err := store.SQLDB(st).QueryRow("SELECT COUNT(*) FROM " + tbl).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[tbl] = n
	}
	return out
}

type queryPlan struct {
	lines    []string
	seqScans []string // tables read by a sequential scan
}

// sqliteScan matches a full scan of a table: of the table itself ("SCAN
// runs") or of one of its indexes ("SCAN runs USING INDEX …"). The latter is
// an ordered walk, fine for a first page with no filter (it stops at the
// LIMIT), a full scan when a WHERE clause filters the rows.
var sqliteScan = regexp.MustCompile(`^SCAN (\w+)(?: AS \w+)?( USING .*)?$`)

func explain(t *testing.T, st *store.Store, c store.Captured) queryPlan {
	t.Helper()
	var p queryPlan
	if store.IsPostgres(st) {
		var raw string
		if err := store.SQLDB(st).QueryRow("EXPLAIN (FORMAT JSON) "+c.SQL, c.Vars...).Scan(&raw); err != nil {
			t.Fatalf("explain %s: %v", c.SQL, err)
		}
		var doc []struct {
			Plan pgNode `json:"Plan"`
		}
		if err := json.Unmarshal([]byte(raw), &doc); err != nil {
			t.Fatal(err)
		}
		var walk func(n pgNode, depth int)
		walk = func(n pgNode, depth int) {
			line := strings.Repeat("  ", depth) + n.NodeType
			if n.Relation != "" {
				line += " on " + n.Relation
			}
			if n.Index != "" {
				line += " using " + n.Index
			}
			p.lines = append(p.lines, line)
			if n.NodeType == "Seq Scan" {
				p.seqScans = append(p.seqScans, n.Relation)
			}
			for _, k := range n.Plans {
				walk(k, depth+1)
			}
		}
		walk(doc[0].Plan, 0)
		return p
	}
	rows, err := store.SQLDB(st).Query("EXPLAIN QUERY PLAN "+c.SQL, c.Vars...)
	if err != nil {
		t.Fatalf("explain %s: %v", c.SQL, err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		p.lines = append(p.lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	_ = rows.Close() // the writer connection is the only one: free it for partialIndex
	for _, detail := range p.lines {
		if m := sqliteScan.FindStringSubmatch(detail); m != nil && (m[2] == "" || strings.Contains(c.SQL, " WHERE ")) && !partialIndex(t, st, m[2]) {
			p.seqScans = append(p.seqScans, m[1])
		}
	}
	return p
}

// partialIndex reports whether a SQLite plan's "USING … INDEX name" names a
// partial index: scanning one reads only the rows it holds (runs_unfinished
// holds the unfinished runs only).
func partialIndex(t *testing.T, st *store.Store, using string) bool {
	t.Helper()
	f := strings.Fields(using)
	if len(f) == 0 {
		return false
	}
	var n int
	err := store.SQLDB(st).QueryRow("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ? AND sql LIKE '% WHERE %'", f[len(f)-1]).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n == 1
}

type pgNode struct {
	NodeType string   `json:"Node Type"`
	Relation string   `json:"Relation Name"`
	Index    string   `json:"Index Name"`
	Plans    []pgNode `json:"Plans"`
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// ok fails the test when err is set, naming what failed.
func ok(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
