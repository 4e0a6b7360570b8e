package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/baton-run/baton/docs/examples"
	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/engine/actions"
	"github.com/baton-run/baton/engine/agent"
	"github.com/baton-run/baton/engine/alert"
	"github.com/baton-run/baton/engine/evidence"
	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/engine/schedule"
	"github.com/baton-run/baton/handlers"
	"github.com/baton-run/baton/handlers/auth"
	"github.com/baton-run/baton/migrations"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// serveConfig is every setting of `baton serve`, resolved and checked.
type serveConfig struct {
	addr              string
	dbURL             string
	adminPassword     string
	bodyLimit         int
	requestTimeout    time.Duration
	shutdownTimeout   time.Duration
	secureCookies     bool
	maxActiveRuns     int
	webhookLimit      int
	rateLimit         float64
	trustedProxies    []netip.Prefix
	catchUpWindow     time.Duration
	catchUpLimit      int
	retention         time.Duration // 0 keeps every run (templates may still set their own)
	housekeepingEvery time.Duration
	// listening, when set, is told the address once the server accepts
	// connections (baton bench's in-process server listens on port 0).
	listening      func(addr net.Addr)
	secretsKey     string
	legacyHookSigs bool
	dataDir        string
	httpAllow      []actions.EgressRule
	httpDeny       []actions.EgressRule
	smtpURL        string
	smtpFrom       string
	publicURL      string
	// leaseTTL and takeoverEvery tune run ownership between instances
	// on one PostgreSQL database (engine.LeaseConfig).
	leaseTTL      time.Duration
	takeoverEvery time.Duration
}

func cmdServe(ctx context.Context, e *env, args []string) error {
	log, cfg, err := parseServe(e, args)
	if err != nil {
		return err
	}
	return serve(ctx, log, cfg)
}

