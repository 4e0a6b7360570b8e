package models

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Alerting: rules watch runs, reviews and the engine; what fires is an
// Alert, one per rule and subject while it is open; an escalation policy
// says which channels hear of it and when, until someone acknowledges it.
// The shapes are those of shared/spec/alerts.md.

// AlertSeverity is how bad an alert is.
type AlertSeverity string

// Severities.
const (
	SeverityInfo     AlertSeverity = "info"
	SeverityWarning  AlertSeverity = "warning"
	SeverityCritical AlertSeverity = "critical"
)

// AlertState is where an alert is in its life.
type AlertState string

// Alert states.
const (
	AlertFiring       AlertState = "firing"
	AlertAcknowledged AlertState = "acknowledged"
	AlertResolved     AlertState = "resolved"
)

// Channel kinds.
const (
	ChannelWebhook = "webhook"
	ChannelEmail   = "email"
	ChannelSlack   = "slack"
	ChannelInApp   = "inapp"
)

// Condition kinds of a rule.
const (
	CondRunFailed     = "run_failed"
	CondFailureRate   = "failure_rate"
	CondDurationOver  = "duration_over"
	CondStepStuck     = "step_stuck"
	CondAnomaly       = "anomaly"
	CondReviewWaiting = "review_waiting"
	CondDeviceOffline = "device_offline"
	CondBacklog       = "backlog"
	CondDatabaseDown  = "database_unavailable"
)

// ConditionKinds lists every condition kind, in the spec's order.
var ConditionKinds = []string{CondRunFailed, CondFailureRate, CondDurationOver, CondStepStuck, CondAnomaly,
	CondReviewWaiting, CondDeviceOffline, CondBacklog, CondDatabaseDown}

// ChannelKinds lists every channel kind.
var ChannelKinds = []string{ChannelWebhook, ChannelEmail, ChannelSlack, ChannelInApp}

// ChannelConfig is a channel's settings; which fields apply depends on the
// kind. Secret (a webhook's signing key) and a Slack URL (which carries its
// token) are stored sealed and never shown back: a channel read from the
// store has them empty and SecretSet or URLSet true instead.
type ChannelConfig struct {
	URL       string   `json:"url,omitempty"`
	Secret    string   `json:"secret,omitempty"`
	SecretSet bool     `json:"secretSet,omitempty"`
	URLSet    bool     `json:"urlSet,omitempty"`
	To        []string `json:"to,omitempty"`
	Users     []string `json:"users,omitempty"`
	Roles     []string `json:"roles,omitempty"`
}

// AlertChannel is somewhere notifications go.
type AlertChannel struct {
	ID        int64         `json:"id"`
	Name      string        `json:"name"`
	Kind      string        `json:"kind"`
	Config    ChannelConfig `json:"config"`
	CreatedAt time.Time     `json:"createdAt"`
	UpdatedAt time.Time     `json:"updatedAt"`
}

// Redacted returns the channel as it may be shown: secrets removed,
// a Slack URL cut to its host.
func (c AlertChannel) Redacted() AlertChannel {
	if c.Config.Secret != "" {
		c.Config.SecretSet = true
	}
	c.Config.Secret = ""
	if c.Kind == ChannelSlack {
		if c.Config.URL != "" {
			c.Config.URLSet = true
			if u, err := url.Parse(c.Config.URL); err == nil && u.Host != "" {
				c.Config.URL = u.Scheme + "://" + u.Host + "/…"
			} else {
				c.Config.URL = "…"
			}
		}
	}
	return c
}

