// Package agent is the server's side of `baton agent`: the Hub keeps every
// connected device, routes device commands by capability, labels and load
// (route.go), stores each delivery before sending it, and sends a command
// again elsewhere when its device drops or falls silent. It reaches agents
// through models.AgentConn, whatever carries them, and storage through its
// own Store interface; it knows nothing of HTTP.
package agent

import (
	"cmp"
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/baton-run/baton/models"
)

// Store is what the hub needs from persistence; *store.Store satisfies it.
type Store interface {
	DeviceByTokenHash(ctx context.Context, hash string) (*models.Device, error)
	DeviceByName(ctx context.Context, name string) (*models.Device, error)
	ListDevices(ctx context.Context) ([]models.Device, error)
	CreateDevice(ctx context.Context, d *models.Device) error
	SetDeviceDraining(ctx context.Context, name string, draining bool) error
	RevokeDevice(ctx context.Context, name string, at time.Time) error
	TouchDevice(ctx context.Context, name string, at time.Time) error
	CreateCommand(ctx context.Context, c *models.DeviceCommand) error
	UpdateCommand(ctx context.Context, c *models.DeviceCommand) error
	CommandByID(ctx context.Context, id string) (*models.DeviceCommand, error)
	ListCommands(ctx context.Context, device, run string, limit int) ([]models.DeviceCommand, error)
	UnfinishedCommands(ctx context.Context) ([]models.DeviceCommand, error)
}

// Config tunes the hub. The zero value works.
type Config struct {
	// HeartbeatInterval is how often agents are asked to send a heartbeat;
	// default 5s.
	HeartbeatInterval time.Duration
	// HeartbeatTimeout is how long a device may stay silent before its
	// connection is closed and its commands are sent elsewhere; default 15s.
	HeartbeatTimeout time.Duration
	// QueueTimeout is how long a command waits for a capable device when
	// its step sets no queueTimeout; default 30s.
	QueueTimeout time.Duration
	// SyncInterval is how often registrations are re-read from the store,
	// so a device revoked or drained by another process is noticed;
	// default 5s.
	SyncInterval time.Duration
	// HelloTimeout bounds the wait for an agent's hello; default 10s.
	HelloTimeout time.Duration
	// Logger receives the hub's own problems; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Metrics receives dispatch latency, commands by status and each
	// device's load; none when nil.
	Metrics prometheus.Registerer
}

