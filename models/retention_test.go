package models

import (
	"testing"
	"time"
)

func TestParseRetention(t *testing.T) {
	good := map[string]time.Duration{
		"90d": 90 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, "12h": 12 * time.Hour, "36h30m": 36*time.Hour + 30*time.Minute,
		"keep": 0, "0": 0, " 1.5d ": 36 * time.Hour,
	}
	for in, want := range good {
		if got, err := ParseRetention(in); err != nil || got != want {
			t.Errorf("ParseRetention(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "soon", "-3d", "30s", "d", "1y"} {
		if _, err := ParseRetention(in); !IsCode(err, Invalid) {
			t.Errorf("ParseRetention(%q) = %v; want Invalid", in, err)
		}
	}
	for d, want := range map[time.Duration]string{0: "keep", 90 * 24 * time.Hour: "90d", 36 * time.Hour: "36h0m0s"} {
		if got := FormatRetention(d); got != want {
			t.Errorf("FormatRetention(%v) = %q; want %q", d, got, want)
		}
	}
}