// Check validates a channel for saving. A channel being updated may leave
// its secret (and a Slack URL) empty to keep the stored one: keep says so.
func (c *AlertChannel) Check(keep bool) error {
	var ps []Problem
	c.Name = strings.TrimSpace(c.Name)
	if c.Name == "" || len(c.Name) > 100 {
		ps = append(ps, Problem{Path: "name", Message: "a name of 1 to 100 characters is required"})
	}
	switch c.Kind {
	case ChannelWebhook, ChannelSlack:
		if c.Config.URL == "" && (!keep || c.Kind != ChannelSlack) {
			ps = append(ps, Problem{Path: "config.url", Message: "a URL is required"})
		} else if c.Config.URL != "" {
			u, err := url.Parse(c.Config.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				ps = append(ps, Problem{Path: "config.url", Message: "an http:// or https:// URL is required"})
			}
		}
		if c.Kind == ChannelWebhook && c.Config.Secret == "" && !keep {
			ps = append(ps, Problem{Path: "config.secret", Message: "a signing secret is required"})
		}
		if len(c.Config.Secret) > 1024 {
			ps = append(ps, Problem{Path: "config.secret", Message: "the secret is longer than 1024 bytes"})
		}
	case ChannelEmail:
		if len(c.Config.To) == 0 {
			ps = append(ps, Problem{Path: "config.to", Message: "at least one address is required"})
		}
		for i, a := range c.Config.To {
			if _, err := mail.ParseAddress(a); err != nil {
				ps = append(ps, Problem{Path: fmt.Sprintf("config.to[%d]", i), Message: fmt.Sprintf("%q is not an email address", a)})
			}
		}
	case ChannelInApp:
		if len(c.Config.Users) == 0 && len(c.Config.Roles) == 0 {
			ps = append(ps, Problem{Path: "config", Message: "users or roles are required"})
		}
		for i, r := range c.Config.Roles {
			if _, err := ParseRole(r); err != nil {
				ps = append(ps, Problem{Path: fmt.Sprintf("config.roles[%d]", i), Message: err.Error()})
			}
		}
	default:
		ps = append(ps, Problem{Path: "kind", Message: "kind must be one of " + strings.Join(ChannelKinds, ", ")})
	}
	if len(ps) > 0 {
		return Problems("the channel is not valid", ps)
	}
	return nil
}

// EscalationLevel is one step of a policy: its channels are notified when
// After has passed since the alert fired and it is still unacknowledged.
type EscalationLevel struct {
	After    string  `json:"after"`
	Channels []int64 `json:"channels"`
}

// EscalationPolicy is who hears of an alert, and when.
type EscalationPolicy struct {
	ID        int64             `json:"id"`
	Name      string            `json:"name"`
	Levels    []EscalationLevel `json:"levels"`
	Repeat    int               `json:"repeat"`
	CreatedAt time.Time         `json:"createdAt"`
	UpdatedAt time.Time         `json:"updatedAt"`
}

// MinRepeatInterval is the shortest pause between repeats of the last level.
const MinRepeatInterval = time.Minute

// Check validates a policy for saving.
func (p *EscalationPolicy) Check() error {
	var ps []Problem
	p.Name = strings.TrimSpace(p.Name)
	if p.Name == "" || len(p.Name) > 100 {
		ps = append(ps, Problem{Path: "name", Message: "a name of 1 to 100 characters is required"})
	}
	if len(p.Levels) == 0 || len(p.Levels) > 20 {
		ps = append(ps, Problem{Path: "levels", Message: "1 to 20 levels are required"})
	}
	var prev time.Duration
	for i, l := range p.Levels {
		d, err := parseAlertDuration(l.After)
		switch {
		case err != nil:
			ps = append(ps, Problem{Path: fmt.Sprintf("levels[%d].after", i), Message: err.Error()})
		case d < prev:
			ps = append(ps, Problem{Path: fmt.Sprintf("levels[%d].after", i), Message: "levels must come in order of their after"})
		default:
			prev = d
		}
		if len(l.Channels) == 0 {
			ps = append(ps, Problem{Path: fmt.Sprintf("levels[%d].channels", i), Message: "at least one channel is required"})
		}
	}
	if p.Repeat < 0 || p.Repeat > 100 {
		ps = append(ps, Problem{Path: "repeat", Message: "repeat is 0 to 100"})
	}
	if len(ps) > 0 {
		return Problems("the policy is not valid", ps)
	}
	return nil
}

// Steps is how many notifications the policy makes at most: its levels,
// then the last level Repeat more times.
func (p *EscalationPolicy) Steps() int { return len(p.Levels) + p.Repeat }

// StepAt returns when step k (0-based) is due for an alert that fired at
// firstAt, and the level (1-based) it notifies; ok is false past the last
// step. Repeats of the last level come at the interval between the last
// two levels (or the last level's after when it is the only one), at least
// MinRepeatInterval.
func (p *EscalationPolicy) StepAt(firstAt time.Time, k int) (at time.Time, level int, ok bool) {
	n := len(p.Levels)
	if k < 0 || n == 0 || k >= p.Steps() {
		return time.Time{}, 0, false
	}
	after := func(i int) time.Duration { d, _ := parseAlertDuration(p.Levels[i].After); return d }
	if k < n {
		return firstAt.Add(after(k)), k + 1, true
	}
	gap := after(n - 1)
	if n > 1 {
		gap -= after(n - 2)
	}
	gap = max(gap, MinRepeatInterval)
	return firstAt.Add(after(n-1) + time.Duration(k-n+1)*gap), n, true
}

