package store

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/oklog/ulid/v2"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/baton-run/baton/models"
)

// Alerts (migration 00013): rules, channels and escalation policies are
// plain rows; an alert carries its own escalation timer (next_step,
// next_step_at), and the deliveries it owes are rows written in the same
// transaction that advances the timer, so a crash between two steps loses
// nothing and a step taken twice owes nothing twice. A channel's secrets
// (a webhook's signing key, a Slack URL) are sealed like secrets.

type alertChannelRow struct {
	ID        int64 `gorm:"primaryKey"`
	Name      string
	Kind      string
	Config    JSON[models.ChannelConfig]
	Sealed    []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (alertChannelRow) TableName() string { return "alert_channels" }

// channelSecrets is what a channel keeps sealed.
type channelSecrets struct {
	Secret string `json:"secret,omitempty"`
	URL    string `json:"url,omitempty"`
}

const channelSealName = "alert-channel"

type alertPolicyRow struct {
	ID        int64 `gorm:"primaryKey"`
	Name      string
	Levels    JSON[[]models.EscalationLevel]
	Repeat    int
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (alertPolicyRow) TableName() string { return "alert_policies" }

func (r *alertPolicyRow) model() models.EscalationPolicy {
	return models.EscalationPolicy{ID: r.ID, Name: r.Name, Levels: r.Levels.V, Repeat: r.Repeat,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

type alertRuleRow struct {
	ID        int64 `gorm:"primaryKey"`
	Name      string
	Severity  string
	PolicyID  *int64
	Enabled   bool
	Condition JSON[models.AlertCondition]
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (alertRuleRow) TableName() string { return "alert_rules" }

func (r *alertRuleRow) model() models.AlertRule {
	return models.AlertRule{ID: r.ID, Name: r.Name, Severity: models.AlertSeverity(r.Severity), Policy: r.PolicyID,
		Enabled: r.Enabled, Condition: r.Condition.V, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

type alertRow struct {
	ID           int64 `gorm:"primaryKey"`
	RuleID       int64
	OpenKey      *string
	Subject      string
	Severity     string
	State        string
	Summary      string
	RunID        string
	Template     string
	FirstAt      time.Time
	LastAt       time.Time
	Count        int
	Level        int
	NextStep     int
	NextStepAt   *time.Time
	AckedBy      string
	AckedAt      *time.Time
	ResolvedBy   string
	ResolvedAt   *time.Time
	SnoozedUntil *time.Time
}

func (alertRow) TableName() string { return "alerts" }

func (r *alertRow) model(ruleName string) models.Alert {
	return models.Alert{ID: r.ID, Rule: r.RuleID, RuleName: ruleName, Severity: models.AlertSeverity(r.Severity),
		State: models.AlertState(r.State), Subject: r.Subject, Summary: r.Summary, FirstAt: r.FirstAt.UTC(),
		LastAt: r.LastAt.UTC(), Count: r.Count, Level: r.Level,
		Links:   models.AlertLinks{Run: r.RunID, Template: r.Template},
		AckedBy: r.AckedBy, AckedAt: utcPtr(r.AckedAt), ResolvedBy: r.ResolvedBy, ResolvedAt: utcPtr(r.ResolvedAt),
		SnoozedUntil: utcPtr(r.SnoozedUntil)}
}

type alertDeliveryRow struct {
	ID         string `gorm:"primaryKey"`
	AlertID    int64
	ChannelID  int64
	Level      int
	Step       int
	Status     string
	Attempts   int
	NextAt     time.Time
	LeaseUntil *time.Time
	CreatedAt  time.Time
}

func (alertDeliveryRow) TableName() string { return "alert_deliveries" }

func (r *alertDeliveryRow) model() models.AlertDelivery {
	return models.AlertDelivery{ID: r.ID, Alert: r.AlertID, Channel: r.ChannelID, Level: r.Level, Step: r.Step,
		Status: r.Status, Attempts: r.Attempts, NextAt: r.NextAt.UTC(), CreatedAt: r.CreatedAt.UTC()}
}

type alertAttemptRow struct {
	ID         int64 `gorm:"primaryKey"`
	DeliveryID string
	AlertID    int64
	ChannelID  int64
	Level      int
	Attempt    int
	Status     string
	Answer     string
	At         time.Time
}

func (alertAttemptRow) TableName() string { return "alert_delivery_attempts" }

type notificationRow struct {
	ID        int64 `gorm:"primaryKey"`
	UserName  string
	AlertID   *int64
	Title     string
	Body      string
	Link      string
	CreatedAt time.Time
	ReadAt    *time.Time
}

func (notificationRow) TableName() string { return "notifications" }

type notifySettingsRow struct {
	UserName  string `gorm:"primaryKey"`
	Email     string
	UpdatedAt time.Time
}

func (notifySettingsRow) TableName() string { return "notify_settings" }

// alertRowModels lists the row structs of this file, for the column-drift test.
var alertRowModels = []any{&alertChannelRow{}, &alertPolicyRow{}, &alertRuleRow{}, &alertRow{}, &alertDeliveryRow{},
	&alertAttemptRow{}, &notificationRow{}, &notifySettingsRow{}}

func micro(t time.Time) time.Time { return utc(t) }

// ---- channels

func (s *Store) sealChannel(kind string, cfg *models.ChannelConfig) ([]byte, error) {
	sec := channelSecrets{Secret: cfg.Secret}
	if kind == models.ChannelSlack {
		sec.URL = cfg.URL
	}
	if sec.Secret == "" && sec.URL == "" {
		return nil, nil
	}
	b, _ := json.Marshal(sec)
	return s.seal(channelSealName, string(b))
}

func (s *Store) channelModel(r *alertChannelRow, reveal bool) (models.AlertChannel, error) {
	c := models.AlertChannel{ID: r.ID, Name: r.Name, Kind: r.Kind, Config: r.Config.V,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
	c.Config.Secret, c.Config.SecretSet, c.Config.URLSet = "", false, false
	if len(r.Sealed) > 0 {
		if !reveal {
			// What is sealed is set; the redacted form says so without opening it.
			c.Config.SecretSet = r.Kind == models.ChannelWebhook
			c.Config.URLSet = r.Kind == models.ChannelSlack
			return c, nil
		}
		plain, err := s.open(channelSealName, r.Sealed)
		if err != nil {
			return c, err
		}
		var sec channelSecrets
		if err := json.Unmarshal([]byte(plain), &sec); err != nil {
			return c, fmt.Errorf("store: channel %d secrets: %w", r.ID, err)
		}
		c.Config.Secret = sec.Secret
		if sec.URL != "" {
			c.Config.URL = sec.URL
		}
	}
	return c, nil
}

// publicConfig is what is stored in the clear: everything but the secrets.
func publicConfig(kind string, cfg models.ChannelConfig) models.ChannelConfig {
	cfg.Secret, cfg.SecretSet, cfg.URLSet = "", false, false
	if kind == models.ChannelSlack {
		cfg.URL = ""
	}
	return cfg
}

// CreateAlertChannel stores a new channel, its secrets sealed; c gets its
// id and comes back redacted. Conflict when the name exists; Unavailable
// when it has a secret and the server no secrets key.
func (s *Store) CreateAlertChannel(ctx context.Context, c *models.AlertChannel) error {
	if err := c.Check(false); err != nil {
		return err
	}
	sealed, err := s.sealChannel(c.Kind, &c.Config)
	if err != nil {
		return err
	}
	at := now()
	row := alertChannelRow{Name: c.Name, Kind: c.Kind, Config: NewJSON(publicConfig(c.Kind, c.Config)), Sealed: sealed,
		CreatedAt: at, UpdatedAt: at}
	if err := s.db.WithContext(ctx).Create(&row).Error; err != nil {
		return mapErr(err, fmt.Sprintf("channel %q", c.Name))
	}
	*c, err = s.channelModel(&row, false)
	return err
}

// UpdateAlertChannel changes a channel; an empty secret (and, for Slack, an
// empty URL) keeps the stored one. The kind cannot change.
func (s *Store) UpdateAlertChannel(ctx context.Context, c *models.AlertChannel) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var row alertChannelRow
		if err := tx.First(&row, c.ID).Error; err != nil {
			return mapErr(err, fmt.Sprintf("channel %d", c.ID))
		}
		c.Kind = row.Kind
		if err := c.Check(true); err != nil {
			return err
		}
		old, err := s.channelModel(&row, len(row.Sealed) > 0 && s.secrets != nil)
		if err != nil {
			return err
		}
		if c.Config.Secret == "" {
			c.Config.Secret = old.Config.Secret
		}
		if c.Kind == models.ChannelSlack && c.Config.URL == "" {
			c.Config.URL = old.Config.URL
		}
		if c.Kind == models.ChannelWebhook && c.Config.Secret == "" && len(row.Sealed) == 0 {
			return models.Problems("the channel is not valid", []models.Problem{{Path: "config.secret", Message: "a signing secret is required"}})
		}
		sealed := row.Sealed
		if c.Config.Secret != old.Config.Secret || (c.Kind == models.ChannelSlack && c.Config.URL != old.Config.URL) || len(row.Sealed) == 0 {
			if sealed, err = s.sealChannel(c.Kind, &c.Config); err != nil {
				return err
			}
		}
		row.Name, row.Config, row.Sealed, row.UpdatedAt = c.Name, NewJSON(publicConfig(c.Kind, c.Config)), sealed, now()
		if err := tx.Save(&row).Error; err != nil {
			return mapErr(err, fmt.Sprintf("channel %q", c.Name))
		}
		*c, err = s.channelModel(&row, false)
		return err
	})
}

// AlertChannel returns a channel redacted.
func (s *Store) AlertChannel(ctx context.Context, id int64) (models.AlertChannel, error) {
	var row alertChannelRow
	if err := s.read.WithContext(ctx).First(&row, id).Error; err != nil {
		return models.AlertChannel{}, mapErr(err, fmt.Sprintf("channel %d", id))
	}
	return s.channelModel(&row, false)
}

// AlertChannelForSending returns a channel with its secrets opened, for the
// notifier only: never show it.
func (s *Store) AlertChannelForSending(ctx context.Context, id int64) (models.AlertChannel, error) {
	var row alertChannelRow
	if err := s.read.WithContext(ctx).First(&row, id).Error; err != nil {
		return models.AlertChannel{}, mapErr(err, fmt.Sprintf("channel %d", id))
	}
	return s.channelModel(&row, true)
}

// ListAlertChannels returns every channel redacted, by name.
func (s *Store) ListAlertChannels(ctx context.Context) ([]models.AlertChannel, error) {
	var rows []alertChannelRow
	if err := s.read.WithContext(ctx).Order("name").Find(&rows).Error; err != nil {
		return nil, mapErr(err, "channels")
	}
	out := make([]models.AlertChannel, 0, len(rows))
	for i := range rows {
		c, err := s.channelModel(&rows[i], false)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// DeleteAlertChannel deletes a channel (its pending deliveries go with it).
func (s *Store) DeleteAlertChannel(ctx context.Context, id int64) error {
	res := s.db.WithContext(ctx).Delete(&alertChannelRow{}, id)
	if res.Error != nil {
		return mapErr(res.Error, "channel")
	}
	if res.RowsAffected == 0 {
		return models.Errorf(models.NotFound, "channel %d not found", id)
	}
	return nil
}

// ---- policies

func (s *Store) checkPolicyChannels(tx *gorm.DB, p *models.EscalationPolicy) error {
	var ps []models.Problem
	for i, l := range p.Levels {
		var n int64
		if err := tx.Model(&alertChannelRow{}).Where("id IN ?", l.Channels).Count(&n).Error; err != nil {
			return mapErr(err, "channels")
		}
		if int(n) != len(uniq(l.Channels)) {
			ps = append(ps, models.Problem{Path: fmt.Sprintf("levels[%d].channels", i), Message: "names a channel that does not exist"})
		}
	}
	if len(ps) > 0 {
		return models.Problems("the policy is not valid", ps)
	}
	return nil
}

func uniq(ids []int64) map[int64]bool {
	m := map[int64]bool{}
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// CreateAlertPolicy stores a new escalation policy.
func (s *Store) CreateAlertPolicy(ctx context.Context, p *models.EscalationPolicy) error {
	if err := p.Check(); err != nil {
		return err
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := s.checkPolicyChannels(tx, p); err != nil {
			return err
		}
		at := now()
		row := alertPolicyRow{Name: p.Name, Levels: NewJSON(p.Levels), Repeat: p.Repeat, CreatedAt: at, UpdatedAt: at}
		if err := tx.Create(&row).Error; err != nil {
			return mapErr(err, fmt.Sprintf("policy %q", p.Name))
		}
		*p = row.model()
		return nil
	})
}

// UpdateAlertPolicy changes a policy; open alerts follow it from their next step.
func (s *Store) UpdateAlertPolicy(ctx context.Context, p *models.EscalationPolicy) error {
	if err := p.Check(); err != nil {
		return err
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var row alertPolicyRow
		if err := tx.First(&row, p.ID).Error; err != nil {
			return mapErr(err, fmt.Sprintf("policy %d", p.ID))
		}
		if err := s.checkPolicyChannels(tx, p); err != nil {
			return err
		}
		row.Name, row.Levels, row.Repeat, row.UpdatedAt = p.Name, NewJSON(p.Levels), p.Repeat, now()
		if err := tx.Save(&row).Error; err != nil {
			return mapErr(err, fmt.Sprintf("policy %q", p.Name))
		}
		*p = row.model()
		return nil
	})
}

// AlertPolicy returns one policy.
func (s *Store) AlertPolicy(ctx context.Context, id int64) (models.EscalationPolicy, error) {
	var row alertPolicyRow
	if err := s.read.WithContext(ctx).First(&row, id).Error; err != nil {
		return models.EscalationPolicy{}, mapErr(err, fmt.Sprintf("policy %d", id))
	}
	return row.model(), nil
}

// ListAlertPolicies returns every policy by name.
func (s *Store) ListAlertPolicies(ctx context.Context) ([]models.EscalationPolicy, error) {
	var rows []alertPolicyRow
	if err := s.read.WithContext(ctx).Order("name").Find(&rows).Error; err != nil {
		return nil, mapErr(err, "policies")
	}
	out := make([]models.EscalationPolicy, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// DeleteAlertPolicy deletes a policy; its rules keep firing without one.
func (s *Store) DeleteAlertPolicy(ctx context.Context, id int64) error {
	res := s.db.WithContext(ctx).Delete(&alertPolicyRow{}, id)
	if res.Error != nil {
		return mapErr(res.Error, "policy")
	}
	if res.RowsAffected == 0 {
		return models.Errorf(models.NotFound, "policy %d not found", id)
	}
	return nil
}

// ---- rules

func checkRulePolicy(tx *gorm.DB, r *models.AlertRule) error {
	if r.Policy == nil {
		return nil
	}
	var n int64
	if err := tx.Model(&alertPolicyRow{}).Where("id = ?", *r.Policy).Count(&n).Error; err != nil {
		return mapErr(err, "policy")
	}
	if n == 0 {
		return models.Problems("the rule is not valid", []models.Problem{{Path: "policy", Message: fmt.Sprintf("policy %d does not exist", *r.Policy)}})
	}
	return nil
}

// CreateAlertRule stores a new rule.
func (s *Store) CreateAlertRule(ctx context.Context, r *models.AlertRule) error {
	if err := r.Check(); err != nil {
		return err
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := checkRulePolicy(tx, r); err != nil {
			return err
		}
		at := now()
		row := alertRuleRow{Name: r.Name, Severity: string(r.Severity), PolicyID: r.Policy, Enabled: r.Enabled,
			Condition: NewJSON(r.Condition), CreatedAt: at, UpdatedAt: at}
		if err := tx.Create(&row).Error; err != nil {
			return mapErr(err, fmt.Sprintf("rule %q", r.Name))
		}
		*r = row.model()
		return nil
	})
}

// UpdateAlertRule changes a rule.
func (s *Store) UpdateAlertRule(ctx context.Context, r *models.AlertRule) error {
	if err := r.Check(); err != nil {
		return err
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var row alertRuleRow
		if err := tx.First(&row, r.ID).Error; err != nil {
			return mapErr(err, fmt.Sprintf("rule %d", r.ID))
		}
		if err := checkRulePolicy(tx, r); err != nil {
			return err
		}
		row.Name, row.Severity, row.PolicyID, row.Enabled, row.Condition, row.UpdatedAt =
			r.Name, string(r.Severity), r.Policy, r.Enabled, NewJSON(r.Condition), now()
		if err := tx.Save(&row).Error; err != nil {
			return mapErr(err, fmt.Sprintf("rule %q", r.Name))
		}
		*r = row.model()
		return nil
	})
}

// AlertRule returns one rule.
func (s *Store) AlertRule(ctx context.Context, id int64) (models.AlertRule, error) {
	var row alertRuleRow
	if err := s.read.WithContext(ctx).First(&row, id).Error; err != nil {
		return models.AlertRule{}, mapErr(err, fmt.Sprintf("rule %d", id))
	}
	return row.model(), nil
}

// ListAlertRules returns every rule by name.
func (s *Store) ListAlertRules(ctx context.Context) ([]models.AlertRule, error) {
	var rows []alertRuleRow
	if err := s.read.WithContext(ctx).Order("name").Find(&rows).Error; err != nil {
		return nil, mapErr(err, "rules")
	}
	out := make([]models.AlertRule, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// DeleteAlertRule deletes a rule and its alerts.
func (s *Store) DeleteAlertRule(ctx context.Context, id int64) error {
	res := s.db.WithContext(ctx).Delete(&alertRuleRow{}, id)
	if res.Error != nil {
		return mapErr(res.Error, "rule")
	}
	if res.RowsAffected == 0 {
		return models.Errorf(models.NotFound, "rule %d not found", id)
	}
	return nil
}

// ---- alerts

func openKey(rule int64, subject string) string { return strconv.FormatInt(rule, 10) + "/" + subject }

func alertsQuery(db *gorm.DB) *gorm.DB { return db.Model(&alertRow{}) }

// names maps ids of a table to their name column.
func names(db *gorm.DB, table string, ids []int64) (map[int64]string, error) {
	type pair struct {
		ID   int64
		Name string
	}
	var ps []pair
	out := map[int64]string{}
	if len(ids) == 0 {
		return out, nil
	}
	if err := db.Table(table).Select("id, name").Where("id IN ?", ids).Scan(&ps).Error; err != nil {
		return nil, mapErr(err, table)
	}
	for _, p := range ps {
		out[p.ID] = p.Name
	}
	return out, nil
}

// RaiseAlert records one observation of a rule's condition on a subject:
// the open alert of that rule and subject counts it, or a new alert fires
// with its first escalation step due at once. created says which.
func (s *Store) RaiseAlert(ctx context.Context, in models.AlertRaise) (a models.Alert, created bool, err error) {
	at := micro(in.At)
	key := openKey(in.Rule, in.Subject)
	for try := 0; try < 2; try++ {
		err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			var rule alertRuleRow
			if err := tx.First(&rule, in.Rule).Error; err != nil {
				return mapErr(err, fmt.Sprintf("rule %d", in.Rule))
			}
			var row alertRow
			err := tx.Where("open_key = ?", key).Take(&row).Error
			if err == nil {
				row.Count += max(in.Count, 1)
				row.LastAt = at
				row.Summary = in.Summary
				if in.Links.Run != "" {
					row.RunID = in.Links.Run
				}
				if err := tx.Model(&alertRow{}).Where("id = ?", row.ID).Updates(map[string]any{
					"count": row.Count, "last_at": at, "summary": row.Summary, "run_id": row.RunID}).Error; err != nil {
					return mapErr(err, "alert")
				}
				a, created = row.model(rule.Name), false
				return nil
			}
			if !errors.Is(err, gorm.ErrRecordNotFound) {
				return mapErr(err, "alert")
			}
			row = alertRow{RuleID: in.Rule, OpenKey: &key, Subject: in.Subject, Severity: rule.Severity,
				State: string(models.AlertFiring), Summary: in.Summary, RunID: in.Links.Run, Template: in.Links.Template,
				FirstAt: at, LastAt: at, Count: max(in.Count, 1)}
			if rule.PolicyID != nil {
				var pol alertPolicyRow
				if err := tx.First(&pol, *rule.PolicyID).Error; err == nil {
					p := pol.model()
					if due, _, ok := p.StepAt(at, 0); ok {
						row.NextStepAt = &due
					}
				}
			}
			if err := tx.Create(&row).Error; err != nil {
				return mapErr(err, "alert")
			}
			a, created = row.model(rule.Name), true
			return nil
		})
		// Another instance opened the same alert first: count on it.
		if models.ErrorCode(err) != models.Conflict {
			break
		}
	}
	return a, created, err
}

// ResolveOpenAlert resolves the open alert of a rule and subject, if any,
// because its condition cleared; it reports whether there was one.
func (s *Store) ResolveOpenAlert(ctx context.Context, rule int64, subject string, at time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Model(&alertRow{}).Where("open_key = ?", openKey(rule, subject)).
		Updates(map[string]any{"open_key": nil, "state": string(models.AlertResolved), "resolved_at": micro(at),
			"resolved_by": "", "next_step_at": nil})
	if res.Error != nil {
		return false, mapErr(res.Error, "alert")
	}
	return res.RowsAffected > 0, nil
}

// OpenAlertSubjects returns the subjects of a rule's open alerts.
func (s *Store) OpenAlertSubjects(ctx context.Context, rule int64) ([]string, error) {
	var out []string
	err := s.read.WithContext(ctx).Model(&alertRow{}).Where("rule_id = ? AND open_key IS NOT NULL", rule).
		Order("id").Pluck("subject", &out).Error
	return out, mapErr(err, "alerts")
}

// Alert returns one alert.
func (s *Store) Alert(ctx context.Context, id int64) (models.Alert, error) {
	var row alertRow
	if err := s.read.WithContext(ctx).Take(&row, id).Error; err != nil {
		return models.Alert{}, mapErr(err, fmt.Sprintf("alert %d", id))
	}
	rn, err := names(s.read.WithContext(ctx), "alert_rules", []int64{row.RuleID})
	if err != nil {
		return models.Alert{}, err
	}
	return row.model(rn[row.RuleID]), nil
}

// ListAlerts returns alerts newest first: state "" for all, "open" for
// firing and acknowledged, or one state; at most limit.
func (s *Store) ListAlerts(ctx context.Context, state string, limit int) ([]models.Alert, error) {
	q := alertsQuery(s.read.WithContext(ctx))
	switch state {
	case "":
	case "open":
		q = q.Where("state IN ?", []string{string(models.AlertFiring), string(models.AlertAcknowledged)})
	case string(models.AlertFiring), string(models.AlertAcknowledged), string(models.AlertResolved):
		q = q.Where("state = ?", state)
	default:
		return nil, models.Errorf(models.BadRequest, "state must be open, firing, acknowledged or resolved")
	}
	if limit <= 0 || limit > 500 {
		limit = 500
	}
	var rows []alertRow
	if err := q.Order("id DESC").Limit(limit).Find(&rows).Error; err != nil {
		return nil, mapErr(err, "alerts")
	}
	ids := make([]int64, len(rows))
	for i := range rows {
		ids[i] = rows[i].RuleID
	}
	rn, err := names(s.read.WithContext(ctx), "alert_rules", ids)
	if err != nil {
		return nil, err
	}
	out := make([]models.Alert, len(rows))
	for i := range rows {
		out[i] = rows[i].model(rn[rows[i].RuleID])
	}
	return out, nil
}

// changeAlert applies a hand-made change to an open alert.
func (s *Store) changeAlert(ctx context.Context, id int64, what string, set func(row *alertRow) map[string]any) (models.Alert, error) {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var row alertRow
		if err := tx.First(&row, id).Error; err != nil {
			return mapErr(err, fmt.Sprintf("alert %d", id))
		}
		if row.State == string(models.AlertResolved) {
			return models.Errorf(models.Conflict, "alert %d is resolved; it cannot be %s", id, what)
		}
		if err := tx.Model(&alertRow{}).Where("id = ?", id).Updates(set(&row)).Error; err != nil {
			return mapErr(err, "alert")
		}
		return nil
	})
	if err != nil {
		return models.Alert{}, err
	}
	return s.Alert(ctx, id)
}

// AckAlert acknowledges an alert: escalation stops; by is recorded.
func (s *Store) AckAlert(ctx context.Context, id int64, by string, at time.Time) (models.Alert, error) {
	return s.changeAlert(ctx, id, "acknowledged", func(*alertRow) map[string]any {
		return map[string]any{"state": string(models.AlertAcknowledged), "acked_by": by, "acked_at": micro(at), "next_step_at": nil}
	})
}

// ResolveAlert resolves an alert by hand.
func (s *Store) ResolveAlert(ctx context.Context, id int64, by string, at time.Time) (models.Alert, error) {
	return s.changeAlert(ctx, id, "resolved", func(*alertRow) map[string]any {
		return map[string]any{"state": string(models.AlertResolved), "open_key": nil, "resolved_by": by,
			"resolved_at": micro(at), "next_step_at": nil}
	})
}

// SnoozeAlert holds an alert's escalation until until; it resumes then if
// the alert is still unacknowledged.
func (s *Store) SnoozeAlert(ctx context.Context, id int64, until time.Time) (models.Alert, error) {
	return s.changeAlert(ctx, id, "snoozed", func(*alertRow) map[string]any {
		return map[string]any{"snoozed_until": micro(until)}
	})
}

// ---- escalation and deliveries

// EscalateDue takes every escalation step due at now of firing, unsnoozed
// alerts: it owes each channel of the step's level a delivery (a row, sent
// by the dispatcher) and moves the alert's timer to its next step, in one
// transaction, so each step is taken once. It returns the steps taken.
func (s *Store) EscalateDue(ctx context.Context, at time.Time) (int, error) {
	at = micro(at)
	var rows []alertRow
	err := s.read.WithContext(ctx).Where("next_step_at IS NOT NULL AND next_step_at <= ? AND state = ?", at, string(models.AlertFiring)).
		Where("snoozed_until IS NULL OR snoozed_until <= ?", at).Order("next_step_at").Limit(200).Find(&rows).Error
	if err != nil {
		return 0, mapErr(err, "alerts")
	}
	taken := 0
	for _, a := range rows {
		err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			var rule alertRuleRow
			if err := tx.First(&rule, a.RuleID).Error; err != nil {
				return mapErr(err, "rule")
			}
			var pol alertPolicyRow
			if rule.PolicyID == nil || tx.First(&pol, *rule.PolicyID).Error != nil {
				return tx.Model(&alertRow{}).Where("id = ?", a.ID).Update("next_step_at", nil).Error
			}
			p := pol.model()
			_, level, ok := p.StepAt(a.FirstAt, a.NextStep)
			var next *time.Time
			if due, _, more := p.StepAt(a.FirstAt, a.NextStep+1); more {
				d := micro(due)
				next = &d
			}
			res := tx.Model(&alertRow{}).Where("id = ? AND next_step = ? AND state = ?", a.ID, a.NextStep, string(models.AlertFiring)).
				Updates(map[string]any{"next_step": a.NextStep + 1, "level": max(level, a.Level), "next_step_at": next})
			if res.Error != nil {
				return mapErr(res.Error, "alert")
			}
			if res.RowsAffected == 0 || !ok {
				return nil // another instance took it, or the policy shrank
			}
			var chans []int64
			if err := tx.Model(&alertChannelRow{}).Where("id IN ?", p.Levels[level-1].Channels).Order("id").Pluck("id", &chans).Error; err != nil {
				return mapErr(err, "channels")
			}
			for _, ch := range chans {
				d := alertDeliveryRow{ID: newDeliveryID(at), AlertID: a.ID, ChannelID: ch, Level: level, Step: a.NextStep,
					Status: models.DeliveryPending, NextAt: at, CreatedAt: at}
				if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&d).Error; err != nil {
					return mapErr(err, "delivery")
				}
			}
			taken++
			return nil
		})
		if err != nil {
			return taken, err
		}
	}
	return taken, nil
}

func newDeliveryID(at time.Time) string {
	return ulid.MustNew(ulid.Timestamp(at), rand.Reader).String()
}

// ClaimDeliveries leases up to limit pending deliveries due at now for
// lease, so that no other instance sends them meanwhile.
func (s *Store) ClaimDeliveries(ctx context.Context, at time.Time, lease time.Duration, limit int) ([]models.AlertDelivery, error) {
	at = micro(at)
	var rows []alertDeliveryRow
	err := s.read.WithContext(ctx).Where("status = ? AND next_at <= ?", models.DeliveryPending, at).
		Where("lease_until IS NULL OR lease_until < ?", at).Order("next_at").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, mapErr(err, "deliveries")
	}
	until := at.Add(lease)
	var out []models.AlertDelivery
	for i := range rows {
		res := s.db.WithContext(ctx).Model(&alertDeliveryRow{}).
			Where("id = ? AND status = ? AND (lease_until IS NULL OR lease_until < ?)", rows[i].ID, models.DeliveryPending, at).
			Update("lease_until", until)
		if res.Error != nil {
			return out, mapErr(res.Error, "delivery")
		}
		if res.RowsAffected == 1 {
			out = append(out, rows[i].model())
		}
	}
	return out, nil
}