func (c Config) withDefaults() Config {
	pos := func(v, d time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return d
	}
	c.HeartbeatInterval = pos(c.HeartbeatInterval, 5*time.Second)
	c.HeartbeatTimeout = pos(c.HeartbeatTimeout, 15*time.Second)
	c.QueueTimeout = pos(c.QueueTimeout, 30*time.Second)
	c.SyncInterval = pos(c.SyncInterval, 5*time.Second)
	c.HelloTimeout = pos(c.HelloTimeout, 10*time.Second)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Hub is the registry of connected devices and the command queue.
type Hub struct {
	store Store
	cfg   Config
	log   *slog.Logger

	mu      sync.Mutex
	devices map[string]*device    // registered devices by name
	names   []string              // the devices' names, sorted; nil after a device was added
	pending map[string]*delivery  // sent commands waiting for a result, by id
	waiters *list.List            // dispatchers waiting for a device (*waiter), oldest first
	adopt   map[string]*adoptable // given-up deliveries a new dispatch of the same attempt may take over, by adoptKey
	rr      map[string]uint64     // round-robin counters by route
	synced  time.Time             // when registrations were last read
	closed  bool

	idMu      sync.Mutex
	idEntropy *ulid.MonotonicEntropy
	metrics   *metrics
}

// device is one registered device and, while it is connected, its session.
type device struct {
	reg      models.Device
	sess     *session
	declCaps []string
	declLbls map[string]string
	maxConc  int
	version  string
	inFlight int
	lastSeen time.Time
	history  []outcome // the last historySize finished commands

	mergedCaps   []string          // caps(), nil until computed
	mergedLabels map[string]string // labels(), nil until computed
}

const historySize = 50

type outcome struct {
	ok  bool
	dur int64
}

// session is one connection of an agent.
type session struct {
	name     string
	conn     models.AgentConn
	inflight map[string]*delivery
	orphans  map[string]bool // commands of an earlier connection still running on the agent
	heard    time.Time       // under Hub.mu
	ready    bool            // hello's results and running commands are taken in: commands may be sent
	done     chan struct{}
}

// delivery is one command sent to a device, until its result.
type delivery struct {
	cmd       models.DeviceCommand
	sess      *session
	result    chan *models.AgentResult // buffered 1
	lost      chan struct{}            // closed when the device dropped before answering
	abandoned bool                     // the dispatcher gave up (cancelled): a result only frees the slot
	stdout    []byte                   // the last liveTail bytes of live output
	stderr    []byte
	redact    func(string) string // hides the run's secrets in the live output; may be nil
}

// liveTail is how much live output of a running command the hub keeps.
const liveTail = 64 << 10

func appendTail(b []byte, s string) []byte {
	b = append(b, s...)
	if len(b) > liveTail {
		b = b[len(b)-liveTail:]
	}
	return b
}

// LiveOutput returns the output so far of the command a run's step is
// running on a device: false when none is running.
func (h *Hub) LiveOutput(runID, stepID string) (models.LiveOutput, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, dl := range h.pending {
		if dl.cmd.RunID == runID && dl.cmd.StepID == stepID && !dl.abandoned {
			out := models.LiveOutput{Device: dl.cmd.Device, CommandID: dl.cmd.ID, Stdout: string(dl.stdout), Stderr: string(dl.stderr)}
			if dl.redact != nil {
				out.Stdout, out.Stderr = dl.redact(out.Stdout), dl.redact(out.Stderr)
			}
			return out, true
		}
	}
	return models.LiveOutput{}, false
}

// New returns a hub over store. Call Start before Serve and Dispatch.
func New(store Store, cfg Config) *Hub {
	cfg = cfg.withDefaults()
	h := &Hub{
		store: store, cfg: cfg, log: cfg.Logger,
		devices: map[string]*device{}, pending: map[string]*delivery{}, waiters: list.New(), adopt: map[string]*adoptable{},
		rr: map[string]uint64{}, idEntropy: ulid.Monotonic(cryptoReader{}, 0),
	}
	h.metrics = newMetrics(cfg.Metrics, h)
	return h
}

// Start loads the registered devices, marks the deliveries a previous
// process left unfinished as lost (their steps run again with the same
// idempotency key when the engine resumes their runs, and a result that
// still arrives is recorded as late), and keeps registrations in sync
// until ctx ends.
func (h *Hub) Start(ctx context.Context) error {
	if err := h.sync(ctx); err != nil {
		return err
	}
	open, err := h.store.UnfinishedCommands(ctx)
	if err != nil {
		return err
	}
	for i := range open {
		c := &open[i]
		c.Status, c.Error = models.CommandLost, "the server restarted before the result arrived"
		if err := h.store.UpdateCommand(ctx, c); err != nil {
			return err
		}
	}
	go func() {
		t := time.NewTicker(h.cfg.SyncInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := h.sync(ctx); err != nil && ctx.Err() == nil {
					h.log.Warn("devices: reading registrations", "err", err)
				}
				h.expireAdoptable()
			}
		}
	}()
	return nil
}

// Close closes every agent connection; their sessions end and their
// commands are given up.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	var conns []models.AgentConn
	for _, d := range h.devices {
		if d.sess != nil {
			conns = append(conns, d.sess.conn)
		}
	}
	h.mu.Unlock()
	for _, c := range conns {
		_ = c.Close("server shutting down")
	}
}

// sync re-reads the registrations: new devices appear, drained and
// revoked ones change, and a revoked device's connection is closed.
func (h *Hub) sync(ctx context.Context) error {
	regs, err := h.store.ListDevices(ctx)
	if err != nil {
		return err
	}
	var closeConns []models.AgentConn
	h.mu.Lock()
	h.synced = time.Now()
	changed := false
	for _, r := range regs {
		d := h.devices[r.Name]
		if d == nil {
			d = &device{}
			h.devices[r.Name] = d
			h.names = nil
		}
		if !sameRegistration(d.reg, r) {
			changed = true
		}
		d.reg = r
		d.changed()
		if r.RevokedAt != nil && d.sess != nil {
			closeConns = append(closeConns, d.sess.conn)
		}
	}
	if changed {
		h.wakeAllLocked()
	}
	h.mu.Unlock()
	for _, c := range closeConns {
		_ = c.Close("device revoked")
	}
	return nil
}

