package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/views"
)

// The alert pages: /alerts (open and history, ack/resolve/snooze), one
// alert with its delivery log, the rule, channel and policy editors, the
// user's notifications and the header's bell. Forms post plainly (and
// through htmx where it helps) and land back on their page.
func (s *server) alertPageRoutes() []route {
	return []route{
		{fiber.MethodGet, "/alerts", models.RoleViewer, s.alertsPage},
		{fiber.MethodGet, "/alerts/rules", models.RoleViewer, s.rulesPage},
		{fiber.MethodPost, "/alerts/rules", models.RoleAdmin, s.createRulePage},
		{fiber.MethodGet, "/alerts/rules/:id<int>/edit", models.RoleAdmin, s.editRulePage},
		{fiber.MethodPost, "/alerts/rules/:id<int>", models.RoleAdmin, s.updateRulePage},
		{fiber.MethodPost, "/alerts/rules/:id<int>/toggle", models.RoleAdmin, s.toggleRulePage},
		{fiber.MethodPost, "/alerts/rules/:id<int>/delete", models.RoleAdmin, s.deleteRulePage},
		{fiber.MethodGet, "/alerts/channels", models.RoleViewer, s.channelsPage},
		{fiber.MethodPost, "/alerts/channels", models.RoleAdmin, s.createChannelPage},
		{fiber.MethodGet, "/alerts/channels/:id<int>/edit", models.RoleAdmin, s.editChannelPage},
		{fiber.MethodPost, "/alerts/channels/:id<int>", models.RoleAdmin, s.updateChannelPage},
		{fiber.MethodPost, "/alerts/channels/:id<int>/test", models.RoleAdmin, s.testChannelPage},
		{fiber.MethodPost, "/alerts/channels/:id<int>/delete", models.RoleAdmin, s.deleteChannelPage},
		{fiber.MethodGet, "/alerts/policies", models.RoleViewer, s.policiesPage},
		{fiber.MethodPost, "/alerts/policies", models.RoleAdmin, s.createPolicyPage},
		{fiber.MethodGet, "/alerts/policies/:id<int>/edit", models.RoleAdmin, s.editPolicyPage},
		{fiber.MethodPost, "/alerts/policies/:id<int>", models.RoleAdmin, s.updatePolicyPage},
		{fiber.MethodPost, "/alerts/policies/:id<int>/delete", models.RoleAdmin, s.deletePolicyPage},
		{fiber.MethodGet, "/alerts/:id<int>", models.RoleViewer, s.alertPage},
		{fiber.MethodPost, "/alerts/:id<int>/ack", models.RoleOperator, s.alertActionPage("ack")},
		{fiber.MethodPost, "/alerts/:id<int>/resolve", models.RoleOperator, s.alertActionPage("resolve")},
		{fiber.MethodPost, "/alerts/:id<int>/snooze", models.RoleOperator, s.alertActionPage("snooze")},
		{fiber.MethodGet, "/notifications", models.RoleViewer, s.notificationsPage},
		{fiber.MethodPost, "/notifications/settings", models.RoleViewer, s.notifySettingsPage},
		{fiber.MethodGet, "/notifications/bell", models.RoleViewer, s.bell},
	}
}

func alertRow(a models.Alert) views.AlertRow {
	r := views.AlertRow{ID: a.ID, Rule: a.RuleName, Severity: string(a.Severity), State: string(a.State), Subject: a.Subject,
		Summary: a.Summary, FirstAt: views.FormatTime(a.FirstAt), LastAt: views.FormatTime(a.LastAt), Count: a.Count,
		Level: a.Level, AckedBy: a.AckedBy}
	if a.SnoozedUntil != nil {
		r.Snoozed = "until " + views.FormatTime(*a.SnoozedUntil)
	}
	if a.ResolvedAt != nil {
		r.Resolved = views.FormatTime(*a.ResolvedAt)
		if a.ResolvedBy != "" {
			r.Resolved += " by " + a.ResolvedBy
		} else {
			r.Resolved += " (cleared by itself)"
		}
	}
	if a.Links.Run != "" {
		r.RunLink = "/runs/" + a.Links.Run
	}
	return r
}

