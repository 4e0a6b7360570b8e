package store

import (
	"time"

	"github.com/baton-run/baton/models"
)

// The row structs below are the GORM models of migration 00001: one per
// table, field names matching its columns. models types stay free of GORM;
// these convert to and from them. The column-drift test checks every field
// against the migrated schema.

type userRow struct {
	ID           int64 `gorm:"primaryKey"`
	Name         string
	PasswordHash string
	Roles        JSON[[]models.Role]
	Disabled     bool
	CreatedAt    time.Time
}

func (userRow) TableName() string { return "users" }

func (r *userRow) model() *models.User {
	roles := r.Roles.V
	if roles == nil {
		roles = []models.Role{}
	}
	return &models.User{
		ID:           r.ID,
		Name:         r.Name,
		PasswordHash: r.PasswordHash,
		Roles:        roles,
		CreatedAt:    r.CreatedAt.UTC(),
		Disabled:     r.Disabled,
	}
}

type apiTokenRow struct {
	ID         int64 `gorm:"primaryKey"`
	UserID     int64
	Name       string
	Hash       string
	Prefix     string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
	RateLimit  *float64
}

func (apiTokenRow) TableName() string { return "api_tokens" }

func (r *apiTokenRow) model() *models.APIToken {
	return &models.APIToken{
		ID:         r.ID,
		UserID:     r.UserID,
		Name:       r.Name,
		Hash:       r.Hash,
		Prefix:     r.Prefix,
		CreatedAt:  r.CreatedAt.UTC(),
		LastUsedAt: utcPtr(r.LastUsedAt),
		RevokedAt:  utcPtr(r.RevokedAt),
		RateLimit:  r.RateLimit,
	}
}

type sessionRow struct {
	ID        int64 `gorm:"primaryKey"`
	UserID    int64
	Hash      string
	CSRFToken string `gorm:"column:csrf_token"`
	CreatedAt time.Time
	ExpiresAt time.Time
	LastSeen  time.Time
	IP        string `gorm:"column:ip"`
	UserAgent string
}

func (sessionRow) TableName() string { return "sessions" }

func (r *sessionRow) model() *models.Session {
	return &models.Session{
		ID:        r.ID,
		UserID:    r.UserID,
		Hash:      r.Hash,
		CSRFToken: r.CSRFToken,
		CreatedAt: r.CreatedAt.UTC(),
		ExpiresAt: r.ExpiresAt.UTC(),
		LastSeen:  r.LastSeen.UTC(),
		IP:        r.IP,
		UserAgent: r.UserAgent,
	}
}

type loginFailureRow struct {
	ID       int64 `gorm:"primaryKey"`
	UserName string
	IP       string `gorm:"column:ip"`
	At       time.Time
}

func (loginFailureRow) TableName() string { return "login_failures" }

type auditRow struct {
	ID     int64 `gorm:"primaryKey"`
	At     time.Time
	Actor  string
	Action string
	Target string
	IP     string `gorm:"column:ip"`
	Detail *JSON[map[string]any]
}

func (auditRow) TableName() string { return "audit_log" }

func (r *auditRow) model() models.AuditEntry {
	e := models.AuditEntry{
		ID:     r.ID,
		At:     r.At.UTC(),
		Actor:  r.Actor,
		Action: r.Action,
		Target: r.Target,
		IP:     r.IP,
	}
	if r.Detail != nil {
		e.Detail = r.Detail.V
	}
	return e
}

type templateRow struct {
	ID                int64 `gorm:"primaryKey"`
	Key               string
	Name              string
	Description       string
	Tags              JSON[[]string]
	RequiredApprovals int
	CreatedBy         string
	CreatedAt         time.Time
	UpdatedAt         time.Time
	// RetentionSeconds overrides the server's retention (migration 00009):
	// NULL follows it, 0 keeps every run.
	RetentionSeconds *int64
}

func (templateRow) TableName() string { return "templates" }

type templateVersionRow struct {
	ID          int64 `gorm:"primaryKey"`
	TemplateID  int64
	Number      int
	Status      models.VersionStatus
	Definition  JSON[models.Definition]
	Author      string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	SubmittedAt *time.Time
	Reviewer    string
	ReviewedAt  *time.Time
	Comment     string
}

func (templateVersionRow) TableName() string { return "template_versions" }

// rowModels lists every row struct of this file, for the column-drift test.
var rowModels = []any{&secretRow{},
	&userRow{}, &apiTokenRow{}, &sessionRow{}, &loginFailureRow{}, &auditRow{},
	&templateRow{}, &templateVersionRow{},
	&deviceRow{}, &deviceCommandRow{},
}

// utc normalises a time for storage: UTC, microseconds (what PostgreSQL
// keeps, so both dialects return what was stored). On SQLite, UTC is also
// what keeps the text encoding sortable.
func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := utc(*t)
	return &u
}

// orNow returns t, or the store's clock when t is zero.
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return now()
	}
	return utc(t)
}
