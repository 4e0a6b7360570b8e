package handlers

import (
	"bytes"
	"encoding/json"
	"mime"
	"slices"
	"strconv"
	"strings"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/views"
)

// render writes comp as the HTML response, using the request's context.
func (s *server) render(c *fiber.Ctx, status int, comp templ.Component) error {
	c.Status(status)
	c.Type("html", "utf-8")
	return comp.Render(c.UserContext(), c.Response().BodyWriter())
}

// page wraps body in the layout, unless htmx asked for just the fragment
// (boosted requests expect a whole page).
func (s *server) page(c *fiber.Ctx, status int, title, active string, body templ.Component) error {
	if isHTMX(c) && c.Get("HX-Boosted") != "true" {
		return s.render(c, status, body)
	}
	return s.render(c, status, views.Layout(s.pageData(c, title, active), body))
}

// pageData is the layout's view model for this request.
func (s *server) pageData(c *fiber.Ctx, title, active string) views.Page {
	pd := views.Page{
		Title:   title,
		Active:  active,
		Assets:  s.assets.urls,
		Version: s.deps.Version,
	}
	if p := principalOf(c); p != nil {
		pd.User = userView(p.user)
		if p.session != nil {
			pd.CSRF = p.session.CSRFToken
		}
		pd.Waiting = len(s.waitingReviews(c))
	}
	return pd
}

// waitingReviews lists the versions waiting for the signed-in approver's
// review (an index lookup, on every page, for the count in the
// navigation); nil for anyone else, or when it cannot be read (the page
// still renders, without the count).
// The answer is kept for the request: the home page lists the reviews
// and its layout counts them, from one read.
func (s *server) waitingReviews(c *fiber.Ctx) []models.InboxItem {
	if items, ok := c.Locals(keyWaitingReviews).([]models.InboxItem); ok {
		return items
	}
	p := principalOf(c)
	if p == nil || !p.user.Can(models.RoleApprover) || s.deps.Templates == nil {
		return nil
	}
	items, err := s.deps.Templates.ApprovalInbox(c.UserContext(), p.user.Name)
	if err != nil {
		s.logOf(c).Warn("read the approvals inbox for the navigation", "err", err)
		return nil
	}
	c.Locals(keyWaitingReviews, items)
	return items
}

func userView(u *models.User) *views.UserView {
	v := &views.UserView{Name: u.Name, IsAdmin: u.Can(models.RoleAdmin)}
	for _, r := range u.Roles {
		v.Roles = append(v.Roles, string(r))
	}
	return v
}

// decodeJSON reads the request body as one JSON value into v, refusing
// unknown fields so a typo in a field name is an error rather than ignored.
func decodeJSON(c *fiber.Ctx, v any) error {
	if ct := mediaType(c.Get(fiber.HeaderContentType)); ct != "" && ct != fiber.MIMEApplicationJSON {
		return models.Errorf(models.BadRequest, "the body must be JSON (Content-Type: application/json), not %s", ct)
	}
	body := c.Body()
	if len(bytes.TrimSpace(body)) == 0 {
		return models.Errorf(models.BadRequest, "the body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return models.Errorf(models.BadRequest, "malformed JSON body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return models.Errorf(models.BadRequest, "malformed JSON body: more than one JSON value")
	}
	return nil
}

// mediaType is the Content-Type without parameters, lower case; "" when absent.
func mediaType(ct string) string {
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(ct))
	}
	return mt
}

// pathID parses a numeric path parameter.
func pathID(c *fiber.Ctx, name string) (int64, error) {
	raw := c.Params(name)
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return 0, models.Errorf(models.BadRequest, "%s must be a positive whole number, not %q", name, raw)
	}
	return id, nil
}

// audit records a security-relevant action. A failure to write it is logged
// loudly but does not undo the action, which has already happened.
func (s *server) audit(c *fiber.Ctx, actor, action, target string, detail map[string]any) {
	e := &models.AuditEntry{At: s.now(), Actor: actor, Action: action, Target: target, IP: s.clientIP(c), Detail: detail}
	if err := s.store.Audit(c.UserContext(), e); err != nil {
		s.logOf(c).Error("write audit entry", "action", action, "actor", actor, "target", target, "err", err)
	}
}

// rolesText lists roles for audit details.
func rolesText(roles []models.Role) []string {
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = string(r)
	}
	slices.Sort(out)
	return out
}
