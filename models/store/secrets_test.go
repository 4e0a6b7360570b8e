package store_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/baton-run/baton/models/store/storetest"
)

func secretsKey(b byte) []byte { return bytes.Repeat([]byte{b}, store.SecretKeyLen) }

func TestSecrets(t *testing.T) {
	t.Parallel()
	for _, db := range storetest.Databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := db.Open(t)

			// Without a key, secrets are unavailable, not stored in clear.
			err := st.CreateSecret(ctx, &models.StoredSecret{Name: "API_KEY"}, "s3cr3t-value", "ann", "")
			if models.ErrorCode(err) != models.Unavailable {
				t.Fatalf("create without a key: %v, want Unavailable", err)
			}
			if err := st.UseSecretsKey(secretsKey(1)); err != nil {
				t.Fatal(err)
			}
			sec := &models.StoredSecret{Name: "API_KEY", Description: "the vendor's key"}
			if err := st.CreateSecret(ctx, sec, "s3cr3t-value", "ann", "10.0.0.1"); err != nil {
				t.Fatal(err)
			}
			if sec.UpdatedBy != "ann" || sec.CreatedAt.IsZero() {
				t.Errorf("created %+v", sec)
			}
			if err := st.CreateSecret(ctx, &models.StoredSecret{Name: "API_KEY"}, "x", "ann", ""); models.ErrorCode(err) != models.Conflict {
				t.Errorf("duplicate: %v, want Conflict", err)
			}
			if err := st.CreateSecret(ctx, &models.StoredSecret{Name: "bad name"}, "x", "ann", ""); models.ErrorCode(err) != models.Invalid {
				t.Errorf("bad name: %v, want Invalid", err)
			}

			// At rest the value is ciphertext.
			var sealed []byte
			if err := st.Gorm().Raw("SELECT sealed FROM secrets WHERE name = ?", "API_KEY").Row().Scan(&sealed); err != nil {
				t.Fatal(err)
			}
			if len(sealed) == 0 || bytes.Contains(sealed, []byte("s3cr3t-value")) {
				t.Fatalf("stored value is not sealed: %q", sealed)
			}

			v, err := st.SecretValue(ctx, "API_KEY", "r42")
			if err != nil || v != "s3cr3t-value" {
				t.Fatalf("value = %q, %v", v, err)
			}
			if _, err := st.RotateSecret(ctx, "API_KEY", "n3w-value", nil, "bob", ""); err != nil {
				t.Fatal(err)
			}
			if v, _ := st.SecretValue(ctx, "API_KEY", "r43"); v != "n3w-value" {
				t.Errorf("after rotation: %q", v)
			}
			if _, err := st.RotateSecret(ctx, "NOPE", "x", nil, "bob", ""); models.ErrorCode(err) != models.NotFound {
				t.Errorf("rotate missing: %v", err)
			}
			list, err := st.ListSecrets(ctx, 0, "")
			if err != nil || len(list) != 1 || list[0].UpdatedBy != "bob" || list[0].Description != "the vendor's key" {
				t.Fatalf("list = %+v, %v", list, err)
			}
			missing, err := st.MissingSecrets(ctx, []string{"API_KEY", "OTHER"})
			if err != nil || len(missing) != 1 || missing[0] != "OTHER" {
				t.Errorf("missing = %v, %v", missing, err)
			}

			// Another key cannot read it, and says why.
			if err := st.UseSecretsKey(secretsKey(2)); err != nil {
				t.Fatal(err)
			}
			if _, err := st.SecretValue(ctx, "API_KEY", "r44"); models.ErrorCode(err) != models.Unavailable {
				t.Errorf("wrong key: %v, want Unavailable", err)
			}
			_ = st.UseSecretsKey(secretsKey(1))

			if err := st.DeleteSecret(ctx, "API_KEY", "ann", ""); err != nil {
				t.Fatal(err)
			}
			if err := st.DeleteSecret(ctx, "API_KEY", "ann", ""); models.ErrorCode(err) != models.NotFound {
				t.Errorf("delete twice: %v", err)
			}

			// The audit log names the secret and the run, never the value.
			entries, err := st.ListAudit(ctx, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]int{}
			for _, e := range entries {
				seen[e.Action]++
				if e.Action == models.AuditSecretUsed && e.Target != "API_KEY" {
					t.Errorf("use entry %+v", e)
				}
			}
			if seen[models.AuditSecretCreated] != 1 || seen[models.AuditSecretRotated] != 1 ||
				seen[models.AuditSecretDeleted] != 1 || seen[models.AuditSecretUsed] != 2 {
				t.Errorf("audit actions = %v", seen)
			}
		})
	}
}
