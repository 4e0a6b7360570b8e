package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/baton-run/baton/models"
)

// Dispatch runs one device command: it routes req to a device (waiting up
// to its queue timeout for one, trying the fallbacks in order), stores the
// delivery, sends it and waits for the result. When the device drops or
// falls silent the command is stored and sent again, as a new delivery, to
// another eligible device; a result of the earlier delivery that arrives
// later is recorded but never returned. When ctx ends the agent is told to
// cancel the command.
//
// Errors: *models.DispatchError with code no_device when no device fitted
// in time; ctx's error when ctx ended; others from the store.
func (h *Hub) Dispatch(ctx context.Context, req models.CommandRequest) (*models.CommandResult, error) {
	if len(req.Routes) == 0 {
		req.Routes = []models.DeviceRoute{{}}
	}
	req.Strategy = cmpOr(req.Strategy, models.RouteLeastLoaded)
	var last models.Routing
	for n := 1; ; n++ {
		dl, routing, err := h.deliver(ctx, req, n)
		routing.Deliveries = n
		if err != nil {
			var de *models.DispatchError
			if errors.As(err, &de) {
				de.Routing.Deliveries = n
				if n > 1 {
					de.Message = fmt.Sprintf("%s (delivery %d; earlier deliveries went to %s, which dropped)", de.Message, n, last.Chosen)
				}
			}
			return nil, err
		}
		last = routing
		select {
		case res := <-dl.result:
			return h.finish(ctx, dl, res, routing)
		case <-dl.lost:
			select {
			case res := <-dl.result:
				return h.finish(ctx, dl, res, routing)
			default:
			}
			dl.cmd.Status, dl.cmd.Error = models.CommandLost, "device "+dl.cmd.Device+" dropped or stopped before answering; sent again"
			h.update(&dl.cmd)
		case <-ctx.Done():
			h.abandon(dl)
			return nil, ctx.Err()
		}
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (h *Hub) finish(_ context.Context, dl *delivery, res *models.AgentResult, routing models.Routing) (*models.CommandResult, error) {
	fillResult(&dl.cmd, res, h.now())
	h.update(&dl.cmd)
	return &models.CommandResult{
		CommandID: dl.cmd.ID, Device: dl.cmd.Device, ExitCode: res.ExitCode, Stdout: res.Stdout, Stderr: res.Stderr,
		Truncated: res.Truncated, DurationMs: res.DurationMs, Code: res.Code, Message: res.Message, Routing: routing,
	}, nil
}

// update writes a delivery's row; it must be written even when the step's
// context has ended.
func (h *Hub) update(c *models.DeviceCommand) {
	if models.CommandFinished(c.Status) {
		h.metrics.finished(c.Status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.store.UpdateCommand(ctx, c); err != nil {
		h.log.Warn("devices: recording a command", "command", c.ID, "status", c.Status, "err", err)
	}
}

// record stores a delivery that was never sent (no device, or cancelled
// while it waited), so the device step's history shows it.
func (h *Hub) record(c *models.DeviceCommand) {
	h.metrics.finished(c.Status)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.store.CreateCommand(ctx, c); err != nil {
		h.log.Warn("devices: recording a command", "command", c.ID, "status", c.Status, "err", err)
	}
}

// abandon gives a delivery up: the agent is told to cancel it; its slot is
// freed when its result arrives or its device drops.
func (h *Hub) abandon(dl *delivery) {
	h.mu.Lock()
	_, waiting := h.pending[dl.cmd.ID]
	dl.abandoned = true
	h.mu.Unlock()
	if waiting && dl.sess != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = dl.sess.conn.Send(sctx, &models.AgentMessage{Type: models.MsgCancel, ID: dl.cmd.ID})
		cancel()
	}
	now := h.now()
	dl.cmd.Status, dl.cmd.Error, dl.cmd.FinishedAt = models.CommandCancelled, "the step was cancelled or timed out", &now
	h.update(&dl.cmd)
}

// deliver routes req, stores delivery n and sends it.
func (h *Hub) deliver(ctx context.Context, req models.CommandRequest, n int) (*delivery, models.Routing, error) {
	// The stored arguments are rendered templates: the run's secrets are
	// redacted from them, since the commands list is open to every
	// signed-in user.
	cmd := models.DeviceCommand{
		ID: h.newID(), RunID: req.RunID, StepID: req.StepID, Attempt: req.Attempt, Delivery: n,
		IdempotencyKey: req.IdempotencyKey, Command: req.Command, Args: redactAll(req.Redact, req.Args), Status: models.CommandQueued, CreatedAt: h.now(),
	}
	queueTimeout := req.QueueTimeout
	if queueTimeout <= 0 {
		queueTimeout = h.cfg.QueueTimeout
	}
	var timer <-chan time.Time
	start := time.Now()
	// Devices registered by another process (baton device add) appear in
	// the routing without waiting for the periodic sync; one dispatcher
	// reads them for all.
	h.mu.Lock()
	stale := time.Since(h.synced) > 250*time.Millisecond
	if stale {
		h.synced = time.Now()
	}
	h.mu.Unlock()
	if stale {
		if err := h.sync(ctx); err != nil {
			return nil, models.Routing{}, err
		}
	}
	var w *waiter
	// leave takes w out of the queue; a wake it received but did not use
	// goes to the next waiter.
	leave := func() {
		if w == nil {
			return
		}
		if w.elem != nil {
			h.waiters.Remove(w.elem)
			w.elem = nil
		} else {
			h.wakeForFreeLocked()
		}
	}
	for {
		h.mu.Lock()
		if dl := h.takeAdoptableLocked(&req); dl != nil {
			leave()
			h.mu.Unlock()
			why := fmt.Sprintf("took over delivery %d, which %s ", dl.cmd.Delivery, dl.cmd.Device)
			if dl.sess != nil {
				why += "was still running when the server or its connection came back"
				h.update(&dl.cmd)
			} else {
				why += "finished while the server or its connection was away"
			}
			routing := models.Routing{Strategy: req.Strategy, Chosen: dl.cmd.Device, Why: why}
			return dl, routing, nil
		}
		routing, d := h.pickLocked(req)
		if d != nil {
			leave()
			dl := &delivery{sess: d.sess, result: make(chan *models.AgentResult, 1), lost: make(chan struct{}), redact: req.Redact}
			d.inFlight++
			h.pending[cmd.ID] = dl
			d.sess.inflight[cmd.ID] = dl
			sentAt := h.now()
			cmd.Device, cmd.Status, cmd.SentAt = routing.Chosen, models.CommandSent, &sentAt
			dl.cmd = cmd
			h.mu.Unlock()
			// Stored before it is sent. A command that waits for a device
			// is not stored while it waits: its step is (running), and a
			// restarted server dispatches it again.
			if err := h.store.CreateCommand(ctx, &dl.cmd); err != nil {
				h.release(dl)
				return nil, routing, err
			}
			h.metrics.dispatched(start, w != nil)
			if err := dl.sess.conn.Send(ctx, &models.AgentMessage{Type: models.MsgCommand, Command: agentCommand(req, cmd.ID)}); err != nil {
				// The connection is broken: closing it ends the session,
				// which marks this delivery lost.
				_ = dl.sess.conn.Close("send failed")
			}
			return dl, routing, nil
		}
		switch {
		case w == nil:
			w = &waiter{req: &req, ready: make(chan struct{})}
			w.elem = h.waiters.PushBack(w)
		case w.elem == nil:
			// Woken, but nothing fitted after all: back to the front of
			// the queue, and the slot goes to the next waiter.
			w.ready = make(chan struct{})
			w.elem = h.waiters.PushFront(w)
			h.wakeForFreeLocked()
		}
		ready := w.ready
		h.mu.Unlock()
		if timer == nil {
			t := time.NewTimer(queueTimeout)
			defer t.Stop()
			timer = t.C
		}
		select {
		case <-ready:
		case <-timer:
			_ = h.sync(ctx)
			h.mu.Lock()
			routing, _ = h.pickLocked(req)
			leave()
			h.mu.Unlock()
			msg := fmt.Sprintf("no device could take the command within the queue timeout of %s: %s", queueTimeout, explain(routing))
			now := h.now()
			cmd.Status, cmd.Error, cmd.FinishedAt = models.CommandFailed, "no_device: "+msg, &now
			h.record(&cmd)
			return nil, routing, &models.DispatchError{Code: CodeNoDevice, Message: msg, Routing: routing}
		case <-ctx.Done():
			h.mu.Lock()
			leave()
			h.mu.Unlock()
			now := h.now()
			cmd.Status, cmd.Error, cmd.FinishedAt = models.CommandCancelled, "cancelled while queued", &now
			h.record(&cmd)
			return nil, routing, ctx.Err()
		}
	}
}

// CodeNoDevice is the step error when no device fitted.
const CodeNoDevice = "no_device"

// release undoes a reservation that was never sent.
func (h *Hub) release(dl *delivery) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.pending[dl.cmd.ID]; !ok {
		return
	}
	delete(h.pending, dl.cmd.ID)
	delete(dl.sess.inflight, dl.cmd.ID)
	if d := h.devices[dl.cmd.Device]; d != nil {
		d.inFlight = max(d.inFlight-1, 0)
		h.wakeForLocked(d)
	}
}

func agentCommand(req models.CommandRequest, id string) *models.AgentCommand {
	env := make(map[string]string, len(req.Env)+1)
	maps.Copy(env, req.Env)
	env["BATON_IDEMPOTENCY_KEY"] = req.IdempotencyKey
	return &models.AgentCommand{
		ID: id, Command: req.Command, Args: req.Args, Env: env, IdempotencyKey: req.IdempotencyKey,
		TimeoutMs: req.Timeout.Milliseconds(), MaxOutputBytes: req.MaxOutputBytes,
	}
}

// explain says, route by route and device by device, why none fitted.
func explain(r models.Routing) string {
	if len(r.Candidates) == 0 {
		return "no device is registered"
	}
	parts := make([]string, len(r.Candidates))
	for i, c := range r.Candidates {
		parts[i] = c.Device + ": " + c.Reason
	}
	return strings.Join(parts, "; ")
}

// caps are the registered capabilities and those the agent declared,
// sorted; computed once per change (the result must not be modified).
func (d *device) caps() []string {
	if d.mergedCaps == nil {
		out := slices.Clone(d.reg.Capabilities)
		for _, c := range d.declCaps {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
		sort.Strings(out)
		d.mergedCaps = append([]string{}, out...)
	}
	return d.mergedCaps
}

// labels are the declared labels with the registered ones over them,
// computed once per change (the result must not be modified).
func (d *device) labels() map[string]string {
	if d.mergedLabels == nil {
		out := make(map[string]string, len(d.declLbls)+len(d.reg.Labels))
		maps.Copy(out, d.declLbls)
		maps.Copy(out, d.reg.Labels)
		d.mergedLabels = out
	}
	return d.mergedLabels
}

// changed forgets the merged capabilities and labels.
func (d *device) changed() { d.mergedCaps, d.mergedLabels = nil, nil }

func (d *device) health() float64 {
	if len(d.history) == 0 {
		return 0
	}
	fails, dur := 0, int64(0)
	for _, o := range d.history {
		if !o.ok {
			fails++
		}
		dur += o.dur
	}
	n := float64(len(d.history))
	lat := float64(dur) / n
	// Failure rate weighs most; latency adds up to half as much.
	return float64(fails)/n + 0.5*lat/(lat+10000)
}

func (h *Hub) namesLocked() []string {
	if h.names == nil {
		h.names = make([]string, 0, len(h.devices))
		for n := range h.devices {
			h.names = append(h.names, n)
		}
		sort.Strings(h.names)
	}
	return h.names
}

// pickLocked evaluates every device against each route in order and, on
// the first route some device matches, chooses among those with a free
// slot by the strategy (reserving nothing). It returns the routing with
// the chosen device, or no device when none is free. Routing.Candidates
// hold the devices of the route that matched, or of every route (each
// reason prefixed by its route) when none did.
func (h *Hub) pickLocked(req models.CommandRequest) (models.Routing, *device) {
	names := h.namesLocked()
	var all []models.RoutingCandidate
	for ri, route := range req.Routes {
		strategy, pinned := req.Strategy, ""
		if ri == 0 && strategy == models.RoutePinned {
			pinned = req.Device
		} else if strategy == models.RoutePinned {
			strategy = models.RouteLeastLoaded
		}
		cands := make([]models.RoutingCandidate, 0, len(names))
		var free []*device
		var freeIdx []int
		matched := 0
		for _, name := range names {
			d := h.devices[name]
			if d.reg.RevokedAt != nil {
				continue
			}
			c := models.RoutingCandidate{Device: name}
			if d.maxConc > 0 {
				c.Load = round(float64(d.inFlight) / float64(d.maxConc))
			}
			c.Reason = h.ineligible(d, route, pinned)
			if c.Reason == "" {
				c.Eligible = true
				matched++
				c.Score = round(c.Load + 0.01*d.health())
				if d.inFlight >= d.maxConc {
					c.Reason = fmt.Sprintf("busy: %d of %d slots in use", d.inFlight, d.maxConc)
				} else {
					c.Reason = "eligible"
					free = append(free, d)
					freeIdx = append(freeIdx, len(cands))
				}
			}
			cands = append(cands, c)
		}
		if matched == 0 {
			for _, c := range cands {
				if ri > 0 {
					c.Reason = fmt.Sprintf("fallback %d: %s", ri, c.Reason)
				}
				all = append(all, c)
			}
			continue
		}
		r := models.Routing{Strategy: strategy, Route: ri, Candidates: cands}
		if len(free) == 0 {
			return r, nil
		}
		i, why := h.choose(strategy, route, ri, cands, freeIdx)
		r.Chosen = free[i].reg.Name
		cands[freeIdx[i]].Reason = "chosen"
		prefix := ""
		if ri > 0 {
			prefix = fmt.Sprintf("fallback %d (%s), because no device matched %s; ", ri, describe(route), describeEarlier(req.Routes[:ri]))
		}
		r.Why = prefix + why
		return r, free[i]
	}
	return models.Routing{Strategy: req.Strategy, Candidates: all}, nil
}

// choose picks one of the free devices (cands[freeIdx[i]]) by strategy and
// says why.
func (h *Hub) choose(strategy string, route models.DeviceRoute, ri int, cands []models.RoutingCandidate, freeIdx []int) (int, string) {
	key := fmt.Sprintf("%d|%s", ri, describe(route))
	n := len(freeIdx)
	switch strategy {
	case models.RoutePinned:
		return 0, "pinned to this device"
	case models.RouteRandom:
		return rand.IntN(n), fmt.Sprintf("random among %d free eligible devices", n)
	case models.RouteRoundRobin:
		c := h.rr[key]
		h.rr[key]++
		return int(c % uint64(n)), fmt.Sprintf("round robin: next of %d free eligible devices", n)
	}
	best := math.Inf(1)
	var tied []int
	for i, ci := range freeIdx {
		s := cands[ci].Score
		switch {
		case s < best-1e-9:
			best, tied = s, []int{i}
		case math.Abs(s-best) <= 1e-9:
			tied = append(tied, i)
		}
	}
	c := h.rr[key]
	h.rr[key]++
	pick := tied[int(c%uint64(len(tied)))]
	why := fmt.Sprintf("least loaded: load %.0f%% (score %.3f: load, then recent failures and latency) among %d free eligible devices", cands[freeIdx[pick]].Load*100, best, n)
	if len(tied) > 1 {
		why += fmt.Sprintf("; %d tied, broken round robin", len(tied))
	}
	return pick, why
}

// ineligible says why d cannot take commands of route, or "" when it can.
func (h *Hub) ineligible(d *device, route models.DeviceRoute, pinned string) string {
	switch {
	case pinned != "" && d.reg.Name != pinned:
		return "not the pinned device " + pinned
	case d.sess == nil:
		if t := d.reg.LastSeenAt; t != nil {
			return "offline (last seen " + t.UTC().Format(time.RFC3339) + ")"
		}
		return "offline (never connected)"
	case d.reg.Draining:
		return "draining"
	case !d.sess.ready:
		return "connecting"
	}
	caps := d.caps()
	var missing []string
	for _, c := range route.Require {
		if !slices.Contains(caps, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return "lacks capability " + strings.Join(missing, ", ")
	}
	labels := d.labels()
	for _, k := range slices.Sorted(maps.Keys(route.Labels)) {
		want := route.Labels[k]
		got, ok := labels[k]
		switch {
		case !ok:
			return fmt.Sprintf("has no label %s (needs %s=%s)", k, k, want)
		case got != want:
			return fmt.Sprintf("label %s is %s, needs %s", k, got, want)
		}
	}
	return ""
}

func describe(r models.DeviceRoute) string {
	var parts []string
	if len(r.Require) > 0 {
		parts = append(parts, "require "+strings.Join(r.Require, ", "))
	}
	for _, k := range slices.Sorted(maps.Keys(r.Labels)) {
		parts = append(parts, k+"="+r.Labels[k])
	}
	if len(parts) == 0 {
		return "any device"
	}
	return strings.Join(parts, ", ")
}

func describeEarlier(rs []models.DeviceRoute) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = describe(r)
	}
	return strings.Join(parts, " or ")
}

func round(f float64) float64 { return math.Round(f*1000) / 1000 }

func redactAll(redact func(string) string, ss []string) []string {
	if redact == nil {
		return ss
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = redact(s)
	}
	return out
}
