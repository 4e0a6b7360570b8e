package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/handlers/auth"
	"github.com/baton-run/baton/models"
)

// Names of headers, cookies and form fields the middleware reads or writes.
const (
	headerRequestID = "X-Request-ID"
	headerCSRF      = "X-CSRF-Token"
	formCSRF        = "_csrf"
	sessionCookie   = "baton_session"
)

// Keys of c.Locals; unexported types so no other package can collide.
type localKey int

const (
	keyRequestID localKey = iota
	keyLogger
	keyPrincipal
	keyWaitingReviews // the approver's inbox, read once per request (waitingReviews)
)

// principal is who made the request, and how they proved it.
type principal struct {
	user    *models.User
	session *models.Session  // set when authenticated by the session cookie
	token   *models.APIToken // set when authenticated by a bearer token
}

func principalOf(c *fiber.Ctx) *principal {
	p, _ := c.Locals(keyPrincipal).(*principal)
	return p
}

// touchEvery limits how often token and session "last used" times are
// written: once a minute is precise enough for people and saves a write on
// nearly every request.
const touchEvery = time.Minute

// requestID takes the caller's X-Request-ID when it is sane, or makes one,
// and puts it on the response and on a request-scoped logger.
func (s *server) requestID(c *fiber.Ctx) error {
	id := c.Get(headerRequestID)
	if !validRequestID(id) {
		id = newRequestID()
	}
	c.Locals(keyRequestID, id)
	c.Locals(keyLogger, s.log.With("request_id", id))
	c.Set(headerRequestID, id)
	return c.Next()
}

// validRequestID accepts ids a proxy might send (UUIDs, ULIDs, hex) and
// refuses anything that could forge log lines or bloat them.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return false
		}
	}
	return true
}

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// requestIDOf returns the request's id, making one when the request never
// passed the middleware (fiber calls the error handler directly for bodies
// over the limit).
func requestIDOf(c *fiber.Ctx) string {
	if id, ok := c.Locals(keyRequestID).(string); ok {
		return id
	}
	id := newRequestID()
	c.Locals(keyRequestID, id)
	c.Set(headerRequestID, id)
	return id
}

// logOf returns the request-scoped logger.
func (s *server) logOf(c *fiber.Ctx) *slog.Logger {
	if l, ok := c.Locals(keyLogger).(*slog.Logger); ok {
		return l
	}
	return s.log.With("request_id", requestIDOf(c))
}

// observe renders any error the rest of the chain returned, then writes the
// access log line and the metrics with the final status.
func (s *server) observe(c *fiber.Ctx) error {
	start := time.Now()
	own := c.Route()
	if err := c.Next(); err != nil {
		if herr := s.handleError(c, err); herr != nil {
			s.logOf(c).Error("render error response", "err", herr)
			c.Status(fiber.StatusInternalServerError)
		}
	}
	status := c.Response().StatusCode()
	elapsed := time.Since(start)
	pattern := routePattern(c, own)
	s.metrics.observe(c.Method(), pattern, status, elapsed)

	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelError
	case status < 400 && quietPath(c.Path()):
		// Probes, scrapes and assets would drown the lines people read.
		level = slog.LevelDebug
	}
	attrs := []slog.Attr{
		slog.String("method", c.Method()),
		slog.String("path", c.Path()),
		slog.String("route", pattern),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		slog.Int("bytes_out", bytesOut(c)),
		slog.String("ip", s.clientIP(c)),
	}
	if p := principalOf(c); p != nil {
		attrs = append(attrs, slog.String("user", p.user.Name))
	}
	s.logOf(c).LogAttrs(c.UserContext(), level, "http request", attrs...)
	return nil
}

// bytesOut is the response body's size, or -1 for a stream (an event
// stream is written after this line is logged; reading its body here would
// wait for the whole stream).
func bytesOut(c *fiber.Ctx) int {
	if c.Response().IsBodyStream() {
		return -1
	}
	return len(c.Response().Body())
}