func (s *server) alertsPage(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	open, err := as.ListAlerts(ctx, "open", 200)
	if err != nil {
		return err
	}
	hist, err := as.ListAlerts(ctx, string(models.AlertResolved), 50)
	if err != nil {
		return err
	}
	rules, err := as.ListAlertRules(ctx)
	if err != nil {
		return err
	}
	v := views.AlertsView{CSRF: pageCSRF(c), CanAct: principalOf(c).user.Can(models.RoleOperator), Configured: len(rules) > 0}
	for _, a := range open {
		v.Open = append(v.Open, alertRow(a))
	}
	for _, a := range hist {
		v.History = append(v.History, alertRow(a))
	}
	return s.page(c, http.StatusOK, "Alerts", "alerts", views.Alerts(v))
}

func (s *server) alertPage(c *fiber.Ctx) error {
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
	log, err := as.AlertDeliveries(c.UserContext(), id)
	if err != nil {
		return err
	}
	v := views.AlertDetailView{CSRF: pageCSRF(c), CanAct: principalOf(c).user.Can(models.RoleOperator), Alert: alertRow(a)}
	for _, d := range log {
		name := d.ChannelName
		if name == "" {
			name = fmt.Sprintf("channel %d (deleted)", d.Channel)
		}
		v.Deliveries = append(v.Deliveries, views.DeliveryRow{At: views.FormatTime(d.At), Channel: name, Level: d.Level,
			Attempt: d.Attempt, Status: d.Status, Answer: d.Answer, Delivery: d.Delivery})
	}
	return s.page(c, http.StatusOK, "Alert", "alerts", views.AlertDetail(v))
}

func (s *server) alertActionPage(action string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if _, err := s.changeAlert(c, action); err != nil {
			return err
		}
		back := "/alerts"
		if ref := c.Get(fiber.HeaderReferer); strings.Contains(ref, "/alerts/"+c.Params("id")) {
			back = "/alerts/" + c.Params("id")
		}
		return s.redirectPage(c, back)
	}
}

// ---- rules

func conditionText(c models.AlertCondition) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+" "+v)
		}
	}
	add("template", c.Template)
	add("step", c.Step)
	add("window", c.Window)
	if c.Threshold != nil {
		b, _ := c.Threshold.MarshalJSON()
		add("threshold", strings.Trim(string(b), `"`))
	}
	if c.MinRuns > 0 {
		add("minRuns", strconv.Itoa(c.MinRuns))
	}
	if c.Kind == models.CondAnomaly {
		add("metric", c.Metric)
		if c.Sensitivity > 0 {
			add("sensitivity", strconv.FormatFloat(c.Sensitivity, 'f', -1, 64))
		}
	}
	add("for", c.For)
	return strings.Join(parts, ", ")
}

// rulesView is the rules page's model, with an empty form for a new rule.
func (s *server) rulesView(c *fiber.Ctx, as AlertStore) (views.RulesView, error) {
	ctx := c.UserContext()
	rules, err := as.ListAlertRules(ctx)
	if err != nil {
		return views.RulesView{}, err
	}
	pols, err := as.ListAlertPolicies(ctx)
	if err != nil {
		return views.RulesView{}, err
	}
	names := map[int64]string{}
	v := views.RulesView{CSRF: pageCSRF(c), IsAdmin: principalOf(c).user.Can(models.RoleAdmin),
		Form: views.RuleForm{Action: "/alerts/rules", Submit: "Create rule", CSRF: pageCSRF(c), Severity: "warning", Enabled: true}}
	for _, p := range pols {
		names[p.ID] = p.Name
		v.Policies = append(v.Policies, views.Option{Value: strconv.FormatInt(p.ID, 10), Label: p.Name})
	}
	for _, k := range models.ConditionKinds {
		v.Kinds = append(v.Kinds, views.Option{Value: k, Label: strings.ReplaceAll(k, "_", " ")})
	}
	for _, r := range rules {
		row := views.RuleRow{ID: r.ID, Name: r.Name, Severity: string(r.Severity), Kind: r.Condition.Kind,
			Condition: conditionText(r.Condition), Enabled: r.Enabled, Policy: "none"}
		if r.Policy != nil {
			row.Policy = names[*r.Policy]
		}
		v.Rules = append(v.Rules, row)
	}
	return v, nil
}