// AlertCondition is what a rule watches. Threshold is a number
// (failure_rate: a share 0–1; backlog: a count) or a duration ("10m").
type AlertCondition struct {
	Kind        string     `json:"kind"`
	Template    string     `json:"template,omitempty"`
	Step        string     `json:"step,omitempty"`
	Device      string     `json:"device,omitempty"`
	Window      string     `json:"window,omitempty"`
	Threshold   *Threshold `json:"threshold,omitempty"`
	MinRuns     int        `json:"minRuns,omitempty"`
	Metric      string     `json:"metric,omitempty"`
	Sensitivity float64    `json:"sensitivity,omitempty"`
	For         string     `json:"for,omitempty"`
}

// Threshold is a number or a duration string, kept as written.
type Threshold struct {
	Num float64
	Dur time.Duration
	Raw string // the duration as written; "" for a number
}

// MarshalJSON writes the threshold as it was given.
func (t Threshold) MarshalJSON() ([]byte, error) {
	if t.Raw != "" {
		return json.Marshal(t.Raw)
	}
	return json.Marshal(t.Num)
}

// UnmarshalJSON reads a number or a duration string.
func (t *Threshold) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		d, err := parseAlertDuration(s)
		if err != nil {
			if n, nerr := strconv.ParseFloat(s, 64); nerr == nil {
				*t = Threshold{Num: n}
				return nil
			}
			return err
		}
		*t = Threshold{Dur: d, Raw: s, Num: d.Seconds()}
		return nil
	}
	var n float64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("threshold is a number or a duration such as \"10m\"")
	}
	*t = Threshold{Num: n}
	return nil
}

// Duration returns the threshold as a duration; a bare number counts seconds.
func (t *Threshold) Duration() time.Duration {
	if t == nil {
		return 0
	}
	if t.Raw != "" {
		return t.Dur
	}
	return time.Duration(t.Num * float64(time.Second))
}

// AlertRule says when to raise an alert and which policy escalates it.
type AlertRule struct {
	ID        int64          `json:"id"`
	Name      string         `json:"name"`
	Severity  AlertSeverity  `json:"severity"`
	Policy    *int64         `json:"policy"`
	Enabled   bool           `json:"enabled"`
	Condition AlertCondition `json:"condition"`
	CreatedAt time.Time      `json:"createdAt"`
	UpdatedAt time.Time      `json:"updatedAt"`
}

// Default parameters of conditions.
const (
	DefaultAnomalySensitivity = 3.5
	DefaultFailureWindow      = time.Hour
	DefaultMinRuns            = 5
)

// Check validates a rule for saving.
func (r *AlertRule) Check() error {
	var ps []Problem
	add := func(path, msg string) { ps = append(ps, Problem{Path: path, Message: msg}) }
	r.Name = strings.TrimSpace(r.Name)
	if r.Name == "" || len(r.Name) > 100 {
		add("name", "a name of 1 to 100 characters is required")
	}
	if r.Severity == "" {
		r.Severity = SeverityWarning
	}
	if !slices.Contains([]AlertSeverity{SeverityInfo, SeverityWarning, SeverityCritical}, r.Severity) {
		add("severity", "severity is info, warning or critical")
	}
	c := &r.Condition
	needDur := func(field string) {
		if c.Threshold == nil || c.Threshold.Duration() <= 0 {
			add("condition."+field, "a duration such as \"10m\" is required")
		}
	}
	durField := func(field, v string, required bool) {
		if v == "" && !required {
			return
		}
		if _, err := parseAlertDuration(v); err != nil {
			add("condition."+field, err.Error())
		}
	}
	switch c.Kind {
	case CondRunFailed, CondDatabaseDown:
	case CondFailureRate:
		durField("window", c.Window, false)
		if c.Threshold == nil || c.Threshold.Raw != "" || c.Threshold.Num < 0 || c.Threshold.Num >= 1 {
			add("condition.threshold", "a share from 0 to below 1 is required (0.2 is 20 %)")
		}
		if c.MinRuns < 0 {
			add("condition.minRuns", "minRuns cannot be negative")
		}
	case CondDurationOver, CondReviewWaiting:
		needDur("threshold")
	case CondStepStuck:
		needDur("threshold")
		if c.Step == "" {
			add("condition.step", "a step id is required")
		}
	case CondDeviceOffline:
		needDur("threshold")
	case CondAnomaly:
		if c.Template == "" {
			add("condition.template", "a template is required: the baseline is the template's own")
		}
		if c.Metric == "" {
			c.Metric = "duration"
		}
		if c.Metric != "duration" && c.Metric != "failure_rate" {
			add("condition.metric", "metric is duration or failure_rate")
		}
		if c.Sensitivity < 0 || c.Sensitivity > 100 {
			add("condition.sensitivity", "sensitivity is a z-score from 0 to 100 (default 3.5)")
		}
	case CondBacklog:
		if c.Threshold == nil || c.Threshold.Raw != "" || c.Threshold.Num < 1 {
			add("condition.threshold", "a count of at least 1 is required")
		}
		durField("for", c.For, false)
	default:
		add("condition.kind", "kind must be one of "+strings.Join(ConditionKinds, ", "))
	}
	if len(ps) > 0 {
		return Problems("the rule is not valid", ps)
	}
	return nil
}

