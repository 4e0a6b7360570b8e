// Package handlers is Baton's HTTP layer: the one Fiber app (New), its
// middleware (request id, access log, metrics, recover, security headers,
// request context, body limit, authentication, CSRF, roles), the JSON API
// under /api/v1 and the server-rendered pages. Each resource has its own
// file that opens with its route table. The store and the engine are reached
// only through the small interfaces declared here, whose signatures use
// models types only.
package handlers

import (
	"cmp"
	"context"
	"io/fs"
	"log/slog"
	"net/netip"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/baton-run/baton/models"
)

// Deps is everything the HTTP layer needs. The zero value works: every
// field has a default (see withDefaults; a zero or negative number means the
// default); without a Store every route that needs the database answers 503.
type Deps struct {
	// Log receives the access log and errors; default slog.Default().
	Log *slog.Logger
	// Store persists users, tokens, sessions, login failures and the audit
	// log; *store.Store satisfies it. Default: a store that is unavailable.
	Store Store
	// Definitions checks workflow definitions for POST /api/v1/validate and
	// serves the JSON Schema; plan.Compiler satisfies it. When nil those
	// two routes answer 503.
	Definitions Definitions
	// Registry receives the HTTP metrics and is served at GET /metrics;
	// default a new registry holding only the HTTP metrics.
	Registry *prometheus.Registry
	// TrustedProxies are the reverse proxies whose X-Forwarded-For header
	// names the client (see clientIP); default none, so the peer is the client.
	TrustedProxies []netip.Prefix
	// BodyLimit is the largest request body accepted, in bytes; default 1 MiB.
	BodyLimit int
	// SecureCookies marks cookies Secure (only sent over HTTPS); default false,
	// because the default bind address is plain-HTTP localhost.
	SecureCookies bool
	// RequestTimeout bounds each request's context; default 30s.
	RequestTimeout time.Duration
	// BaseContext is the parent of every request context, so shutting the
	// server down cancels work in flight; default context.Background().
	BaseContext context.Context
	// Streams is the context event streams run under; they end when it
	// ends. cmd/baton cancels it before draining the server, because a
	// stream would otherwise hold the shutdown until its run ends. Default
	// BaseContext.
	Streams context.Context
	// Version is shown in the page footer; default "dev".
	Version string
	// Now is the clock for sessions, token use and login throttling; default time.Now.
	Now func() time.Time
	// SessionTTL is how long a browser login lasts; default 12h.
	SessionTTL time.Duration
	// LoginAttempts is how many failed logins for one user from one address
	// within LoginWindow make further attempts wait; default 5.
	LoginAttempts int
	// LoginWindow is the span over which failed logins are counted, and so
	// the longest wait; default 15 minutes.
	LoginWindow time.Duration
	// Templates persists templates, versions, their review and triggers;
	// *store.Store satisfies it. When nil those routes answer 503.
	Templates TemplateStore
	// Runs starts and reads runs; *engine.Launcher satisfies it. When nil
	// the run routes answer 503.
	Runs Runs
	// Schedules is told when a schedule is created, changed or deleted so
	// it takes effect without a restart, and says when one fires next;
	// *engine.Scheduler satisfies it. Optional.
	Schedules ScheduleNotifier
	// MaxWait caps ?wait= on POST …/runs; default 5 minutes.
	MaxWait time.Duration
	// HeartbeatInterval is the pause between ": heartbeat" comments on
	// event streams; default 15s.
	HeartbeatInterval time.Duration
	// WebhookBodyLimit is the largest webhook body accepted, in bytes;
	// default 256 KiB (never more than BodyLimit).
	WebhookBodyLimit int
	// RateLimit is how many requests per second an API token that sets no
	// limit of its own may make on average, with bursts of RateBurst.
	// Default 0: no limit (limiting is opt-in, per token or here); a
	// negative RateLimit means the same.
	RateLimit float64
	// RateBurst is the burst size of RateLimit; default five times RateLimit.
	// A token's own limit always bursts to five times its rate.
	RateBurst int
	// Secrets keeps the secrets workflows use; *store.Store (with a
	// secrets key) satisfies it. When nil the secret routes answer 503.
	Secrets SecretStore
	// WebhookLegacySignatures accepts webhook calls signed over the body
	// only ("sha256="), which a captured call can replay under a new
	// delivery id; default false. For migrating senders only.
	WebhookLegacySignatures bool
	// MaxStreamsPerUser caps the event streams one user may hold open
	// (429 above it); default 32.
	MaxStreamsPerUser int
	// Alerts keeps alert rules, channels, policies, alerts and in-app
	// notifications; *store.Store satisfies it. When nil those routes
	// answer 503.
	Alerts AlertStore
	// EmailSettings describes the server's SMTP settings for the channel
	// page, password hidden; "" when email is off.
	EmailSettings string
	// Alerting is the running alert service (send test, rule reloads,
	// approver notices); *alert.Service satisfies it. Optional.
	Alerting Alerting
	// Insight answers analytics and keeps saved reports; *store.Store
	// satisfies it. When nil those routes answer 503.
	Insight InsightStore
	// Devices is the device hub: agents connect to it, the devices API
	// and page read and change it; *agent.Hub satisfies it. When nil the
	// device routes answer 503.
	Devices Devices
	// Evidence replays recorded production runs through a version under
	// review (what it would change); *evidence.Service satisfies it. When
	// nil the evidence route answers 503 and the review page leaves its
	// section out.
	Evidence Evidence
	// Examples holds example definitions (*.yaml) offered as starting points
	// on the templates page; docs/examples.FS in `baton serve`. Optional.
	Examples fs.FS
	// Instance, when set, describes this instance for GET /healthz: its id,
	// the runs it owns and its lease (engine.Engine.Lease in `baton
	// serve`), marshalled as JSON under "instance".
	Instance func() any
}