func (s *server) rulesPage(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	v, err := s.rulesView(c, as)
	if err != nil {
		return err
	}
	return s.page(c, http.StatusOK, "Alert rules", "alerts", views.Rules(v))
}

func (s *server) editRulePage(c *fiber.Ctx) error {
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
	v, err := s.rulesView(c, as)
	if err != nil {
		return err
	}
	cond := r.Condition
	f := views.RuleForm{Action: "/alerts/rules/" + strconv.FormatInt(id, 10), Submit: "Save rule", CSRF: pageCSRF(c),
		Name: r.Name, Severity: string(r.Severity), Kind: cond.Kind, Template: cond.Template, Window: cond.Window,
		Step: cond.Step, Metric: cond.Metric, For: cond.For, Enabled: r.Enabled}
	if r.Policy != nil {
		f.Policy = strconv.FormatInt(*r.Policy, 10)
	}
	if cond.Threshold != nil {
		b, _ := cond.Threshold.MarshalJSON()
		f.Threshold = strings.Trim(string(b), `"`)
	}
	if cond.MinRuns > 0 {
		f.MinRuns = strconv.Itoa(cond.MinRuns)
	}
	if cond.Sensitivity > 0 {
		f.Sensitivity = strconv.FormatFloat(cond.Sensitivity, 'f', -1, 64)
	}
	v.Form = f
	return s.page(c, http.StatusOK, "Edit rule", "alerts", views.RuleEdit(v))
}

func formThreshold(raw string) (*models.Threshold, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, nil
	}
	t := &models.Threshold{}
	b, _ := jsonString(raw)
	if err := t.UnmarshalJSON(b); err != nil {
		return nil, models.Problems("the rule is not valid", []models.Problem{{Path: "condition.threshold", Message: err.Error()}})
	}
	return t, nil
}

func jsonString(s string) ([]byte, error) { return json.Marshal(s) }

// ruleFromForm reads the rule form.
func ruleFromForm(c *fiber.Ctx) (*models.AlertRule, error) {
	thr, err := formThreshold(c.FormValue("threshold"))
	if err != nil {
		return nil, err
	}
	r := &models.AlertRule{Name: c.FormValue("name"), Severity: models.AlertSeverity(c.FormValue("severity")),
		Enabled: c.FormValue("enabled") == "true", Condition: models.AlertCondition{Kind: c.FormValue("kind"),
			Template: strings.TrimSpace(c.FormValue("template")), Step: strings.TrimSpace(c.FormValue("step")),
			Window: strings.TrimSpace(c.FormValue("window")), Threshold: thr, For: strings.TrimSpace(c.FormValue("for"))}}
	if p := c.FormValue("policy"); p != "" {
		id, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return nil, models.Errorf(models.BadRequest, "policy must be a policy id")
		}
		r.Policy = &id
	}
	if v := c.FormValue("minRuns"); v != "" {
		if r.Condition.MinRuns, err = strconv.Atoi(v); err != nil {
			return nil, models.Errorf(models.BadRequest, "minRuns must be a whole number")
		}
	}
	if r.Condition.Kind == models.CondAnomaly {
		r.Condition.Metric = c.FormValue("metric")
		if v := c.FormValue("sensitivity"); v != "" {
			if r.Condition.Sensitivity, err = strconv.ParseFloat(v, 64); err != nil {
				return nil, models.Errorf(models.BadRequest, "sensitivity must be a number")
			}
		}
	}
	return r, nil
}

func (s *server) createRulePage(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	r, err := ruleFromForm(c)
	if err != nil {
		return err
	}
	if err := as.CreateAlertRule(c.UserContext(), r); err != nil {
		return err
	}
	s.audit(c, principalOf(c).user.Name, "alert_rule_created", "alert-rule:"+r.Name, map[string]any{"kind": r.Condition.Kind})
	s.alertsChanged()
	return s.redirectPage(c, "/alerts/rules")
}

func (s *server) updateRulePage(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	id, err := idParam(c)
	if err != nil {
		return err
	}
	r, err := ruleFromForm(c)
	if err != nil {
		return err
	}
	r.ID = id
	if err := as.UpdateAlertRule(c.UserContext(), r); err != nil {
		return err
	}
	s.audit(c, principalOf(c).user.Name, "alert_rule_changed", "alert-rule:"+r.Name, nil)
	s.alertsChanged()
	return s.redirectPage(c, "/alerts/rules")
}