// FinishDeliveryAttempt logs one attempt of a delivery and settles it:
// status sent or failed ends it; pending retries it at next.
func (s *Store) FinishDeliveryAttempt(ctx context.Context, d models.AlertDelivery, status, answer string, at, next time.Time) error {
	at = micro(at)
	if len(answer) > 2000 {
		answer = answer[:2000]
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var row alertDeliveryRow
		if err := tx.First(&row, "id = ?", d.ID).Error; err != nil {
			return mapErr(err, "delivery")
		}
		logged := status
		if status == models.DeliveryPending {
			logged = models.DeliveryFailed
		}
		att := alertAttemptRow{DeliveryID: d.ID, AlertID: row.AlertID, ChannelID: row.ChannelID, Level: row.Level,
			Attempt: row.Attempts + 1, Status: logged, Answer: answer, At: at}
		if err := tx.Create(&att).Error; err != nil {
			return mapErr(err, "delivery attempt")
		}
		return mapErr(tx.Model(&alertDeliveryRow{}).Where("id = ?", d.ID).Updates(map[string]any{
			"status": status, "attempts": row.Attempts + 1, "next_at": micro(next), "lease_until": nil}).Error, "delivery")
	})
}

// AlertDeliveries returns an alert's delivery log: every attempt, then the
// deliveries not yet attempted (status pending, attempt 0), oldest first.
func (s *Store) AlertDeliveries(ctx context.Context, alertID int64) ([]models.DeliveryAttempt, error) {
	if _, err := s.Alert(ctx, alertID); err != nil {
		return nil, err
	}
	db := s.read.WithContext(ctx)
	var rows []alertAttemptRow
	if err := db.Where("alert_id = ?", alertID).Order("id").Find(&rows).Error; err != nil {
		return nil, mapErr(err, "deliveries")
	}
	var pend []alertDeliveryRow
	if err := db.Where("alert_id = ? AND status = ? AND attempts = 0", alertID, models.DeliveryPending).
		Order("created_at, id").Find(&pend).Error; err != nil {
		return nil, mapErr(err, "deliveries")
	}
	var ids []int64
	for _, r := range rows {
		ids = append(ids, r.ChannelID)
	}
	for _, p := range pend {
		ids = append(ids, p.ChannelID)
	}
	cn, err := names(db, "alert_channels", ids)
	if err != nil {
		return nil, err
	}
	out := make([]models.DeliveryAttempt, 0, len(rows)+len(pend))
	for _, r := range rows {
		out = append(out, models.DeliveryAttempt{Delivery: r.DeliveryID, Channel: r.ChannelID, ChannelName: cn[r.ChannelID],
			Level: r.Level, Attempt: r.Attempt, Status: r.Status, Answer: r.Answer, At: r.At.UTC()})
	}
	for _, p := range pend {
		out = append(out, models.DeliveryAttempt{Delivery: p.ID, Channel: p.ChannelID, ChannelName: cn[p.ChannelID],
			Level: p.Level, Status: models.DeliveryPending, At: p.NextAt.UTC()})
	}
	return out, nil
}

