package handlers

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/models"
)

// Alerts (shared/spec/alerts.md): everyone reads; admins write rules,
// channels and policies; operators (and admins) acknowledge, resolve and
// snooze. Every user reads and marks their own in-app notifications and
// sets their own notification address.
func (s *server) alertRoutes() []route {
	return []route{
		{fiber.MethodGet, "/api/v1/alerts/channels", models.RoleViewer, s.listChannels},
		{fiber.MethodPost, "/api/v1/alerts/channels", models.RoleAdmin, s.createChannel},
		{fiber.MethodGet, "/api/v1/alerts/channels/:id<int>", models.RoleViewer, s.getChannel},
		{fiber.MethodPut, "/api/v1/alerts/channels/:id<int>", models.RoleAdmin, s.updateChannel},
		{fiber.MethodDelete, "/api/v1/alerts/channels/:id<int>", models.RoleAdmin, s.deleteChannel},
		{fiber.MethodPost, "/api/v1/alerts/channels/:id<int>/test", models.RoleAdmin, s.testChannel},
		{fiber.MethodGet, "/api/v1/alerts/policies", models.RoleViewer, s.listPolicies},
		{fiber.MethodPost, "/api/v1/alerts/policies", models.RoleAdmin, s.createPolicy},
		{fiber.MethodGet, "/api/v1/alerts/policies/:id<int>", models.RoleViewer, s.getPolicy},
		{fiber.MethodPut, "/api/v1/alerts/policies/:id<int>", models.RoleAdmin, s.updatePolicy},
		{fiber.MethodDelete, "/api/v1/alerts/policies/:id<int>", models.RoleAdmin, s.deletePolicy},
		{fiber.MethodGet, "/api/v1/alerts/rules", models.RoleViewer, s.listRules},
		{fiber.MethodPost, "/api/v1/alerts/rules", models.RoleAdmin, s.createRule},
		{fiber.MethodGet, "/api/v1/alerts/rules/:id<int>", models.RoleViewer, s.getRule},
		{fiber.MethodPut, "/api/v1/alerts/rules/:id<int>", models.RoleAdmin, s.updateRule},
		{fiber.MethodDelete, "/api/v1/alerts/rules/:id<int>", models.RoleAdmin, s.deleteRule},
		{fiber.MethodGet, "/api/v1/alerts", models.RoleViewer, s.listAlerts},
		{fiber.MethodGet, "/api/v1/alerts/:id<int>", models.RoleViewer, s.getAlert},
		{fiber.MethodPost, "/api/v1/alerts/:id<int>/ack", models.RoleOperator, s.ackAlert},
		{fiber.MethodPost, "/api/v1/alerts/:id<int>/resolve", models.RoleOperator, s.resolveAlert},
		{fiber.MethodPost, "/api/v1/alerts/:id<int>/snooze", models.RoleOperator, s.snoozeAlert},
		{fiber.MethodGet, "/api/v1/alerts/:id<int>/deliveries", models.RoleViewer, s.alertDeliveries},
		{fiber.MethodGet, "/api/v1/notifications", models.RoleViewer, s.listNotifications},
		{fiber.MethodPost, "/api/v1/notifications/read", models.RoleViewer, s.readNotifications},
		{fiber.MethodGet, "/api/v1/notifications/settings", models.RoleViewer, s.getNotifySettings},
		{fiber.MethodPut, "/api/v1/notifications/settings", models.RoleViewer, s.putNotifySettings},
	}
}

