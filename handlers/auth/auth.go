// Package auth holds the credential primitives Baton shares between the web
// app and the command line: password hashing, API tokens and session ids. It
// knows nothing about HTTP, so `baton user add` and `baton token create` use
// exactly the code that `baton serve` checks against.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// TokenPrefix starts every API token, so a leaked one is easy to recognise
// (and to search for in logs and repositories).
const TokenPrefix = "bt_"

// SessionPrefix starts every session cookie value.
const SessionPrefix = "bs_"

// MinPasswordLength is the shortest password HashPassword accepts.
const MinPasswordLength = 8

// maxPasswordLength is bcrypt's limit: it ignores everything after 72 bytes,
// and golang.org/x/crypto refuses longer input rather than truncate silently.
const maxPasswordLength = 72

// secretBytes is the entropy of tokens, session ids and CSRF tokens: 256 bits.
const secretBytes = 32

// prefixChars is how much of a token, after TokenPrefix, is kept in clear in
// the database so a user can tell their tokens apart.
const prefixChars = 6

// bcryptCost is the work factor; bcrypt.DefaultCost (10) takes about 50 ms
// per check on the project's machine, slow enough for an attacker and fast
// enough for a login form.
const bcryptCost = bcrypt.DefaultCost

// ErrPasswordTooShort and ErrPasswordTooLong say why HashPassword refused.
var (
	ErrPasswordTooShort = fmt.Errorf("password must have at least %d characters", MinPasswordLength)
	ErrPasswordTooLong  = fmt.Errorf("password must have at most %d bytes", maxPasswordLength)
)

// HashPassword returns the bcrypt hash of pw, to store in models.User.PasswordHash.
func HashPassword(pw string) (string, error) {
	if len(pw) < MinPasswordLength {
		return "", ErrPasswordTooShort
	}
	if len(pw) > maxPasswordLength {
		return "", ErrPasswordTooLong
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcryptCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// CheckPassword reports whether pw matches hash. A malformed or empty hash
// (a user who may not log in with a password) never matches.
func CheckPassword(hash, pw string) bool {
	if hash == "" || len(pw) > maxPasswordLength {
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

// dummyHash is compared against when a login names an unknown user, so that
// the answer takes as long as for a known user with a wrong password and does
// not reveal which user names exist.
// It is made on first use so that importing the package costs nothing.
var dummyHash = sync.OnceValue(func() string {
	// GenerateFromPassword fails only for input over 72 bytes or a bad cost,
	// neither possible here; an empty hash would merely make WasteTime quick.
	h, _ := bcrypt.GenerateFromPassword([]byte("baton-dummy-password"), bcryptCost)
	return string(h)
})

// WasteTime spends as long as one CheckPassword call; see dummyHash.
func WasteTime(pw string) {
	CheckPassword(dummyHash(), pw)
}

// NewToken makes a new API token. plain is shown to the user once; hash (hex
// SHA-256 of plain) and prefix (TokenPrefix plus a few characters of plain)
// are what the database keeps.
func NewToken() (plain, hash, prefix string, err error) {
	plain, err = newSecret(TokenPrefix)
	if err != nil {
		return "", "", "", err
	}
	return plain, HashToken(plain), plain[:len(TokenPrefix)+prefixChars], nil
}

// HashToken returns the hex SHA-256 of a token. A token has 256 random bits,
// so a fast hash suffices: nobody can guess one to compare against.
func HashToken(plain string) string {
	sum := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(sum[:])
}

// NewSessionID makes a new session cookie value (plain) and the hash that the
// database keeps.
func NewSessionID() (plain, hash string, err error) {
	plain, err = newSecret(SessionPrefix)
	if err != nil {
		return "", "", err
	}
	return plain, HashSessionID(plain), nil
}

// HashSessionID returns the hex SHA-256 of a session cookie value.
func HashSessionID(plain string) string { return HashToken(plain) }

// NewCSRFToken makes a random token for a session's state-changing requests.
func NewCSRFToken() (string, error) { return newSecret("") }

// Equal compares two secrets in constant time; empty never equals anything.
func Equal(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// LooksLikeToken reports whether s has the shape of a token made by NewToken,
// so callers can refuse junk without a database lookup.
func LooksLikeToken(s string) bool {
	rest, ok := strings.CutPrefix(s, TokenPrefix)
	if !ok {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	return err == nil && len(b) == secretBytes
}

func newSecret(prefix string) (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", errors.Join(errors.New("read random bytes"), err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}
