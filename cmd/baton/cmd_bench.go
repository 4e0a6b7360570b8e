package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/baton-run/baton/bench"
	"github.com/baton-run/baton/handlers/auth"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

const benchSummary = `Measures Baton as a client meets it: workflow runs started through the HTTP API.

Without --url it starts a real server in this process, with serve's default
settings, on a new SQLite database in a temporary folder (or on --db), creates
a user and token for itself, and also runs W1 on the engine alone so the cost
of the API shows. With --url it measures that server, using --token (a user
with the designer and operator roles; the templates bench-chain10,
bench-waits20 and bench-branch are created on first use, and approved with
--approver-token, an approver other than the token's user). It only talks to
the URL given, and every workload is bounded by its run count and --timeout.

Workloads (--workloads, comma-separated; all by default):
  engine  W1's chain on the engine alone (in process only)
  W1      a 10-step chain of set steps, one client, POST …/runs?wait=5s, one after another
  W2      20 parallel branches that each wait 200 ms, one client, ?wait=
  W3      --at-once runs started at the same moment, one request each (?wait=), one token
  W4      a condition branch (value > 10: set High, else set Low, then a join), one client
  async   --async starts without ?wait= from --clients clients, then waits for them to finish
  reads   the reads of a user: runs list, runs list by template, one run, approvals inbox
          (--runs requests of each, one client)

--history N (in process) first fills the database with N finished runs, with
their steps and events, through bulk inserts (about 3 to 6 minutes per
1,000,000), spread over the bench templates and four others: the workloads
then meet a database that has been in use, as users do. Compare with a run
without it to see what history costs.

It prints one line per workload: runs, succeeded, p50/p95/p99 latency of a run
(request to finished run; for async, to the accepted start), runs per second
(runs over the workload's wall time) and, in process, the peak RSS of this
process (server and client together) during the workload.

--rate N (with --url) is the steady-rate workload instead: N starts per second
of W1's chain (each ?wait=30s, open loop) for --duration, round robin over the
servers of --url (comma-separated: several instances on one database), with
p50/p95/p99 per --interval and each server's resident memory (from its /metrics)
at the start and at the end; the templates must be approved (give
--approver-token the first time).

Examples:
  baton bench
  baton bench --url http://127.0.0.1:8081,http://127.0.0.1:8082 --token "$TOKEN" --rate 50 --duration 60s
  baton bench --db 'postgres://postgres@127.0.0.1:5432/bench?sslmode=disable' --json
  baton bench --history 1000000 --workloads engine,W1,W4,reads
  baton bench --url http://127.0.0.1:8080 --token "$TOKEN" --approver-token "$APPROVER" --workloads W1,W3`

// benchWorkloads are the workloads in the order they run.
var benchWorkloads = []string{"engine", "W1", "W2", "W3", "W4", "async", "reads"}

