package auth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/baton-run/baton/handlers/auth"
)

func TestPassword(t *testing.T) {
	t.Parallel()
	h, err := auth.HashPassword("correct horse")
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	if h == "correct horse" || !strings.HasPrefix(h, "$2") {
		t.Fatalf("HashPassword = %q; want a bcrypt hash", h)
	}
	cases := []struct {
		hash, pw string
		want     bool
	}{
		{h, "correct horse", true},
		{h, "correct horsE", false},
		{h, "", false},
		{"", "correct horse", false},
		{"not-a-hash", "correct horse", false},
		{h, strings.Repeat("x", 100), false},
	}
	for _, c := range cases {
		if got := auth.CheckPassword(c.hash, c.pw); got != c.want {
			t.Errorf("CheckPassword(%q, %q) = %v; want %v", c.hash, c.pw, got, c.want)
		}
	}
}

func TestHashPasswordRefuses(t *testing.T) {
	t.Parallel()
	if _, err := auth.HashPassword("short"); !errors.Is(err, auth.ErrPasswordTooShort) {
		t.Errorf("HashPassword(short) err = %v; want ErrPasswordTooShort", err)
	}
	if _, err := auth.HashPassword(strings.Repeat("x", 73)); !errors.Is(err, auth.ErrPasswordTooLong) {
		t.Errorf("HashPassword(73 bytes) err = %v; want ErrPasswordTooLong", err)
	}
}

func TestNewToken(t *testing.T) {
	t.Parallel()
	plain, hash, prefix, err := auth.NewToken()
	if err != nil {
		t.Fatalf("NewToken: %v", err)
	}
	if !strings.HasPrefix(plain, auth.TokenPrefix) || !strings.HasPrefix(plain, prefix) || len(prefix) != len(auth.TokenPrefix)+6 {
		t.Errorf("NewToken() plain %q prefix %q; want prefix bt_ plus 6 characters of plain", plain, prefix)
	}
	if len(plain) < 40 {
		t.Errorf("len(plain) = %d; want at least 32 random bytes encoded", len(plain))
	}
	if got := auth.HashToken(plain); got != hash || len(hash) != 64 {
		t.Errorf("HashToken(plain) = %q; want %q (64 hex digits)", got, hash)
	}
	if !auth.LooksLikeToken(plain) {
		t.Errorf("LooksLikeToken(%q) = false; want true", plain)
	}
	for _, junk := range []string{"", "bt_", "bt_abc", "xx_" + plain[3:], plain + "x"} {
		if auth.LooksLikeToken(junk) {
			t.Errorf("LooksLikeToken(%q) = true; want false", junk)
		}
	}
	other, _, _, err := auth.NewToken()
	if err != nil || other == plain {
		t.Errorf("two NewToken calls gave %q and %q (err %v); want different tokens", plain, other, err)
	}
}

func TestSessionAndCSRF(t *testing.T) {
	t.Parallel()
	plain, hash, err := auth.NewSessionID()
	if err != nil {
		t.Fatalf("NewSessionID: %v", err)
	}
	if !strings.HasPrefix(plain, auth.SessionPrefix) || auth.HashSessionID(plain) != hash {
		t.Errorf("NewSessionID() = %q, %q; want bs_ prefix and hash = HashSessionID(plain)", plain, hash)
	}
	c1, err1 := auth.NewCSRFToken()
	c2, err2 := auth.NewCSRFToken()
	if err1 != nil || err2 != nil || c1 == c2 || len(c1) < 40 {
		t.Errorf("NewCSRFToken() = %q, %q (%v, %v); want two different long tokens", c1, c2, err1, err2)
	}
	if !auth.Equal(c1, c1) || auth.Equal(c1, c2) || auth.Equal("", "") {
		t.Errorf("Equal does not compare secrets correctly")
	}
}

func TestWasteTime(t *testing.T) {
	t.Parallel()
	auth.WasteTime("anything") // must not panic; it only spends time
}
