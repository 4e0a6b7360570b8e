package cluster_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/baton-run/baton/cluster"
	"github.com/baton-run/baton/models/store/storetest"
)

func openBus(t *testing.T, dsn string) (*cluster.Postgres, *sql.DB) {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	b, err := cluster.NewPostgres(context.Background(), dsn, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(); db.Close() })
	return b, db
}

func receive(t *testing.T, ch <-chan []byte) []byte {
	t.Helper()
	select {
	case p := <-ch:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5 s")
		return nil
	}
}

// Two instances on one database: what one publishes reaches the other at
// once, never itself; after the listener's connection is cut the
// subscriber is told to re-read (nil) and later messages arrive again.
func TestPostgresBus(t *testing.T) {
	dsn := storetest.CreatePostgresDatabase(t)
	a, adb := openBus(t, dsn)
	b, _ := openBus(t, dsn)
	if !a.Clustered() || a.Instance() == b.Instance() {
		t.Fatal("two buses should be two instances of a cluster")
	}
	onA := make(chan []byte, 16)
	onB := make(chan []byte, 16)
	a.Subscribe("run", func(p []byte) { onA <- p })
	cancelB := b.Subscribe("run", func(p []byte) { onB <- p })
	b.Subscribe("other", func(p []byte) {
		if p != nil {
			t.Errorf("message on the wrong topic: %q", p)
		}
	})

	a.Publish("run", []byte(`{"op":"cancel","run":"R1"}`))
	if got := receive(t, onB); string(got) != `{"op":"cancel","run":"R1"}` {
		t.Fatalf("B received %q", got)
	}
	select {
	case p := <-onA:
		t.Fatalf("A received its own message %q", p)
	case <-time.After(200 * time.Millisecond):
	}

	// Cut B's listener: B re-reads, then hears A again.
	var n int
	if err := adb.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'LISTEN ` + cluster.Channel + `' AND pid <> pg_backend_pid()`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("terminate listeners: %d, %v", n, err)
	}
	if got := receive(t, onB); got != nil {
		t.Fatalf("after a reconnect B should be told to re-read (nil), got %q", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !b.Connected() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	a.Publish("run", []byte("after"))
	if got := receive(t, onB); string(got) != "after" {
		t.Fatalf("after reconnecting B received %q", got)
	}
	cancelB()
	a.Publish("run", []byte("unsubscribed"))
	select {
	case p := <-onB:
		t.Fatalf("received %q after unsubscribing", p)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestNop(t *testing.T) {
	b := cluster.OrNop(nil)
	if b.Clustered() {
		t.Fatal("Nop is one instance")
	}
	b.Publish("run", []byte("x"))
	b.Subscribe("run", func([]byte) { t.Fatal("Nop delivered a message") })()
}
