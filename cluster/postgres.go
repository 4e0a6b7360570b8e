package cluster

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Channel is the one PostgreSQL channel every instance listens on; the
// topic travels in the payload, so that subscribing to a new topic needs no
// new LISTEN on a connection busy waiting.
const Channel = "baton_cluster"

// MaxPayload is the largest payload Publish sends: NOTIFY refuses more than
// 8000 bytes, and the envelope (topic, sender) takes a few.
const MaxPayload = 7900

// maxQueue bounds the messages waiting to be sent or handled; past it the
// oldest are dropped (and a subscriber is told to re-read).
const maxQueue = 10_000

// Postgres is the Bus of instances sharing one PostgreSQL database:
// messages are sent with pg_notify through the store's connection pool and
// received on a dedicated connection running LISTEN, which reconnects with
// backoff after a failure and then calls every subscriber with nil, since
// notifications sent while it was away are lost.
type Postgres struct {
	dsn  string
	db   *sql.DB
	log  *slog.Logger
	self string // this instance's id: its own messages are skipped

	ctx    context.Context
	cancel context.CancelFunc
	done   sync.WaitGroup

	mu   sync.Mutex
	subs map[string]map[*subscription]struct{}

	outMu  sync.Mutex
	out    []string
	outSig chan struct{}

	connected atomic.Bool
	// Received counts the messages from other instances handed to
	// subscribers (for tests and metrics).
	received atomic.Uint64
}

// NewPostgres connects the listener to the database at dsn (a postgres://
// URL) and sends through db, the store's pool on the same database. It
// returns once listening; Close stops it.
func NewPostgres(ctx context.Context, dsn string, db *sql.DB, log *slog.Logger) (*Postgres, error) {
	if log == nil {
		log = slog.Default()
	}
	var id [6]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	p := &Postgres{dsn: dsn, db: db, log: log, self: hex.EncodeToString(id[:]),
		subs: map[string]map[*subscription]struct{}{}, outSig: make(chan struct{}, 1)}
	conn, err := p.connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster: listen on %s: %w", Channel, err)
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.done.Add(2)
	go p.listen(conn)
	go p.send()
	return p, nil
}

// Instance returns this instance's id on the bus.
func (p *Postgres) Instance() string { return p.self }

// Clustered is true: other instances may share the database.
func (p *Postgres) Clustered() bool { return true }

// Connected reports whether the listener is connected now.
func (p *Postgres) Connected() bool { return p.connected.Load() }

// Received returns how many messages from other instances arrived.
func (p *Postgres) Received() uint64 { return p.received.Load() }

// Close stops listening and sending; messages still queued are sent first
// (for at most a few seconds).
func (p *Postgres) Close() error {
	p.outMu.Lock()
	pending := len(p.out)
	p.outMu.Unlock()
	for i := 0; pending > 0 && i < 50; i++ {
		time.Sleep(20 * time.Millisecond)
		p.outMu.Lock()
		pending = len(p.out)
		p.outMu.Unlock()
	}
	p.cancel()
	p.done.Wait()
	p.mu.Lock()
	for _, m := range p.subs {
		for s := range m {
			s.close()
		}
	}
	p.subs = map[string]map[*subscription]struct{}{}
	p.mu.Unlock()
	return nil
}

// Publish queues payload for the other instances.
func (p *Postgres) Publish(topic string, payload []byte) {
	if strings.ContainsAny(topic, " \x00") || len(payload) > MaxPayload {
		p.log.Error("cluster: message not sent: topic with a space or payload too large", "topic", topic, "bytes", len(payload))
		return
	}
	msg := topic + " " + p.self + " " + string(payload)
	p.outMu.Lock()
	if len(p.out) >= maxQueue {
		p.out = p.out[1:]
		p.log.Warn("cluster: send queue full, oldest message dropped")
	}
	p.out = append(p.out, msg)
	p.outMu.Unlock()
	select {
	case p.outSig <- struct{}{}:
	default:
	}
}

