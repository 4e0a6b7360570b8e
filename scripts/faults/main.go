// Command faults runs Baton's fault tests (issue 17): several real `baton
// serve` processes share one PostgreSQL database, runs of a chain of HTTP
// steps and a schedule firing every second keep them busy, and a fault is
// injected: kill -9 of an instance, a restart of PostgreSQL, SIGSTOP of an
// instance past its lease then SIGCONT, and the database refused (every
// connection dropped, new ones closed) for 10 s. After each, it checks:
// every run reached a final status and succeeded, no step left running, no
// idempotency key requested more than twice (an in-flight step is redone
// at most once, with the same key) and fewer keys repeated than steps were
// in flight, no schedule fire time started twice.
//
//	go run ./scripts/faults -short                 # CI: about a minute and a half
//	go run ./scripts/faults -load 30s -scenarios kill,stop
//
// It builds baton once, starts a private PostgreSQL cluster (initdb and
// pg_ctl from /usr/lib/postgresql/*/bin, on a free port, in a temporary
// directory; as root it runs them as the postgres user), puts a TCP proxy
// between the instances and the database, and serves the HTTP target the
// steps call. Everything it starts is stopped when it ends. Exit status 0
// when every scenario passed.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/baton-run/baton/handlers/auth"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

func main() {
	short := flag.Bool("short", false, "short version for CI (3s of load before and after each fault)")
	load := flag.Duration("load", 10*time.Second, "load before and after each fault")
	scenarios := flag.String("scenarios", "kill,stop,pgrestart,refuse", "scenarios to run, comma-separated")
	instances := flag.Int("instances", 3, "baton serve processes")
	workers := flag.Int("workers", 4, "clients starting runs at once")
	ttl := flag.Duration("lease-ttl", 3*time.Second, "--lease-ttl of the instances")
	flag.Parse()
	if *short {
		*load = 3 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	// A timeout or ^C still stops the instances and PostgreSQL.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	h := &harness{load: *load, instances: *instances, workers: *workers, ttl: *ttl}
	defer h.cleanup()
	if err := h.setup(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "faults: setup:", err)
		h.cleanup()
		os.Exit(2)
	}
	var results []string
	failed := false
	for _, name := range strings.Split(*scenarios, ",") {
		start := time.Now()
		if ctx.Err() != nil {
			failed = true
			results = append(results, "FAIL "+name+": interrupted")
			continue
		}
		rep, err := h.scenario(ctx, name)
		status := "PASS"
		if err != nil {
			status, failed = "FAIL", true
			rep += " — " + err.Error()
		}
		line := fmt.Sprintf("%-4s %-9s %5.1fs  %s", status, name, time.Since(start).Seconds(), rep)
		fmt.Println(line)
		results = append(results, line)
	}
	fmt.Println("\n== summary")
	for _, r := range results {
		fmt.Println(r)
	}
	if failed {
		h.cleanup()
		os.Exit(1)
	}
}

type harness struct {
	load      time.Duration
	instances int
	workers   int
	ttl       time.Duration

	dir      string
	bin      string
	pgBin    string
	pgData   string
	pgPort   int
	asUser   string // run PostgreSQL's tools as this user ("" for the current one)
	adminURL string
	secret   string

	target *target
	proxy  *proxy
	procs  []*instance
}

func (h *harness) cleanup() {
	for _, p := range h.procs {
		p.kill()
	}
	h.procs = nil
	if h.proxy != nil {
		h.proxy.close()
	}
	if h.pgData != "" {
		_ = h.pg("pg_ctl", "-D", h.pgData, "-m", "immediate", "-w", "stop").Run()
		h.pgData = ""
	}
	if h.dir != "" {
		_ = os.RemoveAll(h.dir)
		h.dir = ""
	}
}