// AlertStore keeps rules, channels, policies, alerts, their delivery log
// and in-app notifications; *store.Store satisfies it.
type AlertStore interface {
	CreateAlertChannel(ctx context.Context, c *models.AlertChannel) error
	UpdateAlertChannel(ctx context.Context, c *models.AlertChannel) error
	AlertChannel(ctx context.Context, id int64) (models.AlertChannel, error)
	ListAlertChannels(ctx context.Context) ([]models.AlertChannel, error)
	DeleteAlertChannel(ctx context.Context, id int64) error
	CreateAlertPolicy(ctx context.Context, p *models.EscalationPolicy) error
	UpdateAlertPolicy(ctx context.Context, p *models.EscalationPolicy) error
	AlertPolicy(ctx context.Context, id int64) (models.EscalationPolicy, error)
	ListAlertPolicies(ctx context.Context) ([]models.EscalationPolicy, error)
	DeleteAlertPolicy(ctx context.Context, id int64) error
	CreateAlertRule(ctx context.Context, r *models.AlertRule) error
	UpdateAlertRule(ctx context.Context, r *models.AlertRule) error
	AlertRule(ctx context.Context, id int64) (models.AlertRule, error)
	ListAlertRules(ctx context.Context) ([]models.AlertRule, error)
	DeleteAlertRule(ctx context.Context, id int64) error
	ListAlerts(ctx context.Context, state string, limit int) ([]models.Alert, error)
	Alert(ctx context.Context, id int64) (models.Alert, error)
	AckAlert(ctx context.Context, id int64, by string, at time.Time) (models.Alert, error)
	ResolveAlert(ctx context.Context, id int64, by string, at time.Time) (models.Alert, error)
	SnoozeAlert(ctx context.Context, id int64, until time.Time) (models.Alert, error)
	AlertDeliveries(ctx context.Context, alertID int64) ([]models.DeliveryAttempt, error)
	ListNotifications(ctx context.Context, user string, limit int) ([]models.Notification, error)
	UnreadNotifications(ctx context.Context, user string) (int64, error)
	MarkNotificationsRead(ctx context.Context, user string, at time.Time) error
	NotifySettings(ctx context.Context, user string) (models.NotifySettings, error)
	SetNotifySettings(ctx context.Context, user string, ns models.NotifySettings) error
}

// Alerting is the running alert service; *alert.Service satisfies it.
type Alerting interface {
	// SendTest sends a test message on a channel and returns the far end's answer.
	SendTest(ctx context.Context, id int64, by string) (string, error)
	// RulesChanged reloads rules and open alerts after an edit.
	RulesChanged()
	// VersionSubmitted tells the approvers of a submitted version, with
	// the summary line of its evidence when there is one.
	VersionSubmitted(ctx context.Context, template string, version int, author, evidence string) int
}

func (s *server) alerts() (AlertStore, error) {
	if s.deps.Alerts == nil {
		return nil, models.Errorf(models.Unavailable, "alerts are not available in this server")
	}
	return s.deps.Alerts, nil
}

// alertsChanged tells the running service that rules or alerts changed.
func (s *server) alertsChanged() {
	if s.deps.Alerting != nil {
		s.deps.Alerting.RulesChanged()
	}
}

// notifySubmitted tells the approvers of a submitted version, after the
// request: a slow mail server never holds the submitter's answer.
//
// With evidence available, the version is queued for replay on recent
// production runs (one background worker, not a goroutine per request) and
// the approvers are told once it is done, with its summary line.
func (s *server) notifySubmitted(key string, n int, author string) {
	ctx := context.WithoutCancel(s.deps.BaseContext)
	notify := func(ev *models.Evidence) {
		if s.deps.Alerting == nil {
			return
		}
		line := ""
		if ev != nil {
			line = ev.Summary.Line()
		}
		s.deps.Alerting.VersionSubmitted(ctx, key, n, author, line)
	}
	if s.deps.Evidence != nil && s.deps.Evidence.Submitted(key, n, notify) {
		return
	}
	if s.deps.Alerting != nil {
		go notify(nil)
	}
}

// idParam reads :id.
func idParam(c *fiber.Ctx) (int64, error) { return pathID(c, "id") }

// ---- channels

type channelIn struct {
	Name   string               `json:"name"`
	Kind   string               `json:"kind"`
	Config models.ChannelConfig `json:"config"`
}

func (s *server) listChannels(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	list, err := as.ListAlertChannels(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"channels": nonNil(list)})
}

