package models

import "time"

// DraftLock is a lease on something one person edits at a time, such as a
// template's draft. The holder's tab renews it with a heartbeat; a lock
// whose ExpiresAt has passed is free, so a closed tab's lock goes away by
// itself.
type DraftLock struct {
	Key        string    `json:"key"`
	Holder     string    `json:"holder"` // the user's name, shown to others
	Token      string    `json:"-"`      // the holder's tab; secret to it
	AcquiredAt time.Time `json:"acquiredAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
}