// send sends queued messages in order, several per round trip.
func (p *Postgres) send() {
	defer p.done.Done()
	for {
		p.outMu.Lock()
		batch := p.out
		p.out = nil
		p.outMu.Unlock()
		if len(batch) == 0 {
			select {
			case <-p.ctx.Done():
				return
			case <-p.outSig:
			}
			continue
		}
		for len(batch) > 0 {
			n := min(len(batch), 32)
			if err := p.notify(batch[:n]); err != nil {
				p.log.Warn("cluster: sending messages failed; other instances re-read on their next change", "err", err, "messages", n)
			}
			batch = batch[n:]
		}
	}
}

func (p *Postgres) notify(msgs []string) error {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	var q strings.Builder
	args := make([]any, len(msgs))
	q.WriteString("SELECT ")
	for i, m := range msgs {
		if i > 0 {
			q.WriteString(", ")
		}
		fmt.Fprintf(&q, "pg_notify('%s', $%d)", Channel, i+1)
		args[i] = m
	}
	_, err := p.db.ExecContext(ctx, q.String(), args...)
	return err
}

func (p *Postgres) connect(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.dsn)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return nil, errors.Join(err, conn.Close(ctx))
	}
	p.connected.Store(true)
	return conn, nil
}

// listen receives notifications until Close, reconnecting after failures.
func (p *Postgres) listen(conn *pgx.Conn) {
	defer p.done.Done()
	backoff := 100 * time.Millisecond
	for {
		for {
			n, err := conn.WaitForNotification(p.ctx)
			if err != nil {
				break
			}
			p.dispatch(n.Payload)
		}
		p.connected.Store(false)
		_ = conn.Close(context.Background())
		if p.ctx.Err() != nil {
			return
		}
		p.log.Warn("cluster: listener connection lost; reconnecting")
		for {
			select {
			case <-p.ctx.Done():
				return
			case <-time.After(backoff):
			}
			var err error
			if conn, err = p.connect(p.ctx); err == nil {
				break
			}
			backoff = min(2*backoff, 5*time.Second)
			p.log.Warn("cluster: reconnecting the listener failed", "err", err, "retry_in", backoff)
		}
		backoff = 100 * time.Millisecond
		p.log.Info("cluster: listener reconnected; subscribers re-read")
		p.resyncAll()
	}
}

func (p *Postgres) dispatch(raw string) {
	topic, rest, ok := strings.Cut(raw, " ")
	if !ok {
		return
	}
	sender, payload, ok := strings.Cut(rest, " ")
	if !ok || sender == p.self {
		return
	}
	p.received.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	for s := range p.subs[topic] {
		s.push([]byte(payload))
	}
}

func (p *Postgres) resyncAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.subs {
		for s := range m {
			s.push(nil)
		}
	}
}

// Subscribe calls fn with the payloads other instances publish on topic.
func (p *Postgres) Subscribe(topic string, fn func([]byte)) func() {
	s := &subscription{fn: fn, sig: make(chan struct{}, 1), done: make(chan struct{})}
	p.mu.Lock()
	m := p.subs[topic]
	if m == nil {
		m = map[*subscription]struct{}{}
		p.subs[topic] = m
	}
	m[s] = struct{}{}
	p.mu.Unlock()
	go s.loop()
	return func() {
		p.mu.Lock()
		delete(p.subs[topic], s)
		p.mu.Unlock()
		s.close()
	}
}

// subscription queues payloads for one subscriber, so that a slow one
// never holds up the listener; one that falls far behind is told to
// re-read (nil) instead of being sent every message.
type subscription struct {
	fn     func([]byte)
	mu     sync.Mutex
	queue  [][]byte
	lost   bool
	closed bool
	sig    chan struct{}
	done   chan struct{}
	once   sync.Once
}

func (s *subscription) push(payload []byte) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	switch {
	case payload == nil || len(s.queue) >= maxQueue:
		s.queue, s.lost = nil, true
	default:
		s.queue = append(s.queue, payload)
	}
	s.mu.Unlock()
	select {
	case s.sig <- struct{}{}:
	default:
	}
}

func (s *subscription) loop() {
	for {
		select {
		case <-s.done:
			return
		case <-s.sig:
		}
		for {
			s.mu.Lock()
			q, lost := s.queue, s.lost
			s.queue, s.lost = nil, false
			s.mu.Unlock()
			if len(q) == 0 && !lost {
				break
			}
			if lost {
				s.fn(nil)
			}
			for _, payload := range q {
				s.fn(payload)
			}
		}
	}
}

func (s *subscription) close() {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.done)
	})
}