// parseServe resolves serve's flags, variables and defaults.
func parseServe(e *env, args []string) (*slog.Logger, serveConfig, error) {
	s := newSettings("serve [flags]", "Runs the web app, the JSON API and the workflow engine in one process.", e.getenv, e.stderr)
	e.declared = s
	addr := s.add("addr", "BATON_ADDR", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)")
	dbs := addDBSettings(s)
	logFormat := s.add("log-format", "BATON_LOG_FORMAT", "text", "log format: text or json")
	logLevel := s.add("log-level", "BATON_LOG_LEVEL", "info", "log level: debug, info, warn or error")
	bodyLimit := s.add("body-limit", "BATON_BODY_LIMIT", "1MiB", "largest request body accepted")
	reqTimeout := s.add("request-timeout", "BATON_REQUEST_TIMEOUT", "30s", "longest time one request may take")
	shutTimeout := s.add("shutdown-timeout", "BATON_SHUTDOWN_TIMEOUT", "30s", "how long a shutdown waits for requests in flight")
	secure := s.add("secure-cookies", "BATON_SECURE_COOKIES", "false", "mark cookies Secure (set when served over HTTPS)")
	maxActive := s.add("max-active-runs", "BATON_MAX_ACTIVE_RUNS", strconv.Itoa(engine.DefaultMaxActiveRuns), "most unfinished runs one template may have (child and test runs included); a start over it gets 429 with Retry-After")
	retention := s.add("retention", "BATON_RETENTION", "keep", "delete finished runs older than this (90d, 12h, 2w) at each housekeeping round, in small batches; keep: never (a template's own retention still applies)")
	housekeepingEvery := s.add("housekeeping-interval", "BATON_HOUSEKEEPING_INTERVAL", DefaultHousekeepingInterval.String(), "how often expired sessions, old login failures, schedule-fire claims, webhook delivery ids and runs past their retention are removed (first round within a minute of start; once per cluster)")
	hookLimit := s.add("webhook-body-limit", "BATON_WEBHOOK_BODY_LIMIT", "256KiB", "largest webhook body accepted")
	rateLimit := s.add("rate-limit", "BATON_RATE_LIMIT", "0", "API requests per second on average (bursts of five times as many) for each token that sets no limit of its own (baton token create --rate-limit); 0: no limit")
	proxies := s.add("trusted-proxies", "BATON_TRUSTED_PROXIES", "", "reverse proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-For names the client; empty trusts none")
	catchUpWindow := s.add("catch-up-window", "BATON_CATCH_UP_WINDOW", schedule.DefaultCatchUpWindow.String(), "how far back a schedule with catchUp latest or all catches up fire times missed while no instance ran")
	catchUpLimit := s.add("catch-up-limit", "BATON_CATCH_UP_LIMIT", strconv.Itoa(schedule.DefaultCatchUpLimit), "most missed fire times one schedule with catchUp all fires when an instance starts (the most recent ones)")
	secretsKey := s.add("secrets-key", "BATON_SECRETS_KEY", "", "key that seals secrets at rest: base64 of 32 bytes; empty uses (and on first start creates) secrets.key in the data directory. Instances sharing a PostgreSQL database must share it")
	legacySigs := s.add("webhook-legacy-signatures", "BATON_WEBHOOK_LEGACY_SIGNATURES", "false", "also accept webhook calls signed over the body only (sha256=), which can be replayed under a new delivery id; only while senders migrate to v1= signatures")
	httpAllow := s.add("http-allow", "BATON_HTTP_ALLOW", "", "destinations the http action may reach despite the built-in blocks and --http-deny (CIDRs, IPs and host patterns such as *.internal, comma-separated); 127.0.0.0/8,::1 opens loopback")
	httpDeny := s.add("http-deny", "BATON_HTTP_DENY", "", "destinations the http action may not reach (CIDRs, IPs and host patterns, comma-separated); * makes --http-allow the only destinations")
	smtpURL := s.add("smtp-url", "BATON_SMTP_URL", "", "SMTP server for email alert channels and approver notices: smtp://user:password@host:587 (STARTTLS when offered; ?tls=required or ?tls=none) or smtps://…:465; empty: no email")
	smtpFrom := s.add("smtp-from", "BATON_SMTP_FROM", "", "sender address of Baton's email (required with --smtp-url)")
	publicURL := s.add("public-url", "BATON_PUBLIC_URL", "", "the address people open Baton at, for links in alert messages (e.g. https://baton.example.com); default http:// and the listen address")
	leaseTTL := s.add("lease-ttl", "BATON_LEASE_TTL", "10s", "PostgreSQL: how long this instance's lease on its runs lasts without renewal (renewed every third of it); after a crash, survivors take its runs over within about this long")
	takeoverEvery := s.add("takeover-interval", "BATON_TAKEOVER_INTERVAL", "2s", "PostgreSQL: how often this instance looks for runs of instances whose lease expired (or that stopped) to take over")
	rest, err := s.parse(args)
	if err != nil {
		return nil, serveConfig{}, err
	}
	if len(rest) > 0 {
		return nil, serveConfig{}, usageError("serve takes no arguments, got %q", rest[0])
	}
	log, err := newLogger(e.stderr, logFormat, logLevel)
	if err != nil {
		return nil, serveConfig{}, err
	}
	cfg := serveConfig{addr: addr.value, adminPassword: e.getenv("BATON_ADMIN_PASSWORD"),
		secretsKey: secretsKey.value, dataDir: dbs.dataDir.value}
	if cfg.dbURL, err = dbs.url(); err != nil {
		return nil, cfg, err
	}
	if cfg.bodyLimit, err = bodyLimit.bytes(); err != nil {
		return nil, cfg, err
	}
	if cfg.requestTimeout, err = reqTimeout.duration(); err != nil {
		return nil, cfg, err
	}
	if cfg.shutdownTimeout, err = shutTimeout.duration(); err != nil {
		return nil, cfg, err
	}
	if cfg.secureCookies, err = secure.boolean(); err != nil {
		return nil, cfg, err
	}
	if cfg.legacyHookSigs, err = legacySigs.boolean(); err != nil {
		return nil, cfg, err
	}
	if cfg.maxActiveRuns, err = strconv.Atoi(maxActive.value); err != nil || cfg.maxActiveRuns < 1 {
		return nil, cfg, usageError("%s: %q is not a positive whole number", maxActive.name(), maxActive.value)
	}
	if cfg.retention, err = models.ParseRetention(retention.value); err != nil {
		return nil, cfg, usageError("%s: %v", retention.name(), err)
	}
	if cfg.housekeepingEvery, err = housekeepingEvery.duration(); err != nil {
		return nil, cfg, err
	}
	if cfg.housekeepingEvery < time.Second {
		return nil, cfg, usageError("%s: %q: use a duration of at least 1s, such as 1h", housekeepingEvery.name(), housekeepingEvery.value)
	}
	if cfg.catchUpWindow, err = catchUpWindow.duration(); err != nil {
		return nil, cfg, err
	}
	if cfg.catchUpWindow == 0 {
		return nil, cfg, usageError("%s: %q: use a duration such as 168h; a schedule that should not catch up has catchUp none", catchUpWindow.name(), catchUpWindow.value)
	}
	if cfg.catchUpLimit, err = strconv.Atoi(catchUpLimit.value); err != nil || cfg.catchUpLimit < 1 {
		return nil, cfg, usageError("%s: %q is not a positive whole number", catchUpLimit.name(), catchUpLimit.value)
	}
	if cfg.webhookLimit, err = hookLimit.bytes(); err != nil {
		return nil, cfg, err
	}
	if cfg.rateLimit, err = strconv.ParseFloat(rateLimit.value, 64); err != nil || cfg.rateLimit < 0 {
		return nil, cfg, usageError("%s: %q is not a number of requests per second", rateLimit.name(), rateLimit.value)
	}
	if cfg.trustedProxies, err = handlers.ParseTrustedProxies(proxies.value); err != nil {
		return nil, cfg, usageError("%s: %v", proxies.name(), err)
	}
	if cfg.httpAllow, err = actions.ParseEgressRules(httpAllow.value); err != nil {
		return nil, cfg, usageError("%s: %v", httpAllow.name(), err)
	}
	if cfg.httpDeny, err = actions.ParseEgressRules(httpDeny.value); err != nil {
		return nil, cfg, usageError("%s: %v", httpDeny.name(), err)
	}
	if _, _, err := net.SplitHostPort(cfg.addr); err != nil {
		return nil, cfg, usageError("%s: %q is not host:port", addr.name(), cfg.addr)
	}
	if cfg.leaseTTL, err = leaseTTL.duration(); err != nil {
		return nil, cfg, err
	}
	if cfg.leaseTTL < time.Second {
		return nil, cfg, usageError("%s: %q: use a duration of at least 1s, such as 10s", leaseTTL.name(), leaseTTL.value)
	}
	if cfg.takeoverEvery, err = takeoverEvery.duration(); err != nil {
		return nil, cfg, err
	}
	if cfg.takeoverEvery < 100*time.Millisecond {
		return nil, cfg, usageError("%s: %q: use a duration of at least 100ms, such as 2s", takeoverEvery.name(), takeoverEvery.value)
	}
	cfg.smtpURL, cfg.smtpFrom, cfg.publicURL = smtpURL.value, smtpFrom.value, strings.TrimRight(publicURL.value, "/")
	if _, err := alert.ParseSMTP(cfg.smtpURL, cfg.smtpFrom); err != nil {
		return nil, cfg, usageError("%s: %v", smtpURL.name(), err)
	}
	return log, cfg, nil
}

