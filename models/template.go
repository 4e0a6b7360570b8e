package models

import "time"

// Template is a workflow with a stable key and a history of versions.
type Template struct {
	Key               string   `json:"key"`
	Name              string   `json:"name"`
	Description       string   `json:"description,omitempty"`
	Tags              []string `json:"tags,omitempty"`
	RequiredApprovals int      `json:"requiredApprovals"`
	// Retention is how long the template's finished runs are kept ("90d",
	// "keep"); "" follows the server's --retention.
	Retention string    `json:"retention,omitempty"`
	CreatedBy string    `json:"createdBy"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// VersionStatus is where a version stands in review.
type VersionStatus string

// Version statuses.
const (
	VersionDraft    VersionStatus = "draft"
	VersionInReview VersionStatus = "in_review"
	VersionApproved VersionStatus = "approved"
	VersionRejected VersionStatus = "rejected"
)

// Version is one numbered revision of a template. Once submitted, its
// definition never changes.
type Version struct {
	Template    string        `json:"template"`
	Number      int           `json:"number"`
	Status      VersionStatus `json:"status"`
	Definition  Definition    `json:"definition"`
	Author      string        `json:"author"`
	CreatedAt   time.Time     `json:"createdAt"`
	UpdatedAt   time.Time     `json:"updatedAt"`
	SubmittedAt *time.Time    `json:"submittedAt"`
	Reviewer    string        `json:"reviewer"`
	ReviewedAt  *time.Time    `json:"reviewedAt"`
	Comment     string        `json:"comment"`
}