// sameRegistration reports whether two registrations route alike.
func sameRegistration(a, b models.Device) bool {
	return a.Name == b.Name && a.Draining == b.Draining && (a.RevokedAt == nil) == (b.RevokedAt == nil) &&
		slices.Equal(a.Capabilities, b.Capabilities) && maps.Equal(a.Labels, b.Labels)
}

// waiter is a dispatcher waiting for a device.
type waiter struct {
	req   *models.CommandRequest
	ready chan struct{} // closed when it should look again
	elem  *list.Element // its place in Hub.waiters, nil once woken
}

// wakeAllLocked wakes every waiting dispatcher: the set of devices or
// their eligibility changed, so any of them may now find one (or fall
// back).
func (h *Hub) wakeAllLocked() {
	for e := h.waiters.Front(); e != nil; e = h.waiters.Front() {
		w := h.waiters.Remove(e).(*waiter)
		w.elem = nil
		close(w.ready)
	}
}

// wakeForLocked wakes the oldest waiting dispatcher that d can serve now
// that one of its slots is free: a freed slot wakes one dispatcher, not
// every one.
func (h *Hub) wakeForLocked(d *device) {
	if d == nil || d.sess == nil || d.inFlight >= d.maxConc {
		return
	}
	for e := h.waiters.Front(); e != nil; e = e.Next() {
		w := e.Value.(*waiter)
		if h.canServe(d, w.req) {
			h.waiters.Remove(e)
			w.elem = nil
			close(w.ready)
			return
		}
	}
}

// wakeForFreeLocked offers every device's free slots to the waiters.
func (h *Hub) wakeForFreeLocked() {
	for _, d := range h.devices {
		for free := d.maxConc - d.inFlight; free > 0 && d.sess != nil; free-- {
			before := h.waiters.Len()
			h.wakeForLocked(d)
			if h.waiters.Len() == before {
				break
			}
		}
	}
}

// canServe reports whether the router would give req to d: d fits the
// first of req's routes that some device fits (pickLocked's rule).
func (h *Hub) canServe(d *device, req *models.CommandRequest) bool {
	for ri, route := range req.Routes {
		pinned := ""
		if ri == 0 && req.Strategy == models.RoutePinned {
			pinned = req.Device
		}
		for _, o := range h.devices {
			if o.reg.RevokedAt == nil && h.ineligible(o, route, pinned) == "" {
				return d.reg.RevokedAt == nil && h.ineligible(d, route, pinned) == ""
			}
		}
	}
	return false
}

func (h *Hub) newID() string {
	h.idMu.Lock()
	defer h.idMu.Unlock()
	return ulid.MustNew(ulid.Timestamp(h.cfg.Now()), h.idEntropy).String()
}

func (h *Hub) now() time.Time { return h.cfg.Now().UTC() }

// Authenticate returns the unrevoked device whose token has that hash
// (models.NotFound otherwise).
func (h *Hub) Authenticate(ctx context.Context, tokenHash string) (*models.Device, error) {
	return h.store.DeviceByTokenHash(ctx, tokenHash)
}

// Register stores a new device (its token's hash only).
func (h *Hub) Register(ctx context.Context, d *models.Device) error {
	if err := h.store.CreateDevice(ctx, d); err != nil {
		return err
	}
	return h.sync(ctx)
}

// SetDraining stops (true) or resumes (false) sending new commands to a
// device; commands it runs finish.
func (h *Hub) SetDraining(ctx context.Context, name string, draining bool) error {
	if err := h.store.SetDeviceDraining(ctx, name, draining); err != nil {
		return err
	}
	return h.sync(ctx)
}

// Revoke refuses the device's token from now on and closes its connection.
func (h *Hub) Revoke(ctx context.Context, name string) error {
	if err := h.store.RevokeDevice(ctx, name, h.now()); err != nil {
		return err
	}
	return h.sync(ctx)
}

// Commands returns a device's recent commands, newest first.
func (h *Hub) Commands(ctx context.Context, name string, limit int) ([]models.DeviceCommand, error) {
	if _, err := h.store.DeviceByName(ctx, name); err != nil {
		return nil, err
	}
	return h.store.ListCommands(ctx, name, "", limit)
}