// serve wires the store, the engine and the web app, and blocks until ctx
// ends; then it stops accepting requests, lets those in flight finish, stops
// the engine and closes the database.
func serve(ctx context.Context, log *slog.Logger, cfg serveConfig) (err error) {
	st, err := store.Open(ctx, cfg.dbURL)
	if err != nil {
		return fmt.Errorf("open database %s: %w", redactURL(cfg.dbURL), err)
	}
	defer closeStore(st, &err)
	log.Info("database ready", "dialect", st.Dialect(), "url", redactURL(cfg.dbURL))
	// SQLite serves one instance (its engine owns every run); PostgreSQL
	// is shared by instances through leases on their runs.
	var lease *engine.LeaseConfig
	if st.Dialect() == migrations.Postgres {
		host, _ := os.Hostname()
		lease = &engine.LeaseConfig{Store: st, TTL: cfg.leaseTTL, TakeoverInterval: cfg.takeoverEvery, Host: host, PID: os.Getpid()}
	} else {
		unlock, err := migrations.LockServe(ctx, st.SQLDB())
		if err != nil {
			return err
		}
		defer func() { _ = unlock() }()
	}

	if err := ensureAdmin(ctx, log, st, cfg.adminPassword); err != nil {
		return err
	}
	key, created, err := loadSecretsKey(cfg.secretsKey, cfg.dataDir)
	if err != nil {
		return err
	}
	if created {
		log.Warn("created a secrets key file; back it up with the database, and give every instance on one database the same key (--secrets-key)",
			"file", filepath.Join(cfg.dataDir, secretsKeyFile))
	}
	if err := st.UseSecretsKey(key); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewDBStatsCollector(st.SQLDB(), "baton"),
		buildInfoGauge(),
	)

	// The engine reads template versions (subworkflows) from the store and
	// compiles everything with its one Compiler; the launcher starts runs on
	// it, and the HTTP layer checks definitions with the same compiler.
	// Runs may not reach cloud metadata, link-local addresses nor the
	// server itself unless --http-allow opens them; the listen address is
	// known exactly once listening (port 0), and roughly before. Loopback
	// stays open (services beside Baton on one machine are a common
	// setup); --http-deny 127.0.0.0/8,::1 closes it.
	egress := &actions.EgressPolicy{Allow: cfg.httpAllow, Deny: cfg.httpDeny}
	egress.SetSelf(cfg.addr)
	// The device hub routes device steps to connected agents; it starts
	// before the engine so that runs resumed on start can dispatch.
	hubCtx, stopHub := context.WithCancel(context.Background())
	defer stopHub()
	hub := agent.New(st, agent.Config{Logger: log, Metrics: reg})
	if err := hub.Start(hubCtx); err != nil {
		return fmt.Errorf("start device hub: %w", err)
	}
	defer hub.Close()
	// Instances sharing a PostgreSQL database tell each other of cancels,
	// signals, run events and schedule changes (docs/architecture.md).
	bus, err := joinCluster(ctx, st, cfg.dbURL, log)
	if err != nil {
		return err
	}
	defer func() { _ = bus.Close() }()
	acts := append(actions.BuiltinsWith(log, actions.HTTPConfig{Egress: egress}), actions.Device{Dispatcher: hub})
	eng := engine.New(st, engine.NewRegistry(acts...), engine.Config{
		Logger:   log,
		Compiler: plan.Compiler{},
		Versions: st,
		Secrets:  st,
		Metrics:  engine.NewMetrics(reg),
		Cluster:  bus,
		Lease:    lease,
	})
	launcher := engine.NewLauncher(eng, engine.LauncherConfig{MaxActiveRuns: cfg.maxActiveRuns})
	if err := eng.Start(ctx); err != nil {
		return fmt.Errorf("start engine: %w", err)
	}
	stopEngine := func() {
		sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
		defer cancel()
		if err := eng.Stop(sctx); err != nil {
			log.Warn("actions still running at shutdown were cut off; their steps run again on the next start", "err", err)
		}
	}
	sched, err := schedule.New(st, launcher, schedule.Config{Logger: log, CatchUpWindow: cfg.catchUpWindow, CatchUpLimit: cfg.catchUpLimit, Cluster: bus})
	if err != nil {
		stopEngine()
		return err
	}
	if err := sched.Start(ctx); err != nil {
		_ = sched.Stop()
		stopEngine()
		return fmt.Errorf("start scheduler: %w", err)
	}

	keeper, err := newHousekeeper(st, log, reg, cfg.retention, cfg.housekeepingEvery)
	if err != nil {
		_ = sched.Stop()
		stopEngine()
		return err
	}
	keeper.start()
	defer func() {
		if err := keeper.stop(); err != nil {
			log.Warn("stop housekeeping", "err", err)
		}
	}()
	rollupDone := make(chan struct{})
	rollupCtx, stopRollup := context.WithCancel(ctx)
	defer func() { stopRollup(); <-rollupDone }()
	go func() {
		defer close(rollupDone)
		rollUp(rollupCtx, log, st, rollupEvery)
	}()

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		_ = sched.Stop()
		stopEngine()
		return fmt.Errorf("listen on %s (--addr / BATON_ADDR): %w", cfg.addr, err)
	}
	egress.SetSelf(ln.Addr().String())
	baseCtx, cancelRequests := context.WithCancel(context.Background())
	defer cancelRequests()

	// Alerts follow the engine's events and the clock; webhook and Slack
	// channels obey the same egress policy as the http action.
	email, _ := alert.ParseSMTP(cfg.smtpURL, cfg.smtpFrom) // checked by parseServe
	if email != nil {
		email.Dial = egress.DialContext
	}
	alertClient := alert.NewHTTPClient(egress.DialContext)
	alerts := alert.New(alert.Config{Store: st, Log: log, Email: email,
		BaseURL: cmp.Or(cfg.publicURL, "http://"+ln.Addr().String()),
		Healthy: eng.Healthy,
		Backlog: func() int { a, _ := eng.QueueDepth(); return a },
		Devices: hub.Devices,
		Notifiers: map[string]alert.Notifier{
			models.ChannelWebhook: alert.Webhook{Client: alertClient},
			models.ChannelSlack:   alert.Slack{Client: alertClient},
			models.ChannelEmail:   alert.EmailNotifier{Email: email},
			models.ChannelInApp:   alert.InApp{Users: st},
		}})
	alertsCtx, stopAlerts := context.WithCancel(ctx)
	alertsDone := make(chan struct{})
	go func() {
		defer close(alertsDone)
		alerts.Run(alertsCtx, func() (<-chan []models.Event, func() bool, func()) {
			return launcher.SubscribeLocalBatches("", 1024)
		})
	}()
	defer func() { stopAlerts(); <-alertsDone }()
	// Evidence for reviewers: one worker replays versions as they are
	// submitted; answers are cached until a new production run finishes.
	proof := evidence.New(evidence.Config{Store: st, Compiler: eng.Compiler(), Log: log})
	proofCtx, stopProof := context.WithCancel(ctx)
	proofDone := make(chan struct{})
	go func() {
		defer close(proofDone)
		proof.Run(proofCtx)
	}()
	defer func() { stopProof(); <-proofDone }()
	emailSettings := ""
	if email != nil {
		emailSettings = email.String()
	}
	streamsCtx, endStreams := context.WithCancel(baseCtx)
	defer endStreams()
	app := handlers.New(handlers.Deps{
		Log:                     log,
		Store:                   engineHealth{st, eng},
		Definitions:             eng.Compiler(),
		Templates:               st,
		Secrets:                 st,
		Insight:                 st,
		WebhookLegacySignatures: cfg.legacyHookSigs,
		Runs:                    launcher,
		Schedules:               sched,
		Devices:                 hub,
		Registry:                reg,
		BodyLimit:               cfg.bodyLimit,
		WebhookBodyLimit:        cfg.webhookLimit,
		RateLimit:               cfg.rateLimit,
		SecureCookies:           cfg.secureCookies,
		TrustedProxies:          cfg.trustedProxies,
		RequestTimeout:          cfg.requestTimeout,
		BaseContext:             baseCtx,
		Streams:                 streamsCtx,
		Version:                 buildInfo().String(),
		Examples:                examples.FS,
		Alerts:                  st,
		Alerting:                alerts,
		Evidence:                proof,
		EmailSettings:           emailSettings,
		Instance:                func() any { return eng.Lease() },
	})

	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	log.Info("Baton is listening", "url", "http://"+ln.Addr().String(), "version", buildInfo().String())
	if cfg.listening != nil {
		cfg.listening(ln.Addr())
	}

	select {
	case err := <-served:
		_ = sched.Stop()
		stopEngine()
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.shutdownTimeout)
	// No new schedule fires; event streams end now, since they would hold
	// the drain until their runs finish.
	if err := sched.Stop(); err != nil {
		log.Warn("stop scheduler", "err", err)
	}
	endStreams()
	if err := app.ShutdownWithTimeout(cfg.shutdownTimeout); err != nil {
		log.Warn("requests still in flight at shutdown were cut off", "err", err)
	}
	cancelRequests()
	if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) {
		log.Warn("http server stopped with an error", "err", err)
	}
	// The engine stops after the server has drained, so requests in flight
	// (a ?wait=, a cancel) still reach it.
	stopEngine()
	log.Info("stopped")
	return nil
}

