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

// RulesView is /alerts/rules.
type RulesView struct {
	CSRF     string
	IsAdmin  bool
	Rules    []RuleRow
	Policies []Option
	Kinds    []Option
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

// ChannelsView is /alerts/channels.
type ChannelsView struct {
	CSRF     string
	IsAdmin  bool
	Channels []ChannelRow
	Email    string // the server's SMTP settings, password hidden, or "off"
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

// PoliciesView is /alerts/policies.
type PoliciesView struct {
	CSRF     string
	IsAdmin  bool
	Policies []PolicyRow
	Channels []Option
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
