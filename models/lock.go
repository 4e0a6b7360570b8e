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

// DraftLockKey names the lock on a template's draft: the designer takes it
// while a tab edits the template, and discarding the draft respects it.
func DraftLockKey(template string) string { return "draft:" + template }

// LockGuard is how a change to a locked draft proves it may go ahead: the
// caller's own lock token (a lock held with it is the caller's), or Force
// to go past someone else's live lock, which only the draft's author, the
// lock's holder or an Admin may do. At is the time lock expiry is judged at.
type LockGuard struct {
	Token string
	Force bool
	Admin bool
	At    time.Time
}