// ---- in-app notifications and settings

// AddNotifications stores in-app notifications.
func (s *Store) AddNotifications(ctx context.Context, ns []models.Notification) error {
	if len(ns) == 0 {
		return nil
	}
	rows := make([]notificationRow, len(ns))
	at := now()
	for i, n := range ns {
		rows[i] = notificationRow{UserName: n.User, AlertID: n.Alert, Title: n.Title, Body: n.Body, Link: n.Link, CreatedAt: at}
	}
	return mapErr(s.db.WithContext(ctx).Create(&rows).Error, "notifications")
}

// ListNotifications returns a user's newest notifications.
func (s *Store) ListNotifications(ctx context.Context, user string, limit int) ([]models.Notification, error) {
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	var rows []notificationRow
	if err := s.read.WithContext(ctx).Where("user_name = ?", user).Order("id DESC").Limit(limit).Find(&rows).Error; err != nil {
		return nil, mapErr(err, "notifications")
	}
	out := make([]models.Notification, len(rows))
	for i, r := range rows {
		out[i] = models.Notification{ID: r.ID, User: r.UserName, Alert: r.AlertID, Title: r.Title, Body: r.Body,
			Link: r.Link, CreatedAt: r.CreatedAt.UTC(), ReadAt: utcPtr(r.ReadAt)}
	}
	return out, nil
}