// quietPath reports whether successful requests to path are logged at debug
// level only.
func quietPath(path string) bool {
	return path == "/healthz" || path == "/metrics" || strings.HasPrefix(path, "/static/")
}

// routePattern is the matched route's pattern ("/api/v1/tokens/:id"), so
// metrics have one series per route rather than one per URL.
func routePattern(c *fiber.Ctx, own *fiber.Route) string {
	r := c.Route()
	// When no route matched, c.Route() is still the middleware's own
	// (app.Use) route; its pattern "/" would lump every unknown URL together.
	if r == nil || r == own || r.Path == "" {
		return "unmatched"
	}
	return r.Path
}

// recover turns a panic into a 500; the stack goes to the log only.
func (s *server) recover(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.logOf(c).Error("panic serving request", "panic", r, "stack", string(debug.Stack()))
			err = models.Errorf(models.Internal, "internal error")
		}
	}()
	return c.Next()
}

// contentSecurityPolicy allows only the app's own scripts, styles and
// connections; htmx is configured (views.Layout) to need no eval and no
// inline styles.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

func (s *server) securityHeaders(c *fiber.Ctx) error {
	c.Set("Content-Security-Policy", contentSecurityPolicy)
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderReferrerPolicy, "same-origin")
	c.Set("Cross-Origin-Opener-Policy", "same-origin")
	return c.Next()
}

// requestContext gives handlers a context that ends on timeout or when the
// server shuts down (Deps.BaseContext); fiber v2 gives none by default. It
// carries the request id (models.ContextWithRequestID), so that the engine
// logs the runs a request starts with the id of that request.
func (s *server) requestContext(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(s.deps.BaseContext, s.deps.RequestTimeout)
	defer cancel()
	c.SetUserContext(models.ContextWithRequestID(ctx, requestIDOf(c)))
	return c.Next()
}

// authenticate finds who is calling: a bearer token, else the session
// cookie. It refuses a bad token outright (a script should fail loudly) but
// treats a stale cookie as no login. Requests authenticated by cookie that
// change state must carry the session's CSRF token.
func (s *server) authenticate(c *fiber.Ctx) error {
	if strings.HasPrefix(c.Path(), hooksPrefix) || c.Path() == agentConnectPath {
		// Agents authenticate with their device token (agentConnect).
		// Webhook calls prove themselves with the webhook's secret (see
		// receiveHook); their Authorization header, if any, carries it.
		return c.Next()
	}
	if h := c.Get(fiber.HeaderAuthorization); h != "" {
		p, err := s.bearer(c, h)
		if err != nil {
			return err
		}
		c.Locals(keyPrincipal, p)
		return c.Next()
	}
	if v := c.Cookies(sessionCookie); v != "" {
		p, err := s.sessionPrincipal(c, v)
		if err != nil {
			return err
		}
		if p == nil {
			s.clearSessionCookie(c)
			return c.Next()
		}
		c.Locals(keyPrincipal, p)
		// The login form carries its own token (see loginCSRFCookie): a form
		// opened before signing in elsewhere must still work.
		isLogin := c.Path() == "/login"
		if !safeMethod(c.Method()) && !isLogin && !validCSRF(c, p.session.CSRFToken) {
			return models.Errorf(models.Forbidden, "missing or wrong CSRF token: send the session's token in the %s header or the %s form field", headerCSRF, formCSRF)
		}
	}
	return c.Next()
}

