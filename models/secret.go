package models

import (
	"regexp"
	"time"
)

// StoredSecret is a named value that workflows use ({{ secrets.NAME }}) but people
// never read back: this type has no value field, so no endpoint can leak one
// by encoding it.
type StoredSecret struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
	UpdatedBy   string    `json:"updatedBy"`
}

// Secret audit actions: the entries name the secret, never its value.
const (
	AuditSecretCreated = "secret_created"
	AuditSecretRotated = "secret_rotated"
	AuditSecretDeleted = "secret_deleted"
	AuditSecretUsed    = "secret_used" // Target is the secret, Detail the run id
)

// Limits of a secret.
const (
	MaxSecretNameLen  = 64
	MaxSecretValueLen = 64 << 10
)

var secretName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// CheckSecretName says why name cannot name a secret, or nil: a name must be
// usable as an identifier in {{ secrets.NAME }}.
func CheckSecretName(name string) error {
	if name == "" || len(name) > MaxSecretNameLen || !secretName.MatchString(name) {
		return Errorf(Invalid, "secret name %q: use letters, digits and _ (not first), at most %d characters", name, MaxSecretNameLen)
	}
	return nil
}