// RunCommands returns the command deliveries of a run, newest first.
func (h *Hub) RunCommands(ctx context.Context, runID string) ([]models.DeviceCommand, error) {
	return h.store.ListCommands(ctx, "", runID, 500)
}

// Devices returns every registered device with its live state, by name.
func (h *Hub) Devices(ctx context.Context) ([]models.DeviceState, error) {
	if err := h.sync(ctx); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]models.DeviceState, 0, len(h.devices))
	for _, name := range h.namesLocked() {
		out = append(out, h.stateLocked(h.devices[name]))
	}
	return out, nil
}

func (h *Hub) stateLocked(d *device) models.DeviceState {
	st := models.DeviceState{
		Name: d.reg.Name, Capabilities: slices.Clone(d.caps()), Labels: maps.Clone(d.labels()), InFlight: d.inFlight,
		MaxConcurrency: d.maxConc, Version: d.version, LastSeen: d.reg.LastSeenAt,
	}
	if !d.lastSeen.IsZero() {
		t := d.lastSeen
		st.LastSeen = &t
	}
	switch {
	case d.reg.RevokedAt != nil:
		st.Status = models.DeviceRevoked
	case d.reg.Draining:
		st.Status = models.DeviceDraining
	case d.sess != nil:
		st.Status = models.DeviceOnline
	default:
		st.Status = models.DeviceOffline
	}
	if n := len(d.history); n > 0 {
		ok, dur := 0, int64(0)
		for _, o := range d.history {
			if o.ok {
				ok++
			}
			dur += o.dur
		}
		rate, lat := float64(ok)/float64(n), float64(dur)/float64(n)
		st.SuccessRate, st.LatencyMs = &rate, &lat
	}
	return st
}

// Serve runs one agent connection of dev until it ends: it reads the
// agent's hello, registers the session (replacing an older one of the same
// device), answers with a welcome, then reads heartbeats and results. When
// it returns, the device's unfinished commands go back to the queue.
func (h *Hub) Serve(ctx context.Context, dev *models.Device, conn models.AgentConn) error {
	hctx, cancel := context.WithTimeout(ctx, h.cfg.HelloTimeout)
	hello, err := conn.Receive(hctx)
	cancel()
	if err != nil {
		_ = conn.Close("no hello")
		return fmt.Errorf("agent %s: waiting for hello: %w", dev.Name, err)
	}
	if hello.Type != models.MsgHello {
		_ = conn.Close("expected hello")
		return fmt.Errorf("agent %s: first message is %q, not hello", dev.Name, hello.Type)
	}
	if err := h.sync(ctx); err != nil {
		h.log.Warn("devices: reading registrations", "err", err)
	}
	sess := &session{name: dev.Name, conn: conn, inflight: map[string]*delivery{}, orphans: map[string]bool{}, done: make(chan struct{})}
	var old models.AgentConn
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		_ = conn.Close("server shutting down")
		return errors.New("hub closed")
	}
	d := h.devices[dev.Name]
	if d == nil {
		d = &device{reg: *dev}
		h.devices[dev.Name] = d
		h.names = nil
	}
	if d.sess != nil {
		old = d.sess.conn
		h.endSessionLocked(d, d.sess, "replaced by a new connection")
	}
	d.sess = sess
	d.declCaps, d.declLbls, d.version = hello.Capabilities, hello.Labels, hello.Version
	d.changed()
	d.maxConc = max(hello.MaxConcurrency, 1)
	for _, id := range hello.Running {
		if _, waiting := h.pending[id]; !waiting {
			sess.orphans[id] = true
			d.inFlight++
		}
	}
	now := h.now()
	d.lastSeen, sess.heard = now, now
	h.mu.Unlock()
	if old != nil {
		_ = old.Close("replaced by a new connection")
	}
	_ = h.store.TouchDevice(ctx, dev.Name, now)
	h.log.Info("device connected", "device", dev.Name, "capabilities", hello.Capabilities, "maxConcurrency", d.maxConc)

	defer h.endSession(dev.Name, sess)
	if err := conn.Send(ctx, &models.AgentMessage{Type: models.MsgWelcome, Device: dev.Name, HeartbeatInterval: h.cfg.HeartbeatInterval.Milliseconds()}); err != nil {
		return err
	}
	// What the agent finished or still runs from before is taken in
	// first, so that a dispatch waiting for the same step takes it over
	// rather than sending the command to this device again.
	for _, res := range hello.Finished {
		h.onResult(ctx, sess, res)
	}
	h.adoptRunning(ctx, sess, hello.Running)
	h.mu.Lock()
	sess.ready = true
	h.wakeAllLocked()
	h.mu.Unlock()
	go h.watch(ctx, sess)
	for {
		m, err := conn.Receive(ctx)
		if err != nil {
			return nil
		}
		h.mu.Lock()
		sess.heard = h.now()
		d.lastSeen = sess.heard
		h.mu.Unlock()
		switch m.Type {
		case models.MsgResult:
			if m.Result != nil {
				h.onResult(ctx, sess, m.Result)
			}
		case models.MsgOutput:
			h.mu.Lock()
			if dl := h.pending[m.ID]; dl != nil && dl.sess == sess {
				if m.Stream == "stderr" {
					dl.stderr = appendTail(dl.stderr, m.Data)
				} else {
					dl.stdout = appendTail(dl.stdout, m.Data)
				}
			}
			h.mu.Unlock()
		case models.MsgHeartbeat:
		default:
			h.log.Warn("agent sent an unknown message", "device", dev.Name, "type", m.Type)
		}
	}
}