// UnreadNotifications counts a user's unread notifications.
func (s *Store) UnreadNotifications(ctx context.Context, user string) (int64, error) {
	var n int64
	err := s.read.WithContext(ctx).Model(&notificationRow{}).Where("user_name = ? AND read_at IS NULL", user).Count(&n).Error
	return n, mapErr(err, "notifications")
}

// MarkNotificationsRead marks all of a user's notifications read.
func (s *Store) MarkNotificationsRead(ctx context.Context, user string, at time.Time) error {
	return mapErr(s.db.WithContext(ctx).Model(&notificationRow{}).Where("user_name = ? AND read_at IS NULL", user).
		Update("read_at", micro(at)).Error, "notifications")
}

// NotifySettings returns a user's notification settings (empty when unset).
func (s *Store) NotifySettings(ctx context.Context, user string) (models.NotifySettings, error) {
	var row notifySettingsRow
	err := s.read.WithContext(ctx).Where("user_name = ?", user).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return models.NotifySettings{}, nil
	}
	if err != nil {
		return models.NotifySettings{}, mapErr(err, "settings")
	}
	return models.NotifySettings{Email: row.Email}, nil
}

// SetNotifySettings stores a user's notification settings.
func (s *Store) SetNotifySettings(ctx context.Context, user string, ns models.NotifySettings) error {
	row := notifySettingsRow{UserName: user, Email: ns.Email, UpdatedAt: now()}
	return mapErr(s.db.WithContext(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "user_name"}},
		DoUpdates: clause.AssignmentColumns([]string{"email", "updated_at"})}).Create(&row).Error, "settings")
}

// VersionsWaitingReview lists every version in review, oldest submission
// first, for the review_waiting rule.
func (s *Store) VersionsWaitingReview(ctx context.Context) ([]models.InboxItem, error) {
	var rows []inboxRow
	err := s.read.WithContext(ctx).Table("template_versions AS v").
		Select(`t.key, t.name, t.required_approvals, v.number, v.author, v.submitted_at,
			(SELECT COUNT(*) FROM version_approvals a WHERE a.version_id = v.id AND a.round = v.review_round) AS approvals`).
		Joins("JOIN templates t ON t.id = v.template_id").
		Where("v.status = ?", models.VersionInReview).
		Order("v.submitted_at, v.id").Limit(1000).Scan(&rows).Error
	if err != nil {
		return nil, mapErr(err, "versions in review")
	}
	out := make([]models.InboxItem, len(rows))
	for i, r := range rows {
		out[i] = models.InboxItem{Template: r.Key, TemplateName: r.Name, Version: r.Number, Author: r.Author,
			SubmittedAt: r.SubmittedAt.UTC(), Approvals: r.Approvals, RequiredApprovals: quorum(r.RequiredApprovals)}
	}
	return out, nil
}
