// Package cluster carries small messages between the Baton instances that
// share one database, so that what one instance changes reaches the others
// at once: a cancel or a signal for a run another instance executes, the
// events of runs followed on another instance's pages, a schedule changed
// through another instance.
//
// A Bus is fire and forget: a message is a hint that something stored
// changed, never the change itself, so a receiver always reads the store.
// Messages can be lost (a listener reconnecting misses what was sent
// meanwhile): a subscriber is then called with a nil payload and re-reads
// what it follows. On PostgreSQL the bus is LISTEN/NOTIFY (Postgres); on
// SQLite there is one instance and nothing to tell (Nop).
package cluster

// Bus publishes and receives messages by topic.
type Bus interface {
	// Publish sends payload on topic to every other instance. It never
	// blocks: messages are queued and sent in order by a goroutine of the
	// bus. A payload must stay well under 8000 bytes (NOTIFY's limit,
	// topic and envelope included): send ids, never records.
	Publish(topic string, payload []byte)
	// Subscribe calls fn with each payload another instance publishes on
	// topic, one call at a time, in order, from a goroutine of the
	// subscription (never the publisher's). fn(nil) means messages may
	// have been lost: re-read what you follow. The returned function ends
	// the subscription.
	Subscribe(topic string, fn func(payload []byte)) (cancel func())
	// Clustered reports whether other instances may exist (false for Nop):
	// a run not held in memory may then be held by another instance.
	Clustered() bool
}

// Nop is the bus of a single instance (SQLite): nothing is sent, nothing
// arrives.
type Nop struct{}

// Publish does nothing.
func (Nop) Publish(string, []byte) {}

// Subscribe does nothing.
func (Nop) Subscribe(string, func([]byte)) func() { return func() {} }

// Clustered is false.
func (Nop) Clustered() bool { return false }

// OrNop returns b, or Nop when b is nil.
func OrNop(b Bus) Bus {
	if b == nil {
		return Nop{}
	}
	return b
}
