package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/handlers/auth"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/views"
)

func (s *server) sessionRoutes() []route {
	return []route{
		{fiber.MethodGet, "/login", anyone, s.loginForm},
		{fiber.MethodPost, "/login", anyone, s.login},
		{fiber.MethodPost, "/logout", models.RoleViewer, s.logout},
	}
}

// loginCSRFCookie protects the login form itself (there is no session yet):
// the form's hidden field must match this cookie (double submit), so another
// site cannot sign a browser in as someone else.
const loginCSRFCookie = "baton_login_csrf"

// maxUserAgent bounds what a session keeps of the User-Agent header.
const maxUserAgent = 256

func (s *server) loginForm(c *fiber.Ctx) error {
	next := safeNext(c.Query("next"))
	if principalOf(c) != nil {
		return c.Redirect(next, fiber.StatusSeeOther)
	}
	return s.renderLogin(c, http.StatusOK, views.LoginView{Next: next})
}

// renderLogin shows the login form with a fresh form token.
func (s *server) renderLogin(c *fiber.Ctx, status int, v views.LoginView) error {
	token, err := auth.NewCSRFToken()
	if err != nil {
		return err
	}
	c.Cookie(&fiber.Cookie{
		Name:  loginCSRFCookie,
		Value: token,
		Path:  "/login",
		// Relative, so that a client whose clock is off still keeps it.
		MaxAge:   int(time.Hour.Seconds()),
		Secure:   s.deps.SecureCookies,
		HTTPOnly: true,
		SameSite: fiber.CookieSameSiteStrictMode,
	})
	v.CSRF = token
	return s.page(c, status, "Sign in", "", views.Login(v))
}

func (s *server) login(c *fiber.Ctx) error {
	ctx := c.UserContext()
	name := strings.TrimSpace(c.FormValue("username"))
	password := c.FormValue("password")
	v := views.LoginView{Username: name, Next: safeNext(c.FormValue("next"))}

	if !auth.Equal(c.FormValue(formCSRF), c.Cookies(loginCSRFCookie)) {
		v.Error = "The sign-in form had expired. Please try again."
		return s.renderLogin(c, http.StatusForbidden, v)
	}
	if name == "" || password == "" {
		v.Error = "Enter your user name and password."
		return s.renderLogin(c, http.StatusBadRequest, v)
	}

	ip := s.clientIP(c)
	now := s.now()
	// The attempt is counted (as a failure) before the password is checked,
	// in one atomic step: parallel guesses cannot all pass the count first.
	ok, err := s.store.ReserveLoginAttempt(ctx, name, ip, now, now.Add(-s.deps.LoginWindow), s.deps.LoginAttempts)
	if err != nil {
		return err
	}
	if !ok {
		s.audit(c, "anonymous", models.AuditLoginFailed, name, map[string]any{"reason": "throttled"})
		// The store keeps no per-failure expiry to compute the exact wait,
		// so the whole window is the honest upper bound.
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(s.deps.LoginWindow.Seconds())))
		v.Error = "Too many failed sign-in attempts. Wait " + humanMinutes(s.deps.LoginWindow) + " and try again."
		return s.renderLogin(c, http.StatusTooManyRequests, v)
	}

	user, reason, err := s.checkLogin(c, name, password)
	if err != nil {
		return err
	}
	if user == nil {
		s.audit(c, "anonymous", models.AuditLoginFailed, name, map[string]any{"reason": reason})
		v.Error = "Wrong user name or password."
		return s.renderLogin(c, http.StatusUnauthorized, v)
	}

	if err := s.store.ClearLoginFailures(ctx, name, ip); err != nil {
		s.logOf(c).Warn("clear login failures", "user", name, "err", err)
	}
	plain, hash, err := auth.NewSessionID()
	if err != nil {
		return err
	}
	csrf, err := auth.NewCSRFToken()
	if err != nil {
		return err
	}
	sess := &models.Session{
		UserID:    user.ID,
		Hash:      hash,
		CSRFToken: csrf,
		CreatedAt: now,
		ExpiresAt: now.Add(s.deps.SessionTTL),
		LastSeen:  now,
		IP:        ip,
		UserAgent: truncate(c.Get(fiber.HeaderUserAgent), maxUserAgent),
	}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return err
	}
	s.setSessionCookie(c, plain, sess.ExpiresAt)
	c.Cookie(&fiber.Cookie{Name: loginCSRFCookie, Path: "/login", MaxAge: -1, Expires: time.Unix(0, 0)})
	s.audit(c, user.Name, models.AuditLogin, user.Name, map[string]any{"session": sess.ID})
	return c.Redirect(v.Next, fiber.StatusSeeOther)
}

// checkLogin returns the user when name and password match, or nil and the
// reason (for the audit log only: the person is told the same in every case).
func (s *server) checkLogin(c *fiber.Ctx, name, password string) (*models.User, string, error) {
	user, err := s.store.UserByName(c.UserContext(), name)
	if models.IsCode(err, models.NotFound) {
		auth.WasteTime(password)
		return nil, "unknown_user", nil
	}
	if err != nil {
		return nil, "", err
	}
	if !auth.CheckPassword(user.PasswordHash, password) {
		return nil, "wrong_password", nil
	}
	if user.Disabled {
		return nil, "disabled", nil
	}
	return user, "", nil
}

func (s *server) logout(c *fiber.Ctx) error {
	p := principalOf(c)
	if p.session == nil {
		return models.Errorf(models.BadRequest, "signing out ends a browser session; to stop using an API token, revoke it")
	}
	if err := s.store.DeleteSession(c.UserContext(), p.session.ID); err != nil && !models.IsCode(err, models.NotFound) {
		return err
	}
	s.clearSessionCookie(c)
	s.audit(c, p.user.Name, models.AuditLogout, p.user.Name, map[string]any{"session": p.session.ID})
	if isHTMX(c) {
		c.Set("HX-Redirect", "/login")
		return c.SendStatus(fiber.StatusNoContent)
	}
	return c.Redirect("/login", fiber.StatusSeeOther)
}

// safeNext keeps a post-login redirect on this site: a local absolute path,
// never "//host" or "/\host", which browsers treat as another origin.
func safeNext(next string) string {
	// Only a same-origin absolute path: browsers drop tabs and newlines and
	// read "\\" as "/", so "/\t/evil.com" or "/\\evil.com" would leave the site.
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.ContainsRune(next, '\\') ||
		strings.HasPrefix(next, "/login") || len(next) > 2048 {
		return "/"
	}
	for _, r := range next {
		if r < 0x20 || r == 0x7f {
			return "/"
		}
	}
	if u, err := url.Parse(next); err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return next
}

func humanMinutes(d time.Duration) string {
	m := int(d.Round(time.Minute).Minutes())
	if m <= 1 {
		return "a minute"
	}
	return strconv.Itoa(m) + " minutes"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
