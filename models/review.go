package models

import (
	"log/slog"
	"time"
)

// This file holds the types of review (versions, approvals, the audit trail
// of a version), of triggers (schedules and webhooks) and of the structural
// diff between two definitions. They extend template.go without changing it.

// TemplateSummary is a template as listings show it: the template with its
// latest version and its latest approved version.
type TemplateSummary struct {
	Template
	// LatestVersion is the highest version number; every template has one.
	LatestVersion int `json:"latestVersion"`
	// LatestStatus is the status of LatestVersion.
	LatestStatus VersionStatus `json:"latestStatus"`
	// LatestApprovedVersion is the highest approved version number, 0 when
	// no version was approved yet (the template cannot run in production).
	LatestApprovedVersion int `json:"latestApprovedVersion"`
}

// TemplateFilter selects templates for a listing, ordered by key.
type TemplateFilter struct {
	// Search matches a substring of the key, the name or the description,
	// ignoring case; "" matches every template.
	Search string
	// Status keeps templates whose latest version has this status.
	Status VersionStatus
	// Tag keeps templates carrying this tag.
	Tag string
	// After is a cursor: the key of the last template of the previous page
	// ("" for the first page).
	After string
	// Limit is the page size: 0 means 50, more than 500 is capped.
	Limit int
}

// TemplatePage is one page of a template listing.
type TemplatePage struct {
	Templates []TemplateSummary `json:"templates"`
	// Next is the cursor of the following page, "" on the last page.
	Next string `json:"next"`
}

// TemplateSettings changes a template's own settings; nil fields stay.
type TemplateSettings struct {
	Tags *[]string `json:"tags,omitempty"`
	// RequiredApprovals is how many different approvers a version needs
	// (1 to MaxRequiredApprovals).
	RequiredApprovals *int `json:"requiredApprovals,omitempty"`
	// Retention overrides the server's --retention for this template's
	// finished runs: an age ("90d", "12h", "2w"), "keep" for every run, or
	// "" to follow the server again.
	Retention *string `json:"retention,omitempty"`
}

// MaxRequiredApprovals caps TemplateSettings.RequiredApprovals: a quorum no
// team can reach would lock a template out of production.
const MaxRequiredApprovals = 10

// VersionSummary is a version without its definition, as version listings
// show it.
type VersionSummary struct {
	Number      int           `json:"number"`
	Status      VersionStatus `json:"status"`
	Author      string        `json:"author"`
	CreatedAt   time.Time     `json:"createdAt"`
	UpdatedAt   time.Time     `json:"updatedAt"`
	SubmittedAt *time.Time    `json:"submittedAt"`
	Reviewer    string        `json:"reviewer"`
	ReviewedAt  *time.Time    `json:"reviewedAt"`
	Comment     string        `json:"comment"`
}

// VersionDetail is one version with everything its review needs to show:
// who edited it, the approvals of its current submission and the quorum.
type VersionDetail struct {
	Version
	// Editors are everyone who saved this version, the author first, in
	// the order of their first save. None of them may approve it.
	Editors []string `json:"editors"`
	// Approvals are the approvals of the current submission, oldest first.
	Approvals []Approval `json:"approvals"`
	// RequiredApprovals is the template's quorum, at least 1.
	RequiredApprovals int `json:"requiredApprovals"`
}

// Approval is one approver's approval of one submission of a version.
type Approval struct {
	Approver string    `json:"approver"`
	At       time.Time `json:"at"`
	Comment  string    `json:"comment"`
	// Round numbers the submissions of the version (1 for the first); a
	// withdrawal ends a round, and approvals of an ended round no longer
	// count.
	Round int `json:"round"`
}

// VersionAction names one step of a version's review trail.
type VersionAction string

// Version actions, as stored in the trail.
const (
	ReviewCreated   VersionAction = "created"   // the version was created by saving or creating a template
	ReviewEdited    VersionAction = "edited"    // its draft definition was saved again
	ReviewRestored  VersionAction = "restored"  // an older version's definition was restored into it
	ReviewSubmitted VersionAction = "submitted" // draft → in_review
	ReviewApproval  VersionAction = "approval"  // one approver approved; the quorum may not be reached yet
	ReviewApproved  VersionAction = "approved"  // in_review → approved: the quorum was reached
	ReviewRejected  VersionAction = "rejected"  // in_review → rejected
	ReviewWithdrawn VersionAction = "withdrawn" // in_review → draft
)

