package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/baton-run/baton/models/store"
)

// secretsKeyFile is the key file's name in the data directory.
const secretsKeyFile = "secrets.key"

// loadSecretsKey returns the key secrets are sealed with: --secrets-key /
// BATON_SECRETS_KEY (base64 of 32 bytes) when set, else the key file in
// dataDir, created (0600, 32 random bytes in base64) on first start. With
// PostgreSQL and several instances the instances must share one key: set
// the same --secrets-key on each (a key file per host would make each read
// the others' secrets as undecryptable). created says a new file was made.
func loadSecretsKey(flagValue, dataDir string) (key []byte, created bool, err error) {
	if flagValue != "" {
		key, err = decodeSecretsKey(flagValue)
		if err != nil {
			return nil, false, usageError("--secrets-key: %v", err)
		}
		return key, false, nil
	}
	path := filepath.Join(dataDir, secretsKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		key, err = decodeSecretsKey(string(b))
		if err != nil {
			return nil, false, fmt.Errorf("secrets key file %s: %w", path, err)
		}
		return key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("read the secrets key file: %w", err)
	}
	key = make([]byte, store.SecretKeyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, false, fmt.Errorf("make a secrets key: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, false, fmt.Errorf("create the data directory for the secrets key: %w", err)
	}
	// O_EXCL: two instances starting at once on one data directory must not
	// each write their own key; the loser reads the winner's.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return loadSecretsKey("", dataDir)
	}
	if err != nil {
		return nil, false, fmt.Errorf("create the secrets key file: %w", err)
	}
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		return nil, false, fmt.Errorf("write the secrets key file %s: %w", path, err)
	}
	return key, true, nil
}

func decodeSecretsKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, errors.New("not base64 (make one with: head -c 32 /dev/urandom | base64)")
	}
	if len(key) != store.SecretKeyLen {
		return nil, fmt.Errorf("a secrets key is %d bytes in base64, not %d", store.SecretKeyLen, len(key))
	}
	return key, nil
}