func (s *server) createChannel(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	var in channelIn
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	ch := &models.AlertChannel{Name: in.Name, Kind: in.Kind, Config: in.Config}
	if err := as.CreateAlertChannel(c.UserContext(), ch); err != nil {
		return err
	}
	s.audit(c, principalOf(c).user.Name, "alert_channel_created", "alert-channel:"+ch.Name, map[string]any{"kind": ch.Kind})
	return c.Status(http.StatusCreated).JSON(ch)
}

func (s *server) getChannel(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	id, err := idParam(c)
	if err != nil {
		return err
	}
	ch, err := as.AlertChannel(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(ch)
}

func (s *server) updateChannel(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	id, err := idParam(c)
	if err != nil {
		return err
	}
	var in channelIn
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	ch := &models.AlertChannel{ID: id, Name: in.Name, Kind: in.Kind, Config: in.Config}
	if err := as.UpdateAlertChannel(c.UserContext(), ch); err != nil {
		return err
	}
	s.audit(c, principalOf(c).user.Name, "alert_channel_changed", "alert-channel:"+ch.Name, nil)
	return c.JSON(ch)
}

func (s *server) deleteChannel(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	id, err := idParam(c)
	if err != nil {
		return err
	}
	if err := as.DeleteAlertChannel(c.UserContext(), id); err != nil {
		return err
	}
	s.audit(c, principalOf(c).user.Name, "alert_channel_deleted", "alert-channel:"+c.Params("id"), nil)
	return c.SendStatus(http.StatusNoContent)
}

// testResult is the answer of POST …/channels/{id}/test: whether the far
// end took the message, and what it said.
type testResult struct {
	OK     bool   `json:"ok"`
	Answer string `json:"answer"`
	Error  string `json:"error,omitempty"`
}

func (s *server) sendChannelTest(c *fiber.Ctx) (testResult, error) {
	if _, err := s.alerts(); err != nil {
		return testResult{}, err
	}
	if s.deps.Alerting == nil {
		return testResult{}, models.Errorf(models.Unavailable, "alerting is not running in this server")
	}
	id, err := idParam(c)
	if err != nil {
		return testResult{}, err
	}
	answer, err := s.deps.Alerting.SendTest(c.UserContext(), id, principalOf(c).user.Name)
	if err != nil {
		if code := models.ErrorCode(err); code == models.NotFound || code == models.Unavailable {
			return testResult{}, err
		}
		return testResult{OK: false, Answer: answer, Error: err.Error()}, nil
	}
	return testResult{OK: true, Answer: answer}, nil
}

func (s *server) testChannel(c *fiber.Ctx) error {
	res, err := s.sendChannelTest(c)
	if err != nil {
		return err
	}
	return c.JSON(res)
}

// ---- policies

type policyIn struct {
	Name   string                   `json:"name"`
	Levels []models.EscalationLevel `json:"levels"`
	Repeat int                      `json:"repeat"`
}

func (s *server) listPolicies(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	list, err := as.ListAlertPolicies(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"policies": nonNil(list)})
}

func (s *server) createPolicy(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	var in policyIn
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	p := &models.EscalationPolicy{Name: in.Name, Levels: in.Levels, Repeat: in.Repeat}
	if err := as.CreateAlertPolicy(c.UserContext(), p); err != nil {
		return err
	}
	s.audit(c, principalOf(c).user.Name, "alert_policy_created", "alert-policy:"+p.Name, nil)
	return c.Status(http.StatusCreated).JSON(p)
}

