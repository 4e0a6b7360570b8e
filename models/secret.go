package models

import (
	"regexp"
	"sort"
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

// secretRefs finds every {{ secrets.NAME }} in any text.
var secretRefs = regexp.MustCompile(`\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)

// SecretRefs returns the secret names a definition's text refers to as
// {{ secrets.NAME }}, sorted and without repeats, so that validating or
// saving a definition can check that they exist.
func SecretRefs(definition []byte) []string {
	seen := map[string]bool{}
	for _, m := range secretRefs.FindAllSubmatch(definition, -1) {
		seen[string(m[1])] = true
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