// watch closes the session's connection once the agent has been silent
// for HeartbeatTimeout.
func (h *Hub) watch(ctx context.Context, sess *session) {
	t := time.NewTicker(max(h.cfg.HeartbeatTimeout/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = sess.conn.Close("server shutting down")
			return
		case <-sess.done:
			return
		case <-t.C:
			h.mu.Lock()
			silent := h.now().Sub(sess.heard)
			h.mu.Unlock()
			if silent > h.cfg.HeartbeatTimeout {
				h.log.Warn("device missed its heartbeats; its commands go back to the queue", "device", sess.name, "silentFor", silent.Round(time.Millisecond))
				_ = sess.conn.Close("missed heartbeats")
				h.endSession(sess.name, sess)
				return
			}
		}
	}
}

func (h *Hub) endSession(name string, sess *session) {
	h.mu.Lock()
	d := h.devices[name]
	if d != nil && d.sess == sess {
		h.endSessionLocked(d, sess, "")
	}
	h.mu.Unlock()
	_ = h.store.TouchDevice(context.Background(), name, h.now())
}

// endSessionLocked ends sess: its deliveries are lost (their dispatchers
// send them again), its slots are freed.
func (h *Hub) endSessionLocked(d *device, sess *session, _ string) {
	select {
	case <-sess.done:
		return
	default:
	}
	close(sess.done)
	for id, dl := range sess.inflight {
		delete(h.pending, id)
		close(dl.lost)
	}
	d.inFlight -= len(sess.inflight) + len(sess.orphans)
	d.inFlight = max(d.inFlight, 0)
	sess.inflight, sess.orphans = map[string]*delivery{}, map[string]bool{}
	d.sess = nil
	h.wakeAllLocked()
}

// onResult takes a result from an agent: it completes the delivery that
// waits for it, or, when nobody waits any more (the command was re-sent
// elsewhere, cancelled, or is from before a restart), records it as late.
func (h *Hub) onResult(ctx context.Context, sess *session, res *models.AgentResult) {
	h.mu.Lock()
	d := h.devices[sess.name]
	dl := h.pending[res.ID]
	if dl != nil && dl.sess == sess {
		delete(h.pending, res.ID)
		delete(sess.inflight, res.ID)
		if d != nil {
			d.inFlight = max(d.inFlight-1, 0)
			if res.Code != codeShuttingDown {
				d.history = append(d.history, outcome{ok: res.ExitCode == 0 && res.Code == "", dur: res.DurationMs})
				if len(d.history) > historySize {
					d.history = d.history[1:]
				}
			}
		}
		h.wakeForLocked(d)
		if res.Code == codeShuttingDown {
			close(dl.lost) // the agent is stopping: send it elsewhere
			h.mu.Unlock()
			return
		}
		dl.result <- res
		h.mu.Unlock()
		return
	}
	if sess.orphans[res.ID] {
		delete(sess.orphans, res.ID)
		if d != nil {
			d.inFlight = max(d.inFlight-1, 0)
		}
		h.wakeForLocked(d)
	}
	h.mu.Unlock()
	// Nobody waits: record the result on its row, marked late.
	c, err := h.store.CommandByID(ctx, res.ID)
	if err != nil {
		h.log.Warn("result for an unknown command", "device", sess.name, "command", res.ID, "err", err)
		return
	}
	status := c.Status
	fillResult(c, res, h.now())
	// The row keeps the status it was given up with (lost, cancelled):
	// only the result's fields and the late mark are added.
	c.Late, c.Status = true, status
	if status == models.CommandSent || status == models.CommandQueued {
		c.Status = models.CommandLost
	}
	if err := h.store.UpdateCommand(ctx, c); err != nil {
		h.log.Warn("recording a late result", "command", res.ID, "err", err)
	}
	if c.Status == models.CommandLost {
		h.mu.Lock()
		h.adopt[adoptKey(c.IdempotencyKey, c.Attempt)] = &adoptable{cmd: *c, result: res, at: time.Now()}
		h.wakeAllLocked()
		h.mu.Unlock()
	}
}