func (s *server) getPolicy(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	id, err := idParam(c)
	if err != nil {
		return err
	}
	p, err := as.AlertPolicy(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(p)
}

func (s *server) updatePolicy(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	id, err := idParam(c)
	if err != nil {
		return err
	}
	var in policyIn
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	p := &models.EscalationPolicy{ID: id, Name: in.Name, Levels: in.Levels, Repeat: in.Repeat}
	if err := as.UpdateAlertPolicy(c.UserContext(), p); err != nil {
		return err
	}
	s.audit(c, principalOf(c).user.Name, "alert_policy_changed", "alert-policy:"+p.Name, nil)
	return c.JSON(p)
}

func (s *server) deletePolicy(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	id, err := idParam(c)
	if err != nil {
		return err
	}
	if err := as.DeleteAlertPolicy(c.UserContext(), id); err != nil {
		return err
	}
	s.audit(c, principalOf(c).user.Name, "alert_policy_deleted", "alert-policy:"+c.Params("id"), nil)
	return c.SendStatus(http.StatusNoContent)
}

// ---- rules

type ruleIn struct {
	Name      string                `json:"name"`
	Severity  models.AlertSeverity  `json:"severity"`
	Policy    *int64                `json:"policy"`
	Enabled   *bool                 `json:"enabled"`
	Condition models.AlertCondition `json:"condition"`
}

func (in ruleIn) rule(id int64) *models.AlertRule {
	r := &models.AlertRule{ID: id, Name: in.Name, Severity: in.Severity, Policy: in.Policy, Enabled: true, Condition: in.Condition}
	if in.Enabled != nil {
		r.Enabled = *in.Enabled
	}
	return r
}

func (s *server) listRules(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	list, err := as.ListAlertRules(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"rules": nonNil(list)})
}

func (s *server) createRule(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	var in ruleIn
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	r := in.rule(0)
	if err := as.CreateAlertRule(c.UserContext(), r); err != nil {
		return err
	}
	s.audit(c, principalOf(c).user.Name, "alert_rule_created", "alert-rule:"+r.Name, map[string]any{"kind": r.Condition.Kind})
	s.alertsChanged()
	return c.Status(http.StatusCreated).JSON(r)
}

func (s *server) getRule(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	id, err := idParam(c)
	if err != nil {
		return err
	}
	r, err := as.AlertRule(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(r)
}

func (s *server) updateRule(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	id, err := idParam(c)
	if err != nil {
		return err
	}
	var in ruleIn
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	r := in.rule(id)
	if err := as.UpdateAlertRule(c.UserContext(), r); err != nil {
		return err
	}
	s.audit(c, principalOf(c).user.Name, "alert_rule_changed", "alert-rule:"+r.Name, nil)
	s.alertsChanged()
	return c.JSON(r)
}

func (s *server) deleteRule(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	id, err := idParam(c)
	if err != nil {
		return err
	}
	if err := as.DeleteAlertRule(c.UserContext(), id); err != nil {
		return err
	}
	s.audit(c, principalOf(c).user.Name, "alert_rule_deleted", "alert-rule:"+c.Params("id"), nil)
	s.alertsChanged()
	return c.SendStatus(http.StatusNoContent)
}

// ---- alerts

func (s *server) listAlerts(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	limit := c.QueryInt("limit", 100)
	if limit < 1 || limit > 500 {
		return models.Errorf(models.BadRequest, "limit must be between 1 and 500, not %d", limit)
	}
	list, err := as.ListAlerts(c.UserContext(), c.Query("state"), limit)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"alerts": nonNil(list)})
}