func (s *server) toggleRulePage(c *fiber.Ctx) error {
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
	r.Enabled = !r.Enabled
	if err := as.UpdateAlertRule(c.UserContext(), &r); err != nil {
		return err
	}
	s.audit(c, principalOf(c).user.Name, "alert_rule_changed", "alert-rule:"+r.Name, map[string]any{"enabled": r.Enabled})
	s.alertsChanged()
	return s.redirectPage(c, "/alerts/rules")
}

func (s *server) deleteRulePage(c *fiber.Ctx) error {
	if err := s.deleteRule(c); err != nil {
		return err
	}
	return s.redirectPage(c, "/alerts/rules")
}

// ---- channels

func channelTarget(ch models.AlertChannel) string {
	switch ch.Kind {
	case models.ChannelWebhook:
		t := ch.Config.URL
		if ch.Config.SecretSet {
			t += " (signed)"
		}
		return t
	case models.ChannelSlack:
		return ch.Config.URL
	case models.ChannelEmail:
		return strings.Join(ch.Config.To, ", ")
	case models.ChannelInApp:
		var parts []string
		if len(ch.Config.Users) > 0 {
			parts = append(parts, "users "+strings.Join(ch.Config.Users, ", "))
		}
		if len(ch.Config.Roles) > 0 {
			parts = append(parts, "roles "+strings.Join(ch.Config.Roles, ", "))
		}
		return strings.Join(parts, "; ")
	}
	return ""
}

func (s *server) channelsPage(c *fiber.Ctx) error {
	return s.renderChannels(c, http.StatusOK)
}

func (s *server) renderChannels(c *fiber.Ctx, status int) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	list, err := as.ListAlertChannels(c.UserContext())
	if err != nil {
		return err
	}
	v := views.ChannelsView{CSRF: pageCSRF(c), IsAdmin: principalOf(c).user.Can(models.RoleAdmin), Email: s.deps.EmailSettings,
		Form: views.ChannelForm{Action: "/alerts/channels", Submit: "Create channel", CSRF: pageCSRF(c), Kind: models.ChannelWebhook}}
	if v.Email == "" {
		v.Email = "off (start the server with --smtp-url and --smtp-from)"
	}
	for _, ch := range list {
		v.Channels = append(v.Channels, views.ChannelRow{ID: ch.ID, Name: ch.Name, Kind: ch.Kind, Target: channelTarget(ch)})
	}
	return s.page(c, status, "Alert channels", "alerts", views.Channels(v))
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// channelFromForm reads the channel form; kind comes from the form, or
// is the stored one when editing.
func channelFromForm(c *fiber.Ctx, kind string) *models.AlertChannel {
	ch := &models.AlertChannel{Name: c.FormValue("name"), Kind: kind}
	switch ch.Kind {
	case models.ChannelWebhook:
		ch.Config = models.ChannelConfig{URL: strings.TrimSpace(c.FormValue("url")), Secret: c.FormValue("secret")}
	case models.ChannelSlack:
		ch.Config = models.ChannelConfig{URL: strings.TrimSpace(c.FormValue("url"))}
	case models.ChannelEmail:
		ch.Config = models.ChannelConfig{To: splitList(c.FormValue("to"))}
	case models.ChannelInApp:
		ch.Config = models.ChannelConfig{Users: splitList(c.FormValue("users")), Roles: splitList(c.FormValue("roles"))}
	}
	return ch
}

func (s *server) createChannelPage(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	ch := channelFromForm(c, c.FormValue("kind"))
	if err := as.CreateAlertChannel(c.UserContext(), ch); err != nil {
		return err
	}
	s.audit(c, principalOf(c).user.Name, "alert_channel_created", "alert-channel:"+ch.Name, map[string]any{"kind": ch.Kind})
	return s.redirectPage(c, "/alerts/channels")
}