func cmdBench(ctx context.Context, e *env, args []string) error {
	s := newSettings("bench [flags]", benchSummary, e.getenv, e.stderr)
	target := s.add("url", "", "", "measure the server at this URL instead of one started in process")
	token := s.add("token", "BATON_BENCH_TOKEN", "", "with --url: an API token of a user with the designer and operator roles")
	approver := s.add("approver-token", "BATON_BENCH_APPROVER_TOKEN", "", "with --url: an approver's token, to approve the bench templates the first time")
	db := s.add("db", "", "", "in process: the database (sqlite:///abs/path.db or postgres://…); default a new SQLite file in a temporary folder")
	maxActive := s.add("max-active-runs", "", "", "in process: the server's --max-active-runs; default serve's default")
	history := s.add("history", "", "0", "in process: first fill the database with this many finished runs (bulk inserts), so the workloads meet a large history")
	only := s.add("workloads", "", strings.Join(benchWorkloads, ","), "which workloads to run, comma-separated")
	runs := s.add("runs", "", "200", "runs of W1, W4 and engine (each after 10 warm-up runs); W2 runs a tenth as many, at least 3")
	atOnce := s.add("at-once", "", "1000", "runs W3 starts at the same moment")
	async := s.add("async", "", "2000", "runs the async workload starts")
	clients := s.add("clients", "", "16", "clients of the async workload")
	timeout := s.add("timeout", "", "10m", "the longest the whole benchmark may take")
	rate := s.add("rate", "", "", "with --url: the steady-rate workload, this many starts per second (instead of --workloads)")
	duration := s.add("duration", "", "10m", "with --rate: how long to start runs")
	interval := s.add("interval", "", "1m", "with --rate: the latency is reported per interval of this length")
	asJSON := s.fs.Bool("json", false, "print JSON instead of a table")
	cpuProfile := s.add("cpuprofile", "", "", "in process: write a CPU profile of the HTTP workloads (server and client) to this file, for go tool pprof")
	rest, err := s.parse(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError("bench takes no arguments, got %q", rest[0])
	}
	var cfg benchConfig
	for _, w := range strings.Split(only.value, ",") {
		w = strings.TrimSpace(w)
		i := slices.IndexFunc(benchWorkloads, func(k string) bool { return strings.EqualFold(k, w) })
		if i < 0 {
			return usageError("--workloads: unknown workload %q (known: %s)", w, strings.Join(benchWorkloads, ", "))
		}
		cfg.workloads = append(cfg.workloads, benchWorkloads[i])
	}
	for _, n := range []struct {
		st  *setting
		dst *int
		max int
	}{{runs, &cfg.runs, 100_000}, {atOnce, &cfg.atOnce, 10_000}, {async, &cfg.async, 100_000}, {clients, &cfg.clients, 1_000}} {
		v, err := strconv.Atoi(n.st.value)
		if err != nil || v < 1 || v > n.max {
			return usageError("%s: %q is not a whole number from 1 to %d", n.st.name(), n.st.value, n.max)
		}
		*n.dst = v
	}
	if cfg.timeout, err = timeout.duration(); err != nil {
		return err
	}
	if cfg.timeout <= 0 {
		return usageError("--timeout: must be positive")
	}
	cfg.json = *asJSON
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()

	if rate.value != "" {
		return benchSteady(ctx, e, cfg, target.value, token.value, approver.value, rate.value, duration, interval)
	}
	var rep *bench.Report
	if cfg.history, err = strconv.Atoi(history.value); err != nil || cfg.history < 0 || cfg.history > 100_000_000 {
		return usageError("--history: %q is not a whole number from 0 to 100000000", history.value)
	}
	if target.value != "" {
		if db.value != "" || maxActive.value != "" || cpuProfile.value != "" || cfg.history > 0 {
			return usageError("--db, --max-active-runs, --history and --cpuprofile are for the in-process server; with --url, profile the server through its /debug/pprof/profile")
		}
		if token.value == "" {
			return usageError("--url needs --token (a user with the designer and operator roles)")
		}
		rep, err = benchRemote(ctx, cfg, target.value, token.value, approver.value)
	} else {
		if token.value != "" || approver.value != "" {
			return usageError("--token and --approver-token are for --url; in process bench makes its own users")
		}
		if maxActive.value != "" {
			if n, err := strconv.Atoi(maxActive.value); err != nil || n < 1 {
				return usageError("--max-active-runs: %q is not a positive whole number", maxActive.value)
			}
		}
		cfg.cpuProfile = cpuProfile.value
		rep, err = benchInProcess(ctx, e, cfg, db.value, maxActive.value)
	}
	if err != nil {
		return err
	}
	if cfg.json {
		return rep.WriteJSON(e.stdout)
	}
	return rep.WriteTable(e.stdout)
}

// benchSteady is the steady-rate workload against the servers of --url.
func benchSteady(ctx context.Context, e *env, cfg benchConfig, urls, token, approverToken, rateValue string, duration, interval *setting) error {
	r, err := strconv.ParseFloat(rateValue, 64)
	if err != nil || r <= 0 || r > 10_000 {
		return usageError("--rate: %q is not a number of starts per second from 1 to 10000", rateValue)
	}
	d, err := duration.duration()
	if err != nil {
		return err
	}
	every, err := interval.duration()
	if err != nil {
		return err
	}
	if d <= 0 || every <= 0 {
		return usageError("--duration and --interval must be positive")
	}
	if d > cfg.timeout {
		return usageError("--duration %s is longer than --timeout %s", d, cfg.timeout)
	}
	if urls == "" || token == "" {
		return usageError("--rate needs --url (one or more servers, comma-separated) and --token")
	}
	var clients []*bench.Client
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for _, u := range strings.Split(urls, ",") {
		c, err := bench.NewClient(strings.TrimSpace(u), token)
		if err != nil {
			return usageError("--url: %v", err)
		}
		clients = append(clients, c)
	}
	var ap *bench.Client
	if approverToken != "" {
		if ap, err = bench.NewClient(clients[0].Base(), approverToken); err != nil {
			return err
		}
		defer ap.Close()
	}
	if err := bench.Setup(ctx, clients[0], ap); err != nil {
		return err
	}
	rep := bench.Steady(ctx, clients, r, d, every)
	if cfg.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteTable(e.stdout)
}

