package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/views"
)

// codeMethodNotAllowed extends models' codes for fiber's 405, which no layer
// below HTTP can produce.
const codeMethodNotAllowed models.Code = "method_not_allowed"

// statusOf maps every error code to its one HTTP status.
var statusOf = map[models.Code]int{
	models.Invalid:         http.StatusUnprocessableEntity,
	models.BadRequest:      http.StatusBadRequest,
	models.Unauthenticated: http.StatusUnauthorized,
	models.Forbidden:       http.StatusForbidden,
	models.NotFound:        http.StatusNotFound,
	codeMethodNotAllowed:   http.StatusMethodNotAllowed,
	models.Conflict:        http.StatusConflict,
	models.TooLarge:        http.StatusRequestEntityTooLarge,
	models.RateLimited:     http.StatusTooManyRequests,
	models.Busy:            http.StatusTooManyRequests,
	models.Unavailable:     http.StatusServiceUnavailable,
	models.Internal:        http.StatusInternalServerError,
}

// busyRetryAfter is the Retry-After (seconds) of a models.Busy refusal.
const busyRetryAfter = "1"

// codeOfStatus maps the statuses fiber produces itself back to codes.
var codeOfStatus = map[int]models.Code{
	http.StatusBadRequest:                  models.BadRequest,
	http.StatusUnauthorized:                models.Unauthenticated,
	http.StatusForbidden:                   models.Forbidden,
	http.StatusNotFound:                    models.NotFound,
	http.StatusMethodNotAllowed:            codeMethodNotAllowed,
	http.StatusRequestEntityTooLarge:       models.TooLarge,
	http.StatusRequestHeaderFieldsTooLarge: models.TooLarge,
	http.StatusUnprocessableEntity:         models.Invalid,
	http.StatusTooManyRequests:             models.RateLimited,
	http.StatusServiceUnavailable:          models.Unavailable,
	http.StatusRequestTimeout:              models.BadRequest,
}

// problem is an error as the client sees it.
type problem struct {
	status  int
	code    models.Code
	message string
	details []models.Problem
}

// errorJSON is the spec's error shape, with requestId added.
type errorJSON struct {
	Error errorFields `json:"error"`
}

type errorFields struct {
	Code      models.Code      `json:"code"`
	Message   string           `json:"message"`
	Details   []models.Problem `json:"details"`
	RequestID string           `json:"requestId"`
}

// classify turns any error into what the client may see. Only *models.Error
// messages (and fiber's own, which name no internals) reach the client;
// everything else is "internal error" and its text goes to the log.
func (s *server) classify(err error) problem {
	var me *models.Error
	var fe *fiber.Error
	switch {
	case errors.As(err, &me) && me.Code != models.Internal:
		status, ok := statusOf[me.Code]
		if !ok {
			status = http.StatusInternalServerError
		}
		return problem{status: status, code: me.Code, message: me.Message, details: me.Details}
	case errors.As(err, &fe):
		code, ok := codeOfStatus[fe.Code]
		if !ok || fe.Code >= 500 {
			return problem{status: http.StatusInternalServerError, code: models.Internal, message: "internal error"}
		}
		msg := fe.Message
		switch {
		case fe.Code == http.StatusRequestEntityTooLarge:
			msg = fmt.Sprintf("the request body is larger than the limit of %d bytes", s.deps.BodyLimit)
		case code == codeMethodNotAllowed:
			msg = "this method is not allowed here"
		}
		return problem{status: fe.Code, code: code, message: msg}
	case errors.Is(err, context.DeadlineExceeded):
		return problem{status: http.StatusServiceUnavailable, code: models.Unavailable, message: "the request took too long; try again"}
	case errors.Is(err, context.Canceled):
		// The server is shutting down (Deps.BaseContext ended).
		return problem{status: http.StatusServiceUnavailable, code: models.Unavailable, message: "the server is shutting down; try again"}
	default:
		return problem{status: http.StatusInternalServerError, code: models.Internal, message: "internal error"}
	}
}

