package store

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/baton-run/baton/models"
)

// Secrets are stored sealed with AES-256-GCM under the server's secrets key
// (a setting or a key file, see cmd/baton): a copy of the database, a backup
// or a DBA's query shows only ciphertext. The name is the additional data, so
// a sealed value copied onto another name fails to open instead of leaking.

// SecretKeyLen is the length of a secrets key: AES-256.
const SecretKeyLen = 32

type secretRow struct {
	ID          int64 `gorm:"primaryKey"`
	Name        string
	Description string
	Sealed      []byte
	CreatedAt   time.Time
	UpdatedAt   time.Time
	UpdatedBy   string
}

func (secretRow) TableName() string { return "secrets" }

func (r *secretRow) model() models.StoredSecret {
	return models.StoredSecret{Name: r.Name, Description: r.Description, CreatedAt: r.CreatedAt.UTC(),
		UpdatedAt: r.UpdatedAt.UTC(), UpdatedBy: r.UpdatedBy}
}

// UseSecretsKey sets the key secrets are sealed with; until it is called the
// secret methods answer Unavailable. Every instance sharing a database must
// use the same key, or each reads the others' secrets as undecryptable.
func (s *Store) UseSecretsKey(key []byte) error {
	if len(key) != SecretKeyLen {
		return models.Errorf(models.Invalid, "a secrets key is %d bytes, not %d", SecretKeyLen, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return fmt.Errorf("store: secrets key: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return fmt.Errorf("store: secrets key: %w", err)
	}
	s.secrets = gcm
	return nil
}

func (s *Store) aead() (cipher.AEAD, error) {
	if s.secrets == nil {
		return nil, &models.Error{Code: models.Unavailable, Message: "secrets are unavailable: the server has no secrets key"}
	}
	return s.secrets, nil
}

func (s *Store) seal(name, value string) ([]byte, error) {
	if len(value) > models.MaxSecretValueLen {
		return nil, models.Errorf(models.Invalid, "secret %q: the value is %d bytes, the most is %d", name, len(value), models.MaxSecretValueLen)
	}
	if value == "" {
		return nil, models.Errorf(models.Invalid, "secret %q: the value is empty", name)
	}
	gcm, err := s.aead()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize(), gcm.NonceSize()+len(value)+gcm.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("store: secret nonce: %w", err)
	}
	return gcm.Seal(nonce, nonce, []byte(value), []byte(name)), nil
}

func (s *Store) open(name string, sealed []byte) (string, error) {
	gcm, err := s.aead()
	if err != nil {
		return "", err
	}
	n := gcm.NonceSize()
	if len(sealed) < n {
		return "", fmt.Errorf("store: secret %q is damaged", name)
	}
	plain, err := gcm.Open(nil, sealed[:n], sealed[n:], []byte(name))
	if err != nil {
		// Most likely another key: say so, since that is what to fix.
		return "", &models.Error{Code: models.Unavailable,
			Message: fmt.Sprintf("secret %q cannot be decrypted with this server's secrets key (every instance must share one key)", name)}
	}
	return string(plain), nil
}

// CreateSecret stores a new secret sealed and audits it as by; Conflict
// when the name exists.
func (s *Store) CreateSecret(ctx context.Context, sec *models.StoredSecret, value, by, ip string) error {
	if err := models.CheckSecretName(sec.Name); err != nil {
		return err
	}
	sealed, err := s.seal(sec.Name, value)
	if err != nil {
		return err
	}
	at := now()
	row := secretRow{Name: sec.Name, Description: sec.Description, Sealed: sealed, CreatedAt: at, UpdatedAt: at, UpdatedBy: by}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			return mapErr(err, fmt.Sprintf("secret %q", sec.Name))
		}
		return auditSecret(tx, by, models.AuditSecretCreated, sec.Name, ip, nil)
	})
	if err != nil {
		return err
	}
	*sec = row.model()
	return nil
}

