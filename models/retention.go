package models

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RetentionKeep is how a retention that keeps every run is written.
const RetentionKeep = "keep"

// ParseRetention reads a retention age: "90d", "12h", "2w", any Go
// duration ("36h30m"), or "keep" / "0" for keeping every run (which it
// returns as 0). Runs that finished longer ago than the age may be pruned.
func ParseRetention(s string) (time.Duration, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	switch s {
	case "":
		return 0, Errorf(Invalid, "a retention is required: an age such as 90d, 12h or 2w, or %q", RetentionKeep)
	case RetentionKeep, "0", "forever", "none":
		return 0, nil
	}
	var d time.Duration
	if n, unit := s[:len(s)-1], s[len(s)-1]; unit == 'd' || unit == 'w' {
		v, err := strconv.ParseFloat(n, 64)
		if err != nil || v <= 0 {
			return 0, Errorf(Invalid, "retention %q: want an age such as 90d, 12h or 2w, or %q", s, RetentionKeep)
		}
		day := 24 * time.Hour
		if unit == 'w' {
			day *= 7
		}
		d = time.Duration(v * float64(day))
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d <= 0 {
			return 0, Errorf(Invalid, "retention %q: want an age such as 90d, 12h or 2w, or %q", s, RetentionKeep)
		}
	}
	if d < time.Minute {
		return 0, Errorf(Invalid, "retention %q is under a minute; runs would be deleted as they finish", s)
	}
	return d, nil
}

// FormatRetention writes an age as ParseRetention reads it: whole days as
// "90d", 0 as "keep", anything else as a Go duration.
func FormatRetention(d time.Duration) string {
	switch {
	case d <= 0:
		return RetentionKeep
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