// Defaults for Deps fields.
const (
	DefaultBodyLimit      = 1 << 20
	DefaultRequestTimeout = 30 * time.Second
	DefaultSessionTTL     = 12 * time.Hour
	DefaultLoginAttempts  = 5
	DefaultLoginWindow    = 15 * time.Minute

	DefaultMaxWait          = 5 * time.Minute
	DefaultHeartbeat        = 15 * time.Second
	DefaultWebhookBodyLimit = 256 << 10
)

func (d Deps) withDefaults() Deps {
	d.Log = cmp.Or(d.Log, slog.Default())
	if d.Store == nil {
		d.Store = unavailableStore{}
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	d.BodyLimit = positiveOr(d.BodyLimit, DefaultBodyLimit)
	d.RequestTimeout = positiveOr(d.RequestTimeout, DefaultRequestTimeout)
	if d.BaseContext == nil {
		d.BaseContext = context.Background()
	}
	d.Version = cmp.Or(d.Version, "dev")
	if d.Now == nil {
		d.Now = time.Now
	}
	d.SessionTTL = positiveOr(d.SessionTTL, DefaultSessionTTL)
	d.LoginAttempts = positiveOr(d.LoginAttempts, DefaultLoginAttempts)
	d.LoginWindow = positiveOr(d.LoginWindow, DefaultLoginWindow)
	d.MaxWait = positiveOr(d.MaxWait, DefaultMaxWait)
	d.HeartbeatInterval = positiveOr(d.HeartbeatInterval, DefaultHeartbeat)
	d.MaxStreamsPerUser = positiveOr(d.MaxStreamsPerUser, DefaultMaxStreamsPerUser)
	d.WebhookBodyLimit = min(positiveOr(d.WebhookBodyLimit, DefaultWebhookBodyLimit), d.BodyLimit)
	return d
}

// positiveOr returns v when it is positive, else def: a negative limit or
// duration is as meaningless as a zero one.
func positiveOr[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// Store is what the HTTP layer needs from persistence. Each method returns
// *models.Error codes: NotFound when absent, Conflict on a duplicate.
type Store interface {
	Pinger
	UserStore
	TokenStore
	SessionStore
	LoginThrottle
	Auditor
}

// Pinger reports whether the database answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// UserStore reads and changes users.
type UserStore interface {
	CreateUser(ctx context.Context, u *models.User) error
	UserByName(ctx context.Context, name string) (*models.User, error)
	ListUsers(ctx context.Context) ([]models.User, error)
	SetUserRoles(ctx context.Context, id int64, roles []models.Role) error
}

// TokenStore keeps API tokens (their hashes only).
type TokenStore interface {
	CreateToken(ctx context.Context, t *models.APIToken) error
	TokenByHash(ctx context.Context, hash string) (*models.APIToken, *models.User, error)
	TokenByID(ctx context.Context, id int64) (*models.APIToken, error)
	TouchToken(ctx context.Context, id int64, at time.Time) error
	RevokeToken(ctx context.Context, id int64, at time.Time) error
	ListTokens(ctx context.Context, userID int64) ([]models.APIToken, error)
}

// SessionStore keeps browser sessions (the hash of the cookie value only).
type SessionStore interface {
	CreateSession(ctx context.Context, sess *models.Session) error
	SessionByHash(ctx context.Context, hash string, now time.Time) (*models.Session, *models.User, error)
	TouchSession(ctx context.Context, id int64, at time.Time) error
	DeleteSession(ctx context.Context, id int64) error
}

// LoginThrottle counts failed logins per user and address, shared by every
// instance on one database.
type LoginThrottle interface {
	RecordLoginFailure(ctx context.Context, user, ip string, at time.Time) error
	CountLoginFailures(ctx context.Context, user, ip string, since time.Time) (int64, error)
	ClearLoginFailures(ctx context.Context, user, ip string) error
	ReserveLoginAttempt(ctx context.Context, user, ip string, at, since time.Time, limit int) (bool, error)
}

// Auditor writes the audit log.
type Auditor interface {
	Audit(ctx context.Context, e *models.AuditEntry) error
}

// Definitions checks workflow definitions; plan.Compiler satisfies it.
type Definitions interface {
	// Check returns nil for a valid definition, a models.BadRequest error for
	// a body that does not parse, and a models.Invalid error listing every
	// problem otherwise. contentType is "application/json" or "application/yaml".
	Check(body []byte, contentType string) error
	// JSONSchema is the JSON Schema of the definition format.
	JSONSchema() []byte
	// InputTypes are the types an input declaration may name, in the
	// order the designer offers them.
	InputTypes() []string
}

// server holds the dependencies the handlers share.
type server struct {
	deps    Deps
	log     *slog.Logger
	store   Store
	now     func() time.Time
	assets  *assets
	metrics *httpMetrics
	limiter *rateLimiter
	tokens  *tokenCache
	streams *streamCounter
	monitor *monitorSampler
}

// New builds the Fiber app with every middleware and route. It is the only
// fiber.New in Baton; cmd/baton calls Listen on the result.
func New(d Deps) *fiber.App {
	s := newServer(d)
	app := fiber.New(fiber.Config{
		AppName: "baton",
		// Immutable makes the strings fiber returns (Params, Method, Get,
		// FormValue…) safe to keep after the handler returns, at the cost of a
		// copy; otherwise they alias buffers reused by the next request, a
		// trap for metrics labels and for goroutines such as event streams.
		Immutable:             true,
		BodyLimit:             s.deps.BodyLimit,
		ErrorHandler:          s.handleError,
		DisableStartupMessage: true,
		// Reads are bounded so a slow client cannot hold a connection open
		// forever; writes are not, because event streams stay open for the
		// length of a run.
		ReadTimeout: s.deps.RequestTimeout,
		IdleTimeout: 2 * time.Minute,
		// Room for long cookies and headers; fasthttp's 4 KiB default
		// answers 431 to a browser carrying a few large cookies.
		ReadBufferSize: 16 << 10,
	})
	// The order matters: the request id comes first so that every later log
	// line and error carries it; observe wraps the rest so it sees the final
	// status, including errors rendered by handleError and recovered panics.
	app.Use(s.requestID, s.observe, s.recover, s.securityHeaders, s.requestContext, s.authenticate, s.rateLimit, compressPages())
	s.register(app, s.routes())
	return app
}

func newServer(d Deps) *server {
	d = d.withDefaults()
	return &server{
		deps:    d,
		log:     d.Log,
		store:   d.Store,
		now:     func() time.Time { return d.Now().UTC() },
		assets:  loadAssets(d.Log),
		metrics: newHTTPMetrics(d.Registry, d.Log),
		limiter: newRateLimiter(d.RateLimit, d.RateBurst),
		tokens:  newTokenCache(),
		streams: &streamCounter{max: d.MaxStreamsPerUser, open: map[int64]int{}},
		monitor: &monitorSampler{},
	}
}

// routes is every route table, in registration order. A new resource adds
// its table here; an /api/v1 route must also be described in openapi.yaml
// (TestOpenAPICoversRoutes fails otherwise).
func (s *server) routes() []route {
	var all []route
	for _, rs := range [][]route{
		s.sessionRoutes(),
		s.templatePageRoutes(),
		s.designerPageRoutes(),
		s.designerLiveRoutes(),
		s.pageRoutes(),
		s.insightPageRoutes(),
		s.reportPageRoutes(),
		s.runPageRoutes(),
		s.approvalPageRoutes(),
		s.settingsRoutes(),
		s.userRoutes(),
		s.tokenRoutes(),
		s.secretRoutes(),
		s.validateRoutes(),
		s.templateRoutes(),
		s.versionRoutes(),
		s.approvalRoutes(),
		s.runRoutes(),
		s.eventRoutes(),
		s.insightRoutes(),
		s.monitorRoutes(),
		s.hookRoutes(),
		s.scheduleRoutes(),
		s.alertRoutes(),
		s.alertPageRoutes(),
		s.openAPIRoutes(),
		s.agentRoutes(),
		s.deviceRoutes(),
		s.devicePageRoutes(),
		s.healthRoutes(),
		s.pprofRoutes(),
		s.staticRoutes(),
	} {
		all = append(all, rs...)
	}
	return all
}

// route is one line of a route table: every route says what it needs.
type route struct {
	method  string
	path    string
	need    models.Role // anyone: no authentication; RoleViewer: any signed-in user
	handler fiber.Handler
}

// anyone marks a route that needs no authentication.
const anyone models.Role = ""

func (s *server) register(app *fiber.App, routes []route) {
	for _, r := range routes {
		app.Add(r.method, r.path, s.need(r.need), r.handler)
	}
}