// codeShuttingDown is the result code of a command an agent refused
// because it is stopping; the command goes to another device.
const codeShuttingDown = "shutting_down"

// fillResult copies an agent's result into a command row (status left to
// the caller for late results).
func fillResult(c *models.DeviceCommand, res *models.AgentResult, now time.Time) {
	exit := res.ExitCode
	c.ExitCode, c.DurationMs, c.FinishedAt = &exit, res.DurationMs, &now
	c.Status = models.CommandSucceeded
	if res.ExitCode != 0 || res.Code != "" {
		c.Status = models.CommandFailed
	}
	if res.Code != "" {
		c.Error = res.Code + ": " + res.Message
	}
}

// adoptable is a delivery that was given up (its device dropped, or the
// server restarted) but whose command finished or still runs on its
// device: a new dispatch of the same step attempt (after a restart, the
// engine runs it again with the same idempotency key) takes it over
// instead of running the command again.
type adoptable struct {
	cmd    models.DeviceCommand
	result *models.AgentResult // it finished with this
	sess   *session            // or it still runs on this connection
	at     time.Time
}

func adoptKey(idempotencyKey string, attempt int) string {
	return idempotencyKey + "#" + strconv.Itoa(attempt)
}

// adoptTTL is how long a given-up delivery stays adoptable.
const adoptTTL = 10 * time.Minute

// adoptRunning offers the commands an agent still runs from an earlier
// connection for adoption.
func (h *Hub) adoptRunning(ctx context.Context, sess *session, ids []string) {
	for _, id := range ids {
		h.mu.Lock()
		orphan := sess.orphans[id]
		h.mu.Unlock()
		if !orphan {
			continue
		}
		c, err := h.store.CommandByID(ctx, id)
		if err != nil || c.Status != models.CommandLost {
			continue
		}
		h.mu.Lock()
		h.adopt[adoptKey(c.IdempotencyKey, c.Attempt)] = &adoptable{cmd: *c, sess: sess, at: time.Now()}
		h.wakeAllLocked()
		h.mu.Unlock()
	}
}

// takeAdoptableLocked returns the delivery req may take over, or nil.
func (h *Hub) takeAdoptableLocked(req *models.CommandRequest) *delivery {
	k := adoptKey(req.IdempotencyKey, req.Attempt)
	a := h.adopt[k]
	if a == nil {
		return nil
	}
	delete(h.adopt, k)
	if time.Since(a.at) > adoptTTL {
		return nil
	}
	dl := &delivery{cmd: a.cmd, result: make(chan *models.AgentResult, 1), lost: make(chan struct{})}
	dl.cmd.Late, dl.cmd.Error = false, ""
	if a.result != nil {
		dl.result <- a.result
		return dl
	}
	sess := a.sess
	if !sess.orphans[a.cmd.ID] || h.devices[sess.name] == nil || h.devices[sess.name].sess != sess {
		return nil // it finished or its connection ended meanwhile
	}
	delete(sess.orphans, a.cmd.ID) // its slot stays counted, now as a delivery
	dl.sess = sess
	dl.cmd.Status = models.CommandSent
	h.pending[a.cmd.ID] = dl
	sess.inflight[a.cmd.ID] = dl
	return dl
}

// expireAdoptable forgets given-up deliveries older than adoptTTL.
func (h *Hub) expireAdoptable() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, a := range h.adopt {
		if time.Since(a.at) > adoptTTL {
			delete(h.adopt, k)
		}
	}
}
