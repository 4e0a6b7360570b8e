package views

// View models of the alert pages (/alerts, its editors, /notifications
// and the header's bell).

// AlertsView is /alerts: open alerts, then history.
type AlertsView struct {
	CSRF       string
	CanAct     bool // operators and admins acknowledge, resolve, snooze
	Open       []AlertRow
	History    []AlertRow
	Configured bool // any rule exists
}

// AlertRow is one alert in a table.
type AlertRow struct {
	ID       int64
	Rule     string
	Severity string
	State    string
	Subject  string
	Summary  string
	FirstAt  string
	LastAt   string
	Count    int
	Level    int
	AckedBy  string
	Snoozed  string // "until …" when snoozed
	RunLink  string
	Resolved string
}

// AlertDetailView is /alerts/{id}: one alert and its delivery log.
type AlertDetailView struct {
	CSRF       string
	CanAct     bool
	Alert      AlertRow
	Deliveries []DeliveryRow
}

// DeliveryRow is one attempt of the delivery log.
type DeliveryRow struct {
	At       string
	Channel  string
	Level    int
	Attempt  int
	Status   string
	Answer   string
	Delivery string
}

// AlertTab names the sub-pages of Alerts.
type AlertTab struct {
	Key, Label, Href string
}

// AlertTabs are the sub-pages of Alerts, in order.
var AlertTabs = []AlertTab{
	{"alerts", "Alerts", "/alerts"},
	{"rules", "Rules", "/alerts/rules"},
	{"channels", "Channels", "/alerts/channels"},
	{"policies", "Escalation policies", "/alerts/policies"},
}

// Option is one choice of a select.
type Option struct {
	Value, Label string
}

// RulesView is /alerts/rules, and a rule's editor (Form).
type RulesView struct {
	CSRF     string
	IsAdmin  bool
	Rules    []RuleRow
	Policies []Option
	Kinds    []Option
	Form     RuleForm
}

// RuleForm is the rule form's values.
type RuleForm struct {
	Action, Submit, CSRF                              string
	Name, Severity, Policy, Kind, Template, Threshold string
	Window, MinRuns, Step, Metric, Sensitivity, For   string
	Enabled                                           bool
}

// RuleRow is one rule.
type RuleRow struct {
	ID        int64
	Name      string
	Severity  string
	Kind      string
	Condition string
	Policy    string
	Enabled   bool
}

// ChannelsView is /alerts/channels, and a channel's editor (Form).
type ChannelsView struct {
	CSRF     string
	IsAdmin  bool
	Channels []ChannelRow
	Email    string // the server's SMTP settings, password hidden, or "off"
	Form     ChannelForm
}

// ChannelForm is the channel form's values; never a secret.
type ChannelForm struct {
	Action, Submit, CSRF              string
	Editing                           bool
	Name, Kind, URL, To, Users, Roles string
	SecretSet, URLSet                 bool
}

// ChannelRow is one channel; its secrets never reach the view.
type ChannelRow struct {
	ID     int64
	Name   string
	Kind   string
	Target string
}

// TestResultView is the answer of a channel's "send test".
type TestResultView struct {
	ID     int64
	OK     bool
	Answer string
	Error  string
}

// PoliciesView is /alerts/policies, and a policy's editor (Form).
type PoliciesView struct {
	CSRF     string
	IsAdmin  bool
	Policies []PolicyRow
	Channels []Option
	Form     PolicyForm
}

// PolicyForm is the policy form's values: Levels rows (at least three).
type PolicyForm struct {
	Action, Submit, CSRF string
	Name, Repeat         string
	Levels               []LevelForm
}

// LevelForm is one level row: its delay and chosen channels (by id).
type LevelForm struct {
	After    string
	Channels map[string]bool
}

// PolicyRow is one policy, its levels in words.
type PolicyRow struct {
	ID     int64
	Name   string
	Levels []string
	Repeat int
}

// NotificationsView is /notifications: the user's bell and settings.
type NotificationsView struct {
	CSRF  string
	Items []NotificationRow
	Email string
	Saved bool
}

// NotificationRow is one in-app notification.
type NotificationRow struct {
	Title  string
	Body   string
	Link   string
	At     string
	Unread bool
}

// BellView is the header's bell.
type BellView struct {
	Unread int64
}