// handleError is the app's one error handler (fiber.Config.ErrorHandler):
// JSON in the spec's shape for the API and JSON clients, an error page or an
// htmx fragment for the browser, a redirect to the login page for a browser
// that is not signed in.
func (s *server) handleError(c *fiber.Ctx, err error) error {
	p := s.classify(err)
	rid := requestIDOf(c)
	// The request context has usually ended by now (the middleware that made
	// it has returned); the error page must still render.
	c.SetUserContext(context.WithoutCancel(c.UserContext()))
	log := s.logOf(c)
	if p.status >= 500 {
		log.Error("request failed", "method", c.Method(), "path", c.Path(), "status", p.status, "err", err)
	} else {
		log.Debug("request refused", "method", c.Method(), "path", c.Path(), "status", p.status, "err", err)
	}
	// An oversized body fasthttp met while reading the request (a chunked
	// one) reaches here before routing, with the request reset: no path
	// says whether it was for /api. Browsers never send chunked bodies and
	// no page takes a body over the limit, so the client is a program:
	// answer JSON.
	asJSON := wantsJSON(c) || (p.status == http.StatusRequestEntityTooLarge && c.Path() == "/")
	if p.code == models.Unauthenticated && !asJSON {
		return s.redirectToLogin(c)
	}
	if p.code == models.Busy && c.GetRespHeader(fiber.HeaderRetryAfter) == "" {
		// A cap on work in progress: the client may try again once some
		// runs finish, which a second usually sees.
		c.Set(fiber.HeaderRetryAfter, busyRetryAfter)
	}
	if p.details == nil {
		p.details = []models.Problem{}
	}
	if asJSON {
		return c.Status(p.status).JSON(errorJSON{Error: errorFields{
			Code: p.code, Message: p.message, Details: p.details, RequestID: rid,
		}})
	}
	v := views.ErrorView{
		Status:    p.status,
		Title:     errorTitle(p.status),
		Message:   p.message,
		RequestID: rid,
	}
	for _, d := range p.details {
		v.Details = append(v.Details, views.Detail{Path: d.Path, Message: d.Message})
	}
	if isHTMX(c) {
		// htmx swaps error responses too (see views.Layout's htmx-config);
		// these headers send the fragment to the page's notice area instead of
		// the element that made the request.
		c.Set("HX-Retarget", "#flash")
		c.Set("HX-Reswap", "innerHTML")
		return s.render(c, p.status, views.ErrorFragment(v))
	}
	return s.render(c, p.status, views.Layout(s.pageData(c, errorTitle(p.status), ""), views.ErrorPage(v)))
}

func errorTitle(status int) string {
	switch status {
	case http.StatusNotFound:
		return "Page not found"
	case http.StatusForbidden:
		return "Not allowed"
	case http.StatusInternalServerError:
		return "Something went wrong"
	}
	return http.StatusText(status)
}

// redirectToLogin sends a browser to the login page, coming back afterwards.
func (s *server) redirectToLogin(c *fiber.Ctx) error {
	target := "/login"
	if c.Method() == fiber.MethodGet && c.Path() != "/" {
		target += "?next=" + url.QueryEscape(string(c.Request().URI().RequestURI()))
	}
	if isHTMX(c) {
		// A redirect would be followed by the XMLHttpRequest and its login
		// page swapped into a fragment; HX-Redirect makes the whole page go.
		c.Set("HX-Redirect", target)
		return c.SendStatus(fiber.StatusUnauthorized)
	}
	return c.Redirect(target, fiber.StatusSeeOther)
}

// wantsJSON reports whether the client should get JSON rather than HTML:
// everything under /api, /hooks and /debug (the profiler, which tools call:
// a sign-in redirect would hide the 401), and any client that prefers JSON.
func wantsJSON(c *fiber.Ctx) bool {
	path := c.Path()
	if strings.HasPrefix(path, "/api/") || path == "/api" || strings.HasPrefix(path, hooksPrefix) || strings.HasPrefix(path, "/debug/") {
		return true
	}
	if c.Get(fiber.HeaderAccept) == "" {
		return false
	}
	return c.Accepts(fiber.MIMETextHTML, fiber.MIMEApplicationJSON) == fiber.MIMEApplicationJSON
}

func isHTMX(c *fiber.Ctx) bool { return c.Get("HX-Request") == "true" }