func (s *server) editChannelPage(c *fiber.Ctx) error {
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
	f := views.ChannelForm{Action: "/alerts/channels/" + strconv.FormatInt(id, 10), Submit: "Save channel", CSRF: pageCSRF(c),
		Editing: true, Name: ch.Name, Kind: ch.Kind, To: strings.Join(ch.Config.To, ", "), Users: strings.Join(ch.Config.Users, ", "),
		Roles: strings.Join(ch.Config.Roles, ", "), SecretSet: ch.Config.SecretSet, URLSet: ch.Config.URLSet}
	if ch.Kind == models.ChannelWebhook {
		f.URL = ch.Config.URL // a Slack URL holds its token: never put back in a page
	}
	return s.page(c, http.StatusOK, "Edit channel", "alerts", views.ChannelEdit(views.ChannelsView{CSRF: pageCSRF(c), IsAdmin: true, Form: f}))
}

func (s *server) updateChannelPage(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	id, err := idParam(c)
	if err != nil {
		return err
	}
	old, err := as.AlertChannel(c.UserContext(), id)
	if err != nil {
		return err
	}
	ch := channelFromForm(c, old.Kind)
	ch.ID = id
	if err := as.UpdateAlertChannel(c.UserContext(), ch); err != nil {
		return err
	}
	s.audit(c, principalOf(c).user.Name, "alert_channel_changed", "alert-channel:"+ch.Name, nil)
	return s.redirectPage(c, "/alerts/channels")
}

func (s *server) testChannelPage(c *fiber.Ctx) error {
	res, err := s.sendChannelTest(c)
	if err != nil {
		return err
	}
	id, _ := idParam(c)
	return s.render(c, http.StatusOK, views.ChannelTestResult(views.TestResultView{ID: id, OK: res.OK, Answer: res.Answer, Error: res.Error}))
}

func (s *server) deleteChannelPage(c *fiber.Ctx) error {
	if err := s.deleteChannel(c); err != nil {
		return err
	}
	return s.redirectPage(c, "/alerts/channels")
}

// ---- policies

// policiesView is the policies page's model, with an empty form.
func (s *server) policiesView(c *fiber.Ctx, as AlertStore) (views.PoliciesView, error) {
	ctx := c.UserContext()
	pols, err := as.ListAlertPolicies(ctx)
	if err != nil {
		return views.PoliciesView{}, err
	}
	chans, err := as.ListAlertChannels(ctx)
	if err != nil {
		return views.PoliciesView{}, err
	}
	names := map[int64]string{}
	v := views.PoliciesView{CSRF: pageCSRF(c), IsAdmin: principalOf(c).user.Can(models.RoleAdmin),
		Form: views.PolicyForm{Action: "/alerts/policies", Submit: "Create policy", CSRF: pageCSRF(c), Repeat: "0",
			Levels: []views.LevelForm{{After: "0s"}, {}, {}}}}
	for _, ch := range chans {
		names[ch.ID] = ch.Name
		v.Channels = append(v.Channels, views.Option{Value: strconv.FormatInt(ch.ID, 10), Label: ch.Name})
	}
	for _, p := range pols {
		row := views.PolicyRow{ID: p.ID, Name: p.Name, Repeat: p.Repeat}
		for _, l := range p.Levels {
			var cs []string
			for _, id := range l.Channels {
				cs = append(cs, names[id])
			}
			row.Levels = append(row.Levels, fmt.Sprintf("after %s: %s", l.After, strings.Join(cs, ", ")))
		}
		v.Policies = append(v.Policies, row)
	}
	return v, nil
}

func (s *server) policiesPage(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	v, err := s.policiesView(c, as)
	if err != nil {
		return err
	}
	return s.page(c, http.StatusOK, "Escalation policies", "alerts", views.Policies(v))
}

func (s *server) editPolicyPage(c *fiber.Ctx) error {
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
	v, err := s.policiesView(c, as)
	if err != nil {
		return err
	}
	f := views.PolicyForm{Action: "/alerts/policies/" + strconv.FormatInt(id, 10), Submit: "Save policy", CSRF: pageCSRF(c),
		Name: p.Name, Repeat: strconv.Itoa(p.Repeat)}
	for _, l := range p.Levels {
		lf := views.LevelForm{After: l.After, Channels: map[string]bool{}}
		for _, ch := range l.Channels {
			lf.Channels[strconv.FormatInt(ch, 10)] = true
		}
		f.Levels = append(f.Levels, lf)
	}
	f.Levels = append(f.Levels, views.LevelForm{}) // room for one more
	v.Form = f
	return s.page(c, http.StatusOK, "Edit policy", "alerts", views.PolicyEdit(v))
}

