package models

import (
	"fmt"
	"slices"
	"time"
)

// Role grants a set of permissions; a user may hold several.
type Role string

// Roles.
const (
	RoleAdmin    Role = "admin"    // everything
	RoleDesigner Role = "designer" // create templates, edit drafts, submit, test-run drafts
	RoleApprover Role = "approver" // approve or reject versions in review
	RoleOperator Role = "operator" // start, cancel, retry and signal runs
	RoleViewer   Role = "viewer"   // read only
)

// Roles lists every role in a stable order.
var Roles = []Role{RoleAdmin, RoleDesigner, RoleApprover, RoleOperator, RoleViewer}

// ParseRole checks that s names a role.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !slices.Contains(Roles, r) {
		return "", Errorf(Invalid, "unknown role %q (roles: admin, designer, approver, operator, viewer)", s)
	}
	return r, nil
}

// User is a person or a service account.
type User struct {
	ID           int64     `json:"id"`
	Name         string    `json:"name"`
	PasswordHash string    `json:"-"`
	Roles        []Role    `json:"roles"`
	CreatedAt    time.Time `json:"createdAt"`
	Disabled     bool      `json:"disabled,omitempty"`
}

// Can reports whether u holds need, or is an admin. Every role can read, so
// RoleViewer is granted to every user.
func (u *User) Can(need Role) bool {
	if u == nil {
		return false
	}
	if need == RoleViewer {
		return true
	}
	return slices.Contains(u.Roles, RoleAdmin) || slices.Contains(u.Roles, need)
}

func (u *User) String() string { return fmt.Sprintf("%s(%d)", u.Name, u.ID) }

// APIToken is a bearer token; only its hash is stored.
type APIToken struct {
	ID         int64      `json:"id"`
	UserID     int64      `json:"userId"`
	Name       string     `json:"name"`
	Hash       string     `json:"-"`
	Prefix     string     `json:"prefix"` // the first characters, to tell tokens apart
	CreatedAt  time.Time  `json:"createdAt"`
	LastUsedAt *time.Time `json:"lastUsedAt"`
	RevokedAt  *time.Time `json:"revokedAt"`
	// RateLimit is the token's own limit in requests per second on average
	// (bursts of five times as many): nil uses the server's default
	// (--rate-limit), 0 means unlimited.
	RateLimit *float64 `json:"rateLimit"`
}

// Session is a browser login; only the hash of its cookie value is stored.
type Session struct {
	ID        int64     `json:"id"`
	UserID    int64     `json:"userId"`
	Hash      string    `json:"-"`
	CSRFToken string    `json:"-"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
	LastSeen  time.Time `json:"lastSeen"`
	IP        string    `json:"ip"`
	UserAgent string    `json:"userAgent"`
}

// AuditEntry records one security- or review-relevant action.
type AuditEntry struct {
	ID     int64          `json:"id"`
	At     time.Time      `json:"at"`
	Actor  string         `json:"actor"` // user name, or "system"
	Action string         `json:"action"`
	Target string         `json:"target,omitempty"`
	IP     string         `json:"ip,omitempty"`
	Detail map[string]any `json:"detail,omitempty"`
}

// Audit actions.
const (
	AuditLogin        = "login"
	AuditLoginFailed  = "login_failed"
	AuditLogout       = "logout"
	AuditUserCreated  = "user_created"
	AuditRolesChanged = "roles_changed"
	AuditTokenCreated = "token_created"
	AuditTokenRevoked = "token_revoked"
)