func (h *harness) setup(ctx context.Context) error {
	var err error
	if h.dir, err = os.MkdirTemp("", "baton-faults-"); err != nil {
		return err
	}
	h.bin = filepath.Join(h.dir, "baton")
	fmt.Println("== building baton")
	build := exec.CommandContext(ctx, "go", "build", "-o", h.bin, "./cmd/baton")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	if err := h.startPostgres(ctx); err != nil {
		return err
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	h.secret = base64.StdEncoding.EncodeToString(key)
	h.target = newTarget()
	return nil
}

// pg runs one of PostgreSQL's tools, as the postgres user when root.
func (h *harness) pg(tool string, args ...string) *exec.Cmd {
	path := filepath.Join(h.pgBin, tool)
	if h.asUser != "" {
		return exec.Command("runuser", append([]string{"-u", h.asUser, "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

func (h *harness) startPostgres(ctx context.Context) error {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		return errors.New("no initdb under /usr/lib/postgresql/*/bin: install PostgreSQL")
	}
	sort.Strings(bins)
	h.pgBin = filepath.Dir(bins[len(bins)-1])
	if u, _ := user.Current(); u != nil && u.Uid == "0" {
		h.asUser = "postgres"
		if err := os.Chmod(h.dir, 0o777); err != nil {
			return err
		}
	}
	data := filepath.Join(h.dir, "pg")
	h.pgPort = freePort()
	if out, err := h.pg("initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8").CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	h.pgData = data
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", h.pgPort, data)
	if out, err := h.pg("pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(data, "log"), "-w", "start").CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl start: %w\n%s", err, out)
	}
	h.adminURL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", h.pgPort)
	fmt.Println("== private PostgreSQL on port", h.pgPort)
	return nil
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// ---- one scenario ----------------------------------------------------------

const chainDef = `id: faults-chain
name: faults chain
steps:
  - {id: a, type: command, action: {kind: http, url: "%[1]s/step/a"}}
  - {id: b, type: command, dependencies: [a], action: {kind: http, url: "%[1]s/step/b"}}
  - {id: c, type: command, dependencies: [b], action: {kind: http, url: "%[1]s/step/c"}}
`

func (h *harness) scenario(ctx context.Context, name string) (string, error) {
	fmt.Println("\n== scenario", name)
	for _, p := range h.procs {
		p.kill()
	}
	h.procs = nil
	if h.proxy != nil {
		h.proxy.close()
	}
	h.target.reset()
	dbName := "faults_" + name + "_" + hex.EncodeToString(randBytes(3))
	admin, err := sql.Open("pgx", h.adminURL)
	if err != nil {
		return "", err
	}
	defer func() { _ = admin.Close() }()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+dbName); err != nil {
		return "", err
	}
	direct := strings.Replace(h.adminURL, "/postgres?", "/"+dbName+"?", 1)
	if h.proxy, err = newProxy(fmt.Sprintf("127.0.0.1:%d", h.pgPort)); err != nil {
		return "", err
	}
	viaProxy := strings.Replace(direct, fmt.Sprintf(":%d/", h.pgPort), fmt.Sprintf(":%d/", h.proxy.port), 1)
	designer, approver, err := makeUsers(ctx, direct)
	if err != nil {
		return "", err
	}
	db, err := sql.Open("pgx", direct)
	if err != nil {
		return "", err
	}
	defer func() { _ = db.Close() }()

	// One instance sets up the template and the schedule; the others
	// start after, so every instance knows the schedule.
	for i := 0; i < h.instances; i++ {
		p, err := h.startInstance(ctx, i, viaProxy)
		if err != nil {
			return "", err
		}
		h.procs = append(h.procs, p)
		if i == 0 {
			c := &client{base: p.url, token: designer, http: &http.Client{Timeout: 10 * time.Second}}
			ap := &client{base: p.url, token: approver, http: c.http}
			if err := setupTemplate(ctx, c, ap, h.target.url); err != nil {
				return "", err
			}
		}
	}
	var clients []*client
	for _, p := range h.procs {
		clients = append(clients, &client{base: p.url, token: designer, http: &http.Client{Timeout: 5 * time.Second}})
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	var started, refused atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < h.workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; loadCtx.Err() == nil; i++ {
				c := clients[i%len(clients)]
				if err := c.call(loadCtx, "POST", "/api/v1/templates/faults-chain/runs", `{"inputs":{}}`, 201, nil); err != nil {
					refused.Add(1)
					time.Sleep(50 * time.Millisecond)
					continue
				}
				started.Add(1)
				time.Sleep(20 * time.Millisecond)
			}
		}(w)
	}
	sleep(ctx, h.load)
	inFlight := h.target.inFlight.Load()
	victim := h.procs[0]
	switch name {
	case "kill":
		fmt.Println("   kill -9 instance 0 with", inFlight, "requests in flight")
		victim.kill()
	case "stop":
		pause := h.ttl + 3*time.Second
		fmt.Println("   SIGSTOP instance 0 for", pause, "with", inFlight, "requests in flight")
		_ = victim.cmd.Process.Signal(syscall.SIGSTOP)
		sleep(ctx, pause)
		_ = victim.cmd.Process.Signal(syscall.SIGCONT)
	case "pgrestart":
		fmt.Println("   restarting PostgreSQL with", inFlight, "requests in flight")
		// -l: the new postmaster must not inherit our output (a pipe would
		// never close).
		if out, err := h.pg("pg_ctl", "-D", h.pgData, "-l", filepath.Join(h.pgData, "log"), "-m", "fast", "-w", "restart").CombinedOutput(); err != nil {
			stopLoad()
			wg.Wait()
			return "", fmt.Errorf("pg_ctl restart: %w\n%s", err, out)
		}
	case "refuse":
		fmt.Println("   refusing the database for 10s with", inFlight, "requests in flight")
		h.proxy.refuse(true)
		sleep(ctx, 10*time.Second)
		h.proxy.refuse(false)
	default:
		stopLoad()
		wg.Wait()
		return "", fmt.Errorf("unknown scenario %q", name)
	}
	sleep(ctx, h.load)
	stopLoad()
	wg.Wait()
	rep := fmt.Sprintf("runs started %d (refused starts %d), in flight at the fault %d", started.Load(), refused.Load(), inFlight)
	check, err := h.check(ctx, db, int(inFlight))
	return rep + "; " + check, err
}

func (h *harness) startInstance(ctx context.Context, i int, dbURL string) (*instance, error) {
	port := freePort()
	dir := filepath.Join(h.dir, fmt.Sprintf("data-%d-%d", i, port))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	logf, err := os.Create(dir + ".log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(h.bin, "serve", "--addr", fmt.Sprintf("127.0.0.1:%d", port),
		"--lease-ttl", h.ttl.String(), "--takeover-interval", "500ms", "--shutdown-timeout", "5s")
	cmd.Env = append(os.Environ(), "BATON_DATABASE_URL="+dbURL, "BATON_SECRETS_KEY="+h.secret,
		"BATON_ADMIN_PASSWORD=faults-admin-password", "BATON_DATA_DIR="+dir, "BATON_LOG_LEVEL=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &instance{cmd: cmd, url: fmt.Sprintf("http://127.0.0.1:%d", port), log: logf.Name()}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get(p.url + "/healthz"); err == nil {
			_ = res.Body.Close()
			if res.StatusCode == 200 {
				return p, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.kill()
	out, _ := os.ReadFile(p.log)
	return nil, fmt.Errorf("instance %d did not become healthy:\n%s", i, out)
}

// check waits for every run to end, then checks the invariants.
func (h *harness) check(ctx context.Context, db *sql.DB, inFlight int) (string, error) {
	deadline := time.Now().Add(30*time.Second + 3*h.ttl)
	var unfinished int
	for {
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE status NOT IN ('succeeded','failed','cancelled','timed_out','rolled_back')`).Scan(&unfinished); err != nil {
			return "", err
		}
		if unfinished == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var problems []string
	if unfinished > 0 {
		problems = append(problems, fmt.Sprintf("%d runs not finished", unfinished))
	}
	var total, notOK, running, doubled, scheduled int
	q := func(dst *int, query string) {
		if err := db.QueryRowContext(ctx, query).Scan(dst); err != nil {
			problems = append(problems, err.Error())
		}
	}
	q(&total, `SELECT count(*) FROM runs`)
	q(&notOK, `SELECT count(*) FROM runs WHERE status <> 'succeeded'`)
	q(&running, `SELECT count(*) FROM step_runs WHERE status = 'running'`)
	q(&scheduled, `SELECT count(*) FROM runs WHERE schedule_id IS NOT NULL`)
	q(&doubled, `SELECT count(*) FROM (SELECT schedule_id, schedule_fire_at FROM runs WHERE schedule_id IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1) d`)
	if notOK > 0 {
		var sample string
		_ = db.QueryRowContext(ctx, `SELECT id || ' ' || status || ' ' || coalesce(error::text, '') FROM runs WHERE status <> 'succeeded' LIMIT 1`).Scan(&sample)
		problems = append(problems, fmt.Sprintf("%d runs did not succeed (e.g. %s)", notOK, sample))
	}
	if running > 0 {
		var sample string
		_ = db.QueryRowContext(ctx, `SELECT s.run_id || ' step ' || s.step_id || ' attempt ' || s.attempt || ' generation ' || s.generation ||
			', run ' || r.status || ' owner ' || r.owner || ', attempts of the step: ' ||
			(SELECT string_agg(attempt || ':' || status, ',') FROM step_runs x WHERE x.run_id = s.run_id AND x.step_id = s.step_id)
			FROM step_runs s JOIN runs r ON r.id = s.run_id WHERE s.status = 'running' LIMIT 1`).Scan(&sample)
		problems = append(problems, fmt.Sprintf("%d step attempts left running (e.g. %s)", running, sample))
	}
	if doubled > 0 {
		problems = append(problems, fmt.Sprintf("%d schedule fire times started twice", doubled))
	}
	if scheduled == 0 {
		problems = append(problems, "the schedule never fired")
	}
	maxHits, repeated := h.target.keyStats()
	if maxHits > 2 {
		problems = append(problems, fmt.Sprintf("an idempotency key was requested %d times (at most twice expected)", maxHits))
	}
	// A step is redone only when it was in flight at the fault (on the
	// instance hit); allow every step in flight anywhere, plus those a
	// refused database cut off while suspended.
	if repeated > inFlight+h.workers*4 {
		problems = append(problems, fmt.Sprintf("%d keys requested twice but only %d steps were in flight", repeated, inFlight))
	}
	summary := fmt.Sprintf("runs %d all final, scheduled %d, keys repeated %d (max %d hits per key)", total, scheduled, repeated, maxHits)
	if len(problems) > 0 {
		return summary, errors.New(strings.Join(problems, "; "))
	}
	return summary, nil
}

func makeUsers(ctx context.Context, dbURL string) (designer, approver string, err error) {
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		return "", "", err
	}
	defer func() { _ = st.Close() }()
	mk := func(name string, roles ...models.Role) (string, error) {
		u := &models.User{Name: name, Roles: roles}
		if err := st.CreateUser(ctx, u); err != nil {
			return "", err
		}
		plain, hash, prefix, err := auth.NewToken()
		if err != nil {
			return "", err
		}
		return plain, st.CreateToken(ctx, &models.APIToken{UserID: u.ID, Name: "faults", Hash: hash, Prefix: prefix})
	}
	if designer, err = mk("faults", models.RoleDesigner, models.RoleOperator); err != nil {
		return "", "", err
	}
	approver, err = mk("faults-approver", models.RoleApprover)
	return designer, approver, err
}

func setupTemplate(ctx context.Context, c, ap *client, target string) error {
	if err := c.callType(ctx, "POST", "/api/v1/templates", "application/yaml", fmt.Sprintf(chainDef, target), 201, nil); err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	if err := c.call(ctx, "POST", "/api/v1/templates/faults-chain/versions/1/submit", "", 200, nil); err != nil {
		return fmt.Errorf("submit: %w", err)
	}
	if err := ap.call(ctx, "POST", "/api/v1/templates/faults-chain/versions/1/approve", `{"comment":"faults"}`, 200, nil); err != nil {
		return fmt.Errorf("approve: %w", err)
	}
	if err := c.call(ctx, "POST", "/api/v1/templates/faults-chain/schedules", `{"cron":"* * * * * *","inputs":{}}`, 201, nil); err != nil {
		return fmt.Errorf("schedule: %w", err)
	}
	return nil
}

// ---- processes, client ----------------------------------------------------

type instance struct {
	cmd  *exec.Cmd
	url  string
	log  string
	once sync.Once
}

func (p *instance) kill() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	})
}

type client struct {
	base, token string
	http        *http.Client
}

func (c *client) call(ctx context.Context, method, path, body string, want int, out any) error {
	return c.callType(ctx, method, path, "application/json", body, want, out)
}

func (c *client) callType(ctx context.Context, method, path, ctype, body string, want int, out any) error {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = res.Body.Close() }()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: HTTP %d: %.300s", method, path, res.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// ---- the HTTP target: records every Idempotency-Key ----------------------

type target struct {
	url      string
	mu       sync.Mutex
	keys     map[string]int
	inFlight atomic.Int64
}

func newTarget() *target {
	t := &target{keys: map[string]int{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	t.url = "http://" + l.Addr().String()
	go func() {
		_ = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t.inFlight.Add(1)
			defer t.inFlight.Add(-1)
			key := r.Header.Get("Idempotency-Key")
			t.mu.Lock()
			t.keys[r.URL.Path+" "+key]++
			t.mu.Unlock()
			select { // a step takes a while, so that faults catch some in flight
			case <-time.After(150 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"ok":true}`)
		}))
	}()
	return t
}

func (t *target) reset() {
	t.mu.Lock()
	t.keys = map[string]int{}
	t.mu.Unlock()
}

// keyStats returns the most requests of one key and how many keys were
// requested more than once.
func (t *target) keyStats() (max, repeated int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, n := range t.keys {
		if n > max {
			max = n
		}
		if n > 1 {
			repeated++
		}
	}
	return max, repeated
}

// ---- the TCP proxy in front of PostgreSQL --------------------------------

type proxy struct {
	port    int
	l       net.Listener
	mu      sync.Mutex
	conns   map[net.Conn]bool
	refused bool
}

func newProxy(upstream string) (*proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{port: l.Addr().(*net.TCPAddr).Port, l: l, conns: map[net.Conn]bool{}}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.refused {
				p.mu.Unlock()
				_ = c.Close()
				continue
			}
			p.mu.Unlock()
			go p.pipe(c, upstream)
		}
	}()
	return p, nil
}

func (p *proxy) pipe(c net.Conn, upstream string) {
	u, err := net.Dial("tcp", upstream)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[u] = true, true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(u, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, u); done <- struct{}{} }()
	<-done
	_ = c.Close()
	_ = u.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, u)
	p.mu.Unlock()
}

// refuse drops every connection and closes new ones at once (on), or lets
// them through again (off).
func (p *proxy) refuse(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refused = on
	if on {
		for c := range p.conns {
			_ = c.Close()
		}
	}
}

func (p *proxy) close() {
	_ = p.l.Close()
	p.refuse(true)
}