// policyFromForm reads the policy form: rows after1/channels1, after2/…
func policyFromForm(c *fiber.Ctx) (*models.EscalationPolicy, error) {
	p := &models.EscalationPolicy{Name: c.FormValue("name")}
	var err error
	if r := c.FormValue("repeat"); r != "" {
		if p.Repeat, err = strconv.Atoi(r); err != nil {
			return nil, models.Errorf(models.BadRequest, "repeat must be a whole number")
		}
	}
	args := c.Request().PostArgs()
	for i := 1; i <= 21; i++ {
		n := strconv.Itoa(i)
		if !args.Has("after"+n) && len(args.PeekMulti("channels"+n)) == 0 {
			break
		}
		after := strings.TrimSpace(c.FormValue("after" + n))
		var ids []int64
		for _, raw := range args.PeekMulti("channels" + n) {
			id, err := strconv.ParseInt(string(raw), 10, 64)
			if err != nil {
				return nil, models.Errorf(models.BadRequest, "channels must be channel ids")
			}
			ids = append(ids, id)
		}
		if after == "" && len(ids) == 0 {
			continue
		}
		p.Levels = append(p.Levels, models.EscalationLevel{After: after, Channels: ids})
	}
	return p, nil
}

func (s *server) createPolicyPage(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	p, err := policyFromForm(c)
	if err != nil {
		return err
	}
	if err := as.CreateAlertPolicy(c.UserContext(), p); err != nil {
		return err
	}
	s.audit(c, principalOf(c).user.Name, "alert_policy_created", "alert-policy:"+p.Name, nil)
	return s.redirectPage(c, "/alerts/policies")
}

func (s *server) updatePolicyPage(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	id, err := idParam(c)
	if err != nil {
		return err
	}
	p, err := policyFromForm(c)
	if err != nil {
		return err
	}
	p.ID = id
	if err := as.UpdateAlertPolicy(c.UserContext(), p); err != nil {
		return err
	}
	s.audit(c, principalOf(c).user.Name, "alert_policy_changed", "alert-policy:"+p.Name, nil)
	s.alertsChanged()
	return s.redirectPage(c, "/alerts/policies")
}

func (s *server) deletePolicyPage(c *fiber.Ctx) error {
	if err := s.deletePolicy(c); err != nil {
		return err
	}
	s.alertsChanged()
	return s.redirectPage(c, "/alerts/policies")
}

// ---- notifications

func (s *server) notificationsPage(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	user := principalOf(c).user.Name
	list, err := as.ListNotifications(ctx, user, 50)
	if err != nil {
		return err
	}
	ns, err := as.NotifySettings(ctx, user)
	if err != nil {
		return err
	}
	v := views.NotificationsView{CSRF: pageCSRF(c), Email: ns.Email, Saved: c.Query("saved") == "1"}
	for _, n := range list {
		v.Items = append(v.Items, views.NotificationRow{Title: n.Title, Body: n.Body, Link: n.Link, At: views.FormatTime(n.CreatedAt), Unread: n.ReadAt == nil})
	}
	// Seeing them is reading them: the bell clears on the next refresh.
	if err := as.MarkNotificationsRead(ctx, user, s.now()); err != nil {
		return err
	}
	return s.page(c, http.StatusOK, "Notifications", "", views.Notifications(v))
}

func (s *server) notifySettingsPage(c *fiber.Ctx) error {
	as, err := s.alerts()
	if err != nil {
		return err
	}
	email := strings.TrimSpace(c.FormValue("email"))
	if err := checkEmail(email); err != nil {
		return err
	}
	if err := as.SetNotifySettings(c.UserContext(), principalOf(c).user.Name, models.NotifySettings{Email: email}); err != nil {
		return err
	}
	return s.redirectPage(c, "/notifications?saved=1")
}

func (s *server) bell(c *fiber.Ctx) error {
	var n int64
	if as, err := s.alerts(); err == nil {
		if n, err = as.UnreadNotifications(c.UserContext(), principalOf(c).user.Name); err != nil {
			return err
		}
	}
	return s.render(c, http.StatusOK, views.Bell(views.BellView{Unread: n}))
}