// VersionEvent is one entry of a version's review trail: who did what, when.
type VersionEvent struct {
	ID       int64         `json:"id"`
	Template string        `json:"template"`
	Version  int           `json:"version"`
	Action   VersionAction `json:"action"`
	Actor    string        `json:"actor"`
	At       time.Time     `json:"at"`
	Comment  string        `json:"comment,omitempty"`
	Round    int           `json:"round,omitempty"`
	// FromVersion is the version whose definition a restore copied.
	FromVersion int `json:"fromVersion,omitempty"`
}

// InboxItem is a version waiting for one approver: the in-app notification.
type InboxItem struct {
	Template          string    `json:"template"`
	TemplateName      string    `json:"templateName"`
	Version           int       `json:"version"`
	Author            string    `json:"author"`
	SubmittedAt       time.Time `json:"submittedAt"`
	Approvals         int       `json:"approvals"`
	RequiredApprovals int       `json:"requiredApprovals"`
}

// Audit actions of review; the target is "template:<key>/v<n>" or
// "template:<key>".
const (
	AuditTemplateCreated  = "template_created"
	AuditTemplateSettings = "template_settings_changed"
	AuditVersionSubmitted = "version_submitted"
	AuditVersionApproval  = "version_approval"
	AuditVersionApproved  = "version_approved"
	AuditVersionRejected  = "version_rejected"
	AuditVersionWithdrawn = "version_withdrawn"
	AuditDraftDiscarded   = "draft_discarded"
	AuditWebhookCreated   = "webhook_created"
	AuditWebhookRotated   = "webhook_secret_rotated"
)

// OverlapPolicy says what a schedule does when its previous run is still
// active at the next fire time.
type OverlapPolicy string

// Overlap policies.
const (
	OverlapSkip  OverlapPolicy = "skip"  // do not start another run
	OverlapAllow OverlapPolicy = "allow" // start it anyway
)

// CatchUpPolicy says what a schedule does, when an instance starts, about
// the fire times that passed while no instance was running.
type CatchUpPolicy string

// Catch-up policies.
const (
	CatchUpNone   CatchUpPolicy = "none"   // missed times are lost (the default)
	CatchUpLatest CatchUpPolicy = "latest" // fire once, for the most recent missed time
	CatchUpAll    CatchUpPolicy = "all"    // fire each missed time, oldest first, within bounds
)

// Schedule starts runs of a template's latest approved version on a cron
// expression, in a time zone.
type Schedule struct {
	ID       int64  `json:"id"`
	Template string `json:"template"`
	// Cron is a cron expression (5 fields, or 6 with seconds) as gocron
	// reads it; the engine checks it before it is stored.
	Cron string `json:"cron"`
	// TimeZone is an IANA name such as "Europe/Berlin"; "" means UTC.
	TimeZone   string         `json:"timeZone"`
	Enabled    bool           `json:"enabled"`
	Overlap    OverlapPolicy  `json:"overlap"`
	CatchUp    CatchUpPolicy  `json:"catchUp"`
	Inputs     map[string]any `json:"inputs"`
	CreatedBy  string         `json:"createdBy"`
	CreatedAt  time.Time      `json:"createdAt"`
	UpdatedAt  time.Time      `json:"updatedAt"`
	LastFireAt *time.Time     `json:"lastFireAt"`
}

// ScheduleUpdate changes a schedule; nil fields stay.
type ScheduleUpdate struct {
	Cron     *string         `json:"cron,omitempty"`
	TimeZone *string         `json:"timeZone,omitempty"`
	Enabled  *bool           `json:"enabled,omitempty"`
	Overlap  *OverlapPolicy  `json:"overlap,omitempty"`
	CatchUp  *CatchUpPolicy  `json:"catchUp,omitempty"`
	Inputs   *map[string]any `json:"inputs,omitempty"`
}