type benchConfig struct {
	workloads                    []string
	runs, atOnce, async, clients int
	history                      int
	timeout                      time.Duration
	json                         bool
	cpuProfile                   string
}

func (c benchConfig) has(w string) bool { return slices.Contains(c.workloads, w) }

func benchRemote(ctx context.Context, cfg benchConfig, base, token, approverToken string) (*bench.Report, error) {
	if cfg.has("engine") && len(cfg.workloads) == 1 {
		return nil, usageError("the engine workload runs in process only; drop --url")
	}
	c, err := bench.NewClient(base, token)
	if err != nil {
		return nil, usageError("--url: %v", err)
	}
	defer c.Close()
	var ap *bench.Client
	if approverToken != "" {
		if ap, err = bench.NewClient(base, approverToken); err != nil {
			return nil, err
		}
		defer ap.Close()
	}
	rep := &bench.Report{Target: base, Started: time.Now()}
	if err := bench.Setup(ctx, c, ap); err != nil {
		return nil, err
	}
	rep.Results = runHTTPWorkloads(ctx, cfg, c, ap, nil)
	return rep, nil
}

// benchInProcess makes the bench users, measures the engine alone, then
// starts `baton serve` with its defaults on the same database and measures
// through HTTP on loopback.
func benchInProcess(ctx context.Context, e *env, cfg benchConfig, dbURL, maxActive string) (rep *bench.Report, err error) {
	if dbURL == "" {
		dir, err := os.MkdirTemp("", "baton-bench-")
		if err != nil {
			return nil, err
		}
		defer func() { _ = os.RemoveAll(dir) }() // a temporary folder: best effort
		dbURL = "sqlite://" + filepath.ToSlash(filepath.Join(dir, "bench.db"))
	}
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", redactURL(dbURL), err)
	}
	rep = &bench.Report{Target: "in process (" + st.Dialect() + ", serve's defaults", Started: time.Now()}
	if maxActive != "" {
		rep.Target += ", --max-active-runs " + maxActive
	}
	rep.Target += ")"
	designer, approver, err := benchUsers(ctx, st)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	if cfg.history > 0 {
		fmt.Fprintf(e.stderr, "filling the database with %d finished runs…\n", cfg.history)
		stats, err := st.FillHistory(ctx, store.HistoryOptions{
			Runs:      cfg.history,
			Templates: []string{bench.KeyChain, bench.KeyBranch, "history-1", "history-2", "history-3", "history-4"},
			Progress: func(done, total int) {
				if done%100_000 == 0 || done == total {
					fmt.Fprintf(e.stderr, "  %d of %d\n", done, total)
				}
			},
		})
		if err != nil {
			_ = st.Close()
			return nil, fmt.Errorf("fill history: %w", err)
		}
		rep.Target = strings.TrimSuffix(rep.Target, ")") + fmt.Sprintf(", %d runs of history)", stats.Runs)
		fmt.Fprintf(e.stderr, "filled in %s: %d runs, %d step attempts, %d events\n", stats.Elapsed.Round(time.Second), stats.Runs, stats.StepRuns, stats.Events)
	}
	if cfg.has("engine") {
		var peak bench.PeakRSS
		peak.Reset()
		r, err := bench.EngineChain(ctx, st, cfg.runs, 10)
		if err != nil {
			_ = st.Close()
			return nil, err
		}
		r.PeakRSSMB, _ = peak.MB()
		rep.Results = append(rep.Results, r)
	}
	if err := st.Close(); err != nil {
		return nil, err
	}

	// The server: serve's own settings code with no variables, so its
	// defaults are what a new user gets (whatever this shell exports).
	pw := make([]byte, 16)
	_, _ = rand.Read(pw)
	senv := &env{
		getenv: func(k string) string {
			if k == "BATON_ADMIN_PASSWORD" {
				return hex.EncodeToString(pw) // never printed: nobody signs in as admin
			}
			return ""
		},
		stdout: io.Discard, stderr: io.Discard, // the server's log is written as usual, then dropped
	}
	sargs := []string{"--addr", "127.0.0.1:0", "--db", dbURL}
	if maxActive != "" {
		sargs = append(sargs, "--max-active-runs", maxActive)
	}
	log, scfg, err := parseServe(senv, sargs)
	if err != nil {
		return nil, err
	}
	addr := make(chan net.Addr, 1)
	scfg.listening = func(a net.Addr) { addr <- a }
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	served := make(chan error, 1)
	go func() { served <- serve(sctx, log, scfg) }()
	defer func() {
		stop()
		err = errors.Join(err, <-served)
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a.String()
	case err := <-served:
		served <- nil
		return nil, fmt.Errorf("start the server: %w", err)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c, err := bench.NewClient(base, designer)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ap, err := bench.NewClient(base, approver)
	if err != nil {
		return nil, err
	}
	defer ap.Close()
	if err := bench.Setup(ctx, c, ap); err != nil {
		return nil, err
	}
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			_ = f.Close()
			return nil, err
		}
		defer func() {
			pprof.StopCPUProfile()
			err = errors.Join(err, f.Close())
		}()
	}
	rep.Results = append(rep.Results, runHTTPWorkloads(ctx, cfg, c, ap, &bench.PeakRSS{})...)
	return rep, nil
}