// RotateSecret replaces a secret's value (and its description when desc is
// not nil); runs that resolve it afterwards get the new value.
func (s *Store) RotateSecret(ctx context.Context, name, value string, desc *string, by, ip string) (*models.StoredSecret, error) {
	sealed, err := s.seal(name, value)
	if err != nil {
		return nil, err
	}
	var out models.StoredSecret
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var row secretRow
		if err := tx.Where("name = ?", name).Take(&row).Error; err != nil {
			return mapErr(err, fmt.Sprintf("secret %q", name))
		}
		row.Sealed, row.UpdatedAt, row.UpdatedBy = sealed, now(), by
		if desc != nil {
			row.Description = *desc
		}
		if err := tx.Save(&row).Error; err != nil {
			return mapErr(err, fmt.Sprintf("secret %q", name))
		}
		out = row.model()
		return auditSecret(tx, by, models.AuditSecretRotated, name, ip, nil)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteSecret removes a secret; NotFound when absent.
func (s *Store) DeleteSecret(ctx context.Context, name, by, ip string) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Where("name = ?", name).Delete(&secretRow{})
		if res.Error != nil {
			return mapErr(res.Error, fmt.Sprintf("secret %q", name))
		}
		if res.RowsAffected == 0 {
			return models.Errorf(models.NotFound, "secret %q not found", name)
		}
		return auditSecret(tx, by, models.AuditSecretDeleted, name, ip, nil)
	})
}

// Secret pages.
const (
	DefaultSecretLimit = 100
	MaxSecretLimit     = 1000
)

// ListSecrets returns up to limit secrets (no values) by name, after the
// name after ("" from the first); a limit of 0 or less means
// DefaultSecretLimit.
func (s *Store) ListSecrets(ctx context.Context, limit int, after string) ([]models.StoredSecret, error) {
	if limit <= 0 {
		limit = DefaultSecretLimit
	}
	limit = min(limit, MaxSecretLimit)
	q := s.read.WithContext(ctx).Select("id, name, description, created_at, updated_at, updated_by").Order("name").Limit(limit)
	if after != "" {
		q = q.Where("name > ?", after)
	}
	var rows []secretRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, mapErr(err, "secrets")
	}
	out := make([]models.StoredSecret, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// MissingSecrets returns those of names that are not stored, for validation: a
// definition naming a missing secret is refused with a clear problem.
func (s *Store) MissingSecrets(ctx context.Context, names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	var have []string
	if err := s.read.WithContext(ctx).Model(&secretRow{}).Where("name IN ?", names).Pluck("name", &have).Error; err != nil {
		return nil, mapErr(err, "secrets")
	}
	set := make(map[string]bool, len(have))
	for _, n := range have {
		set[n] = true
	}
	var missing []string
	for _, n := range names {
		if !set[n] {
			missing = append(missing, n)
		}
	}
	return missing, nil
}

// SecretValue opens one secret for the run runID and audits that use (the
// run and the secret's name, never the value). NotFound when absent.
func (s *Store) SecretValue(ctx context.Context, name, runID string) (string, error) {
	if _, err := s.aead(); err != nil {
		return "", err
	}
	var row secretRow
	if err := s.read.WithContext(ctx).Where("name = ?", name).Take(&row).Error; err != nil {
		return "", mapErr(err, fmt.Sprintf("secret %q", name))
	}
	v, err := s.open(name, row.Sealed)
	if err != nil {
		return "", err
	}
	if err := auditSecret(s.db.WithContext(ctx), "system", models.AuditSecretUsed, name, "", map[string]any{"run": runID}); err != nil {
		return "", err
	}
	return v, nil
}

func auditSecret(tx *gorm.DB, actor, action, target, ip string, detail map[string]any) error {
	if actor == "" {
		actor = "system"
	}
	row := auditRow{At: now(), Actor: actor, Action: action, Target: target, IP: ip}
	if len(detail) > 0 {
		d := NewJSON(detail)
		row.Detail = &d
	}
	return mapErr(tx.Create(&row).Error, "audit entry")
}