// AlertLinks point at what an alert is about.
type AlertLinks struct {
	Run      string `json:"run,omitempty"`
	Template string `json:"template,omitempty"`
}

// Alert is what fired.
type Alert struct {
	ID           int64         `json:"id"`
	Rule         int64         `json:"rule"`
	RuleName     string        `json:"ruleName"`
	Severity     AlertSeverity `json:"severity"`
	State        AlertState    `json:"state"`
	Subject      string        `json:"subject"`
	Summary      string        `json:"summary"`
	FirstAt      time.Time     `json:"firstAt"`
	LastAt       time.Time     `json:"lastAt"`
	Count        int           `json:"count"`
	Level        int           `json:"level"`
	Links        AlertLinks    `json:"links"`
	AckedBy      string        `json:"ackedBy,omitempty"`
	AckedAt      *time.Time    `json:"ackedAt,omitempty"`
	ResolvedBy   string        `json:"resolvedBy,omitempty"`
	ResolvedAt   *time.Time    `json:"resolvedAt,omitempty"`
	SnoozedUntil *time.Time    `json:"snoozedUntil,omitempty"`
}

// AlertRaise is one observation (or Count observations, the latest
// described) of a rule's condition on a subject.
type AlertRaise struct {
	Rule    int64
	Subject string
	Summary string
	Links   AlertLinks
	At      time.Time
	Count   int // 0 counts as 1
}

// Delivery statuses.
const (
	DeliveryPending = "pending"
	DeliverySent    = "sent"
	DeliveryFailed  = "failed" // given up after the last retry
)

// AlertDelivery is one notification of one alert on one channel at one
// escalation step, sent (and retried) under one delivery id.
type AlertDelivery struct {
	ID        string    `json:"id"`
	Alert     int64     `json:"alert"`
	Channel   int64     `json:"channel"`
	Level     int       `json:"level"`
	Step      int       `json:"step"`
	Status    string    `json:"status"`
	Attempts  int       `json:"attempts"`
	NextAt    time.Time `json:"nextAt"`
	CreatedAt time.Time `json:"createdAt"`
}

// DeliveryAttempt is one try of a delivery: the delivery log.
type DeliveryAttempt struct {
	Delivery    string    `json:"delivery"`
	Channel     int64     `json:"channel"`
	ChannelName string    `json:"channelName"`
	Level       int       `json:"level"`
	Attempt     int       `json:"attempt"`
	Status      string    `json:"status"` // sent or failed
	Answer      string    `json:"answer"`
	At          time.Time `json:"at"`
}

// Notification is one in-app message of a user's bell.
type Notification struct {
	ID        int64      `json:"id"`
	User      string     `json:"user"`
	Alert     *int64     `json:"alert,omitempty"`
	Title     string     `json:"title"`
	Body      string     `json:"body"`
	Link      string     `json:"link"`
	CreatedAt time.Time  `json:"createdAt"`
	ReadAt    *time.Time `json:"readAt,omitempty"`
}

// NotifySettings is a user's own notification settings.
type NotifySettings struct {
	Email string `json:"email"`
}

// parseAlertDuration reads "0s", "5m", "1h30m", "2d".
func parseAlertDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("a duration such as \"5m\" is required")
	}
	if strings.HasSuffix(s, "d") {
		n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
		if err == nil && n >= 0 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as \"5m\"", s)
	}
	return d, nil
}

// ParseAlertDuration reads a duration of the alert settings ("5m", "2d").
func ParseAlertDuration(s string) (time.Duration, error) { return parseAlertDuration(s) }