// ensureAdmin creates the user admin on an empty database, with the password
// from BATON_ADMIN_PASSWORD or a random one printed once.
func ensureAdmin(ctx context.Context, log *slog.Logger, st *store.Store, password string) error {
	n, err := st.CountUsers(ctx)
	if err != nil {
		return fmt.Errorf("count users: %w", err)
	}
	if n > 0 {
		return nil
	}
	generated := password == ""
	if generated {
		if password, err = randomPassword(20); err != nil {
			return err
		}
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return err
	}
	u := &models.User{Name: "admin", PasswordHash: hash, Roles: []models.Role{models.RoleAdmin}}
	if err := st.CreateUser(ctx, u); err != nil {
		if models.IsCode(err, models.Conflict) {
			return nil // another instance starting at the same moment created it
		}
		return fmt.Errorf("create admin user: %w", err)
	}
	if err := st.Audit(ctx, &models.AuditEntry{Actor: "system", Action: models.AuditUserCreated, Target: "admin"}); err != nil {
		return err
	}
	if generated {
		log.Warn("created user admin with a random password; it is shown only this once", "user", "admin", "password", password)
	} else {
		log.Info("created user admin with the password from BATON_ADMIN_PASSWORD")
	}
	return nil
}

// randomPassword returns n characters that are easy to read and type.
func randomPassword(n int) (string, error) {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, n)
	for i := range b {
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return "", err
		}
		b[i] = alphabet[k.Int64()]
	}
	return string(b), nil
}