func (s *server) bearer(c *fiber.Ctx, header string) (*principal, error) {
	scheme, plain, _ := strings.Cut(header, " ")
	plain = strings.TrimSpace(plain)
	if !strings.EqualFold(scheme, "Bearer") || plain == "" {
		return nil, models.Errorf(models.Unauthenticated, `the Authorization header must be "Bearer <token>"`)
	}
	invalid := models.Errorf(models.Unauthenticated, "invalid or revoked API token")
	if !auth.LooksLikeToken(plain) {
		return nil, invalid
	}
	ctx := c.UserContext()
	hash := auth.HashToken(plain)
	tok, user, cached := s.tokens.get(hash)
	if !cached {
		var err error
		tok, user, err = s.store.TokenByHash(ctx, hash)
		if models.IsCode(err, models.NotFound) {
			return nil, invalid
		}
		if err != nil {
			return nil, err
		}
		if tok.RevokedAt != nil || user.Disabled {
			return nil, invalid
		}
		s.tokens.put(hash, tok, user)
	}
	now := s.now()
	if tok.LastUsedAt == nil || now.Sub(*tok.LastUsedAt) >= touchEvery {
		if err := s.store.TouchToken(ctx, tok.ID, now); err != nil {
			// The request is authenticated either way; a missed "last used"
			// time is not worth failing it for.
			s.logOf(c).Warn("record token use", "token_id", tok.ID, "err", err)
		}
		s.tokens.touched(hash, now)
	}
	return &principal{user: user, token: tok}, nil
}

// sessionPrincipal returns nil, nil when the cookie names no live session.
func (s *server) sessionPrincipal(c *fiber.Ctx, cookie string) (*principal, error) {
	ctx := c.UserContext()
	now := s.now()
	sess, user, err := s.store.SessionByHash(ctx, auth.HashSessionID(cookie), now)
	if models.IsCode(err, models.NotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if user.Disabled || !now.Before(sess.ExpiresAt) {
		return nil, nil
	}
	if now.Sub(sess.LastSeen) >= touchEvery {
		if err := s.store.TouchSession(ctx, sess.ID, now); err != nil {
			s.logOf(c).Warn("record session use", "session_id", sess.ID, "err", err)
		}
	}
	return &principal{user: user, session: sess}, nil
}

func safeMethod(m string) bool {
	return m == fiber.MethodGet || m == fiber.MethodHead || m == fiber.MethodOptions
}

func validCSRF(c *fiber.Ctx, want string) bool {
	got := c.Get(headerCSRF)
	if got == "" {
		got = bodyFormValue(c, formCSRF)
	}
	return auth.Equal(got, want)
}

// bodyFormValue reads a field of a form body only. Fiber's FormValue falls
// back to the query string, where a token leaks into logs, Referer headers
// and browser history, and where a crafted link could carry it.
func bodyFormValue(c *fiber.Ctx, key string) string {
	switch mediaType(c.Get(fiber.HeaderContentType)) {
	case fiber.MIMEApplicationForm:
		return string(c.Request().PostArgs().Peek(key))
	case fiber.MIMEMultipartForm:
		if f, err := c.MultipartForm(); err == nil && len(f.Value[key]) > 0 {
			return f.Value[key][0]
		}
	}
	return ""
}

// need is the one role check: every route declares the role it needs
// (anyone, RoleViewer for any signed-in user, or a specific role).
func (s *server) need(role models.Role) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if role == anyone {
			return c.Next()
		}
		p := principalOf(c)
		if p == nil {
			return models.Errorf(models.Unauthenticated, "sign in or send an API token")
		}
		if !p.user.Can(role) {
			return models.Errorf(models.Forbidden, "this needs the %s role", role)
		}
		return c.Next()
	}
}

func (s *server) setSessionCookie(c *fiber.Ctx, value string, expires time.Time) {
	c.Cookie(&fiber.Cookie{
		Name:     sessionCookie,
		Value:    value,
		Path:     "/",
		Expires:  expires,
		Secure:   s.deps.SecureCookies,
		HTTPOnly: true,
		SameSite: fiber.CookieSameSiteLaxMode,
	})
}

func (s *server) clearSessionCookie(c *fiber.Ctx) {
	c.Cookie(&fiber.Cookie{
		Name:     sessionCookie,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		Expires:  time.Unix(0, 0),
		Secure:   s.deps.SecureCookies,
		HTTPOnly: true,
		SameSite: fiber.CookieSameSiteLaxMode,
	})
}