// benchUsers creates two users for this run, one designer and operator and
// one approver, and returns a token of each (no rate limit of their own,
// so the server's default applies).
func benchUsers(ctx context.Context, st *store.Store) (designer, approver string, err error) {
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	tag := hex.EncodeToString(suffix)
	mk := func(name string, roles ...models.Role) (string, error) {
		u := &models.User{Name: name + "-" + tag, Roles: roles}
		if err := st.CreateUser(ctx, u); err != nil {
			return "", fmt.Errorf("create user %s: %w", u.Name, err)
		}
		plain, hash, prefix, err := auth.NewToken()
		if err != nil {
			return "", err
		}
		if err := st.CreateToken(ctx, &models.APIToken{UserID: u.ID, Name: "baton bench", Hash: hash, Prefix: prefix}); err != nil {
			return "", fmt.Errorf("create a token for %s: %w", u.Name, err)
		}
		return plain, nil
	}
	if designer, err = mk("bench", models.RoleDesigner, models.RoleOperator); err != nil {
		return "", "", err
	}
	if approver, err = mk("bench-approver", models.RoleApprover); err != nil {
		return "", "", err
	}
	return designer, approver, nil
}

// runHTTPWorkloads runs the chosen HTTP workloads in order, reading the
// approvals inbox as approver (c when nil); peak, when not nil, measures
// each one's peak RSS (the server is in this process).
func runHTTPWorkloads(ctx context.Context, cfg benchConfig, c, approver *bench.Client, peak *bench.PeakRSS) []bench.Result {
	var out []bench.Result
	body := func(int) []byte { return []byte(`{}`) }
	for _, w := range cfg.workloads {
		if ctx.Err() != nil {
			break
		}
		if peak != nil {
			peak.Reset()
		}
		var r bench.Result
		switch w {
		case "engine":
			continue // in process, measured before the server started
		case "W1":
			r = c.Sequential(ctx, "W1", "10-step chain of set steps, one client, POST /api/v1/templates/"+bench.KeyChain+"/runs?wait=5s", bench.KeyChain, cfg.runs, 10, body)
		case "W2":
			r = c.Sequential(ctx, "W2", "20 parallel branches that each wait 200 ms, one client, ?wait=5s", bench.KeyWaits, max(cfg.runs/10, 3), 1, body)
		case "W3":
			r = c.AtOnce(ctx, "W3", fmt.Sprintf("%d runs of W1's chain started at the same moment, one request each (?wait=2m), one token", cfg.atOnce), bench.KeyChain, cfg.atOnce)
		case "W4":
			r = c.Sequential(ctx, "W4", "condition branch (value > 10: High, else Low; then a join), one client, ?wait=5s", bench.KeyBranch, cfg.runs, 10, func(i int) []byte {
				return []byte(`{"inputs":{"value":` + strconv.Itoa(i%2*50) + `}}`)
			})
		case "reads":
			rs := c.Reads(ctx, cfg.runs, 10, approver)
			for i := range rs {
				if peak != nil {
					rs[i].PeakRSSMB, _ = peak.MB()
				}
			}
			out = append(out, rs...)
			continue
		case "async":
			r = c.Async(ctx, "async", fmt.Sprintf("%d starts of W1's chain without ?wait= from %d clients (latency and runs/s of the starts; ok = finished succeeded)", cfg.async, cfg.clients), bench.KeyChain, cfg.async, cfg.clients)
		}
		if peak != nil {
			r.PeakRSSMB, _ = peak.MB()
		}
		out = append(out, r)
	}
	return out
}