func (s *server) getAlert(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	id, err := idParam(c)
	if err != nil {
		return err
	}
	a, err := as.Alert(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(a)
}

// changeAlert acknowledges, resolves or snoozes an alert for the API.
func (s *server) changeAlert(c *fiber.Ctx, action string) (models.Alert, error) {
	as, err := s.alerts()
	if err != nil {
		return models.Alert{}, err
	}
	id, err := idParam(c)
	if err != nil {
		return models.Alert{}, err
	}
	by := principalOf(c).user.Name
	var a models.Alert
	switch action {
	case "ack":
		a, err = as.AckAlert(c.UserContext(), id, by, s.now())
	case "resolve":
		a, err = as.ResolveAlert(c.UserContext(), id, by, s.now())
	case "snooze":
		var until time.Time
		if until, err = s.snoozeUntil(c); err == nil {
			a, err = as.SnoozeAlert(c.UserContext(), id, until)
		}
	}
	if err != nil {
		return models.Alert{}, err
	}
	s.audit(c, by, "alert_"+action, "alert:"+c.Params("id"), nil)
	s.alertsChanged()
	return a, nil
}

// snoozeUntil reads {until}: an RFC 3339 time, or a duration from now
// ("30m", "2h") for convenience; a form field of the same name too.
func (s *server) snoozeUntil(c *fiber.Ctx) (time.Time, error) {
	var in struct {
		Until string `json:"until"`
	}
	if mediaType(c.Get(fiber.HeaderContentType)) == fiber.MIMEApplicationJSON {
		if err := decodeJSON(c, &in); err != nil {
			return time.Time{}, err
		}
	} else {
		in.Until = c.FormValue("until")
	}
	raw := strings.TrimSpace(in.Until)
	if t, err := time.Parse(time.RFC3339, raw); err == nil {
		if !t.After(s.now()) {
			return time.Time{}, models.Problems("the snooze is not valid", []models.Problem{{Path: "until", Message: "until must be in the future"}})
		}
		return t.UTC(), nil
	}
	if d, err := models.ParseAlertDuration(raw); err == nil && d > 0 && d <= 30*24*time.Hour {
		return s.now().Add(d), nil
	}
	return time.Time{}, models.Problems("the snooze is not valid", []models.Problem{{Path: "until",
		Message: "until is a time such as 2026-03-01T09:00:00Z or a duration up to 30d such as \"2h\""}})
}

func (s *server) ackAlert(c *fiber.Ctx) error     { return s.alertAction(c, "ack") }
func (s *server) resolveAlert(c *fiber.Ctx) error { return s.alertAction(c, "resolve") }
func (s *server) snoozeAlert(c *fiber.Ctx) error  { return s.alertAction(c, "snooze") }

func (s *server) alertAction(c *fiber.Ctx, action string) error {
	a, err := s.changeAlert(c, action)
	if err != nil {
		return err
	}
	return c.JSON(a)
}

func (s *server) alertDeliveries(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	id, err := idParam(c)
	if err != nil {
		return err
	}
	log, err := as.AlertDeliveries(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"deliveries": nonNil(log)})
}

// ---- own notifications

func (s *server) listNotifications(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	user := principalOf(c).user.Name
	list, err := as.ListNotifications(c.UserContext(), user, 50)
	if err != nil {
		return err
	}
	unread, err := as.UnreadNotifications(c.UserContext(), user)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"notifications": nonNil(list), "unread": unread})
}

func (s *server) readNotifications(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	if err := as.MarkNotificationsRead(c.UserContext(), principalOf(c).user.Name, s.now()); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func (s *server) getNotifySettings(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	ns, err := as.NotifySettings(c.UserContext(), principalOf(c).user.Name)
	if err != nil {
		return err
	}
	return c.JSON(ns)
}

func (s *server) putNotifySettings(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	var in models.NotifySettings
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := checkEmail(in.Email); err != nil {
		return err
	}
	if err := as.SetNotifySettings(c.UserContext(), principalOf(c).user.Name, in); err != nil {
		return err
	}
	return c.JSON(in)
}

// checkEmail accepts "" (no email) or one plain address.
func checkEmail(addr string) error {
	if addr == "" {
		return nil
	}
	ch := models.AlertChannel{Name: "x", Kind: models.ChannelEmail, Config: models.ChannelConfig{To: []string{addr}}}
	if err := ch.Check(false); err != nil || len(addr) > 254 {
		return models.Problems("the settings are not valid", []models.Problem{{Path: "email", Message: "not an email address"}})
	}
	return nil
}

// nonNil returns list, or an empty list for nil, so JSON says [] not null.
func nonNil[T any](list []T) []T {
	if list == nil {
		return []T{}
	}
	return list
}