// engineHealth makes GET /healthz fail while the engine cannot commit run
// changes (runs suspended after a failed commit): the database may answer a
// ping and still refuse writes.
type engineHealth struct {
	*store.Store
	eng *engine.Engine
}

// Ping reports the engine's durability problem first, then the database's.
func (h engineHealth) Ping(ctx context.Context) error {
	if err := h.eng.Healthy(); err != nil {
		return err
	}
	return h.Store.Ping(ctx)
}

// buildInfoGauge is baton_build_info, always 1, labelled with what `baton
// version` prints, so dashboards can show which build each instance runs.
func buildInfoGauge() prometheus.Gauge {
	b := buildInfo()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "baton_build_info",
		Help:        "The running build: version, commit and Go version (always 1).",
		ConstLabels: prometheus.Labels{"version": b.Version, "commit": b.Commit, "goversion": b.Go},
	})
	g.Set(1)
	return g
}

// rollupEvery is how often serve counts finished runs into the analytics
// rollups. Queries add the runs not counted yet from the raw rows, so the
// interval bounds only how many rows they add, not how fresh figures are.
const rollupEvery = 10 * time.Second

// rollUp counts finished runs into the analytics rollups every interval
// until ctx ends (store.RollUp: transactions of 500 runs, off the engine's
// writer).
func rollUp(ctx context.Context, log *slog.Logger, st *store.Store, every time.Duration) {
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		n, err := st.RollUp(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("counting runs into the analytics rollups failed; trying again later", "err", err, "counted", n)
		case n >= 10000:
			log.Info("counted runs into the analytics rollups", "runs", n, "took", time.Since(start).Round(time.Millisecond))
		}
		t.Reset(every)
	}
}