// ScheduleFire is one claimed fire time of a schedule, and the run it
// started once that is known. FireAt is the time the cron expression named
// (the run's scheduled time, also for a missed time caught up later);
// ClaimedAt is when an instance handled it.
type ScheduleFire struct {
	ScheduleID int64     `json:"scheduleId"`
	FireAt     time.Time `json:"fireAt"`
	ClaimedAt  time.Time `json:"claimedAt"`
	RunID      string    `json:"runId"`
	// Skipped: the overlap policy skip started no run for this time.
	Skipped bool `json:"skipped"`
}

// WebhookMode says how a webhook call proves it knows the secret.
type WebhookMode string

// Webhook modes.
const (
	// WebhookHMAC: the caller signs the body with HMAC-SHA256 under the secret.
	WebhookHMAC WebhookMode = "hmac"
	// WebhookToken: the caller sends the secret itself as a bearer token.
	WebhookToken WebhookMode = "token"
)

// Secret is a credential that must never appear in logs or JSON: every way
// of printing it shows "[redacted]". Use Reveal to get the value, only where
// it is needed (HMAC verification, showing it once to its owner).
type Secret string

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String redacts the secret, so %v and %s never print it.
func (s Secret) String() string { return "[redacted]" }

// GoString redacts the secret for %#v.
func (s Secret) GoString() string { return `"[redacted]"` }

// LogValue redacts the secret for log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// MarshalJSON redacts the secret, so a struct holding it can be sent safely.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// MarshalText redacts the secret for encoders that use text marshalling.
func (s Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// Webhook lets an outside system start runs of a template through
// POST /hooks/{Key}.
type Webhook struct {
	ID       int64  `json:"id"`
	Template string `json:"template"`
	// Key names the webhook in its URL; random, so URLs cannot be guessed.
	Key string `json:"key"`
	// Secret verifies callers; it is redacted wherever it is printed.
	Secret    Secret      `json:"-"`
	Mode      WebhookMode `json:"mode"`
	Enabled   bool        `json:"enabled"`
	CreatedBy string      `json:"createdBy"`
	CreatedAt time.Time   `json:"createdAt"`
	UpdatedAt time.Time   `json:"updatedAt"`
}

// WebhookUpdate changes a webhook; nil fields stay.
type WebhookUpdate struct {
	Mode    *WebhookMode `json:"mode,omitempty"`
	Enabled *bool        `json:"enabled,omitempty"`
}

// DefinitionDiff is what changed from one definition (a) to another (b).
// Every list is sorted and never nil, so equal inputs give equal JSON.
type DefinitionDiff struct {
	// Fields are the top-level fields that changed, such as "inputs",
	// "outputs" or "errorHandling" ("steps" is described by the lists
	// below; "version" and step positions are ignored).
	Fields       []string     `json:"fields"`
	StepsAdded   []string     `json:"stepsAdded"`
	StepsRemoved []string     `json:"stepsRemoved"`
	StepsChanged []StepChange `json:"stepsChanged"`
	EdgesAdded   []DiffEdge   `json:"edgesAdded"`
	EdgesRemoved []DiffEdge   `json:"edgesRemoved"`
}

// Empty reports whether the two definitions are the same, layout aside.
func (d DefinitionDiff) Empty() bool {
	return len(d.Fields) == 0 && len(d.StepsAdded) == 0 && len(d.StepsRemoved) == 0 &&
		len(d.StepsChanged) == 0 && len(d.EdgesAdded) == 0 && len(d.EdgesRemoved) == 0
}

// StepChange names a step present in both definitions and the fields of it
// that changed, as dotted paths such as "action.url" or
// "retryPolicy.maxAttempts".
type StepChange struct {
	ID     string   `json:"id"`
	Fields []string `json:"fields"`
}

// Edge kinds of a DiffEdge.
const (
	EdgeDependency = "dependency" // To lists From in its dependencies
	EdgeOnSuccess  = "onSuccess"
	EdgeOnFailure  = "onFailure"
	EdgeCase       = "case" // a decision table's case or default target
)

// DiffEdge is one edge of the workflow graph, from the step that settles it
// to the step it leads to.
type DiffEdge struct {
	From string `json:"from"`
	To   string `json:"to"`
	Kind string `json:"kind"`
}
