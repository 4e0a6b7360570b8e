package agent_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/baton-run/baton/engine/agent"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// pipe is an in-memory models.AgentConn pair: the hub's end and the
// fake agent's.
type pipe struct {
	toHub, toAgent chan *models.AgentMessage
	closed         chan struct{}
	once           sync.Once
}

func newPipe() *pipe {
	return &pipe{toHub: make(chan *models.AgentMessage, 64), toAgent: make(chan *models.AgentMessage, 64), closed: make(chan struct{})}
}

var errClosed = errors.New("closed")

func (p *pipe) Send(ctx context.Context, m *models.AgentMessage) error {
	select {
	case p.toAgent <- m:
		return nil
	case <-p.closed:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *pipe) Receive(ctx context.Context) (*models.AgentMessage, error) {
	select {
	case m := <-p.toHub:
		return m, nil
	case <-p.closed:
		return nil, errClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *pipe) Close(string) error {
	p.once.Do(func() { close(p.closed) })
	return nil
}

// fakeAgent answers every command after hold, exit code 0, and records
// how many it ran at once.
type fakeAgent struct {
	name    string
	p       *pipe
	hold    time.Duration
	silent  bool // never answers
	running atomic.Int32
	peak    atomic.Int32
	ran     atomic.Int32
}

type env struct {
	t   testing.TB
	st  *store.Store
	hub *agent.Hub
	ctx context.Context
}

func newEnv(t testing.TB, cfg agent.Config) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	h := agent.New(st, cfg)
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return &env{t: t, st: st, hub: h, ctx: ctx}
}

// connect registers (once) and connects a fake agent.
func (e *env) connect(name string, maxConc int, caps []string, labels map[string]string, hold time.Duration) *fakeAgent {
	e.t.Helper()
	dev, err := e.st.DeviceByName(e.ctx, name)
	if err != nil {
		dev = &models.Device{Name: name, TokenHash: "hash-" + name}
		if err := e.hub.Register(e.ctx, dev); err != nil {
			e.t.Fatal(err)
		}
	}
	a := &fakeAgent{name: name, p: newPipe(), hold: hold}
	a.p.toHub <- &models.AgentMessage{Type: models.MsgHello, Capabilities: caps, Labels: labels, MaxConcurrency: maxConc}
	go func() { _ = e.hub.Serve(e.ctx, dev, a.p) }()
	select {
	case m := <-a.p.toAgent:
		if m.Type != models.MsgWelcome {
			e.t.Fatalf("%s: first message %q", name, m.Type)
		}
	case <-time.After(5 * time.Second):
		e.t.Fatalf("%s: no welcome", name)
	}
	go a.serve()
	return a
}

func (a *fakeAgent) serve() {
	beat := time.NewTicker(20 * time.Millisecond)
	defer beat.Stop()
	for {
		select {
		case <-a.p.closed:
			return
		case <-beat.C:
			if !a.silent {
				select {
				case a.p.toHub <- &models.AgentMessage{Type: models.MsgHeartbeat}:
				default:
				}
			}
		case m := <-a.p.toAgent:
			if m.Type != models.MsgCommand || a.silent {
				continue
			}
			n := a.running.Add(1)
			for {
				p := a.peak.Load()
				if n <= p || a.peak.CompareAndSwap(p, n) {
					break
				}
			}
			go func(id string) {
				time.Sleep(a.hold)
				a.running.Add(-1)
				a.ran.Add(1)
				select {
				case a.p.toHub <- &models.AgentMessage{Type: models.MsgResult, Result: &models.AgentResult{ID: id, Stdout: a.name}}:
				case <-a.p.closed:
				}
			}(m.Command.ID)
		}
	}
}

func req(i int) models.CommandRequest {
	return models.CommandRequest{RunID: "run", StepID: fmt.Sprintf("s%d", i), Attempt: 1, IdempotencyKey: fmt.Sprintf("run/s%d", i), Command: "true"}
}

func TestLeastLoadedSpreadsLoadWithinMaxConcurrency(t *testing.T) {
	t.Parallel()
	e := newEnv(t, agent.Config{})
	agents := []*fakeAgent{
		e.connect("a", 2, nil, nil, 20*time.Millisecond),
		e.connect("b", 2, nil, nil, 20*time.Millisecond),
		e.connect("c", 2, nil, nil, 20*time.Millisecond),
	}
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.hub.Dispatch(e.ctx, req(i)); err != nil {
				failed.Add(1)
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	total := int32(0)
	for _, a := range agents {
		if a.peak.Load() > 2 {
			t.Errorf("%s ran %d commands at once; its max is 2", a.name, a.peak.Load())
		}
		if a.ran.Load() < 10 {
			t.Errorf("%s ran only %d of 60 commands: load is not spread", a.name, a.ran.Load())
		}
		total += a.ran.Load()
	}
	if total != 60 {
		t.Errorf("%d commands ran, want 60", total)
	}
}

func TestRoundRobinAndPinned(t *testing.T) {
	t.Parallel()
	e := newEnv(t, agent.Config{})
	for _, n := range []string{"a", "b", "c"} {
		e.connect(n, 1, []string{"x"}, nil, 0)
	}
	var got []string
	for i := range 6 {
		r := req(i)
		r.Strategy = models.RouteRoundRobin
		res, err := e.hub.Dispatch(e.ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, res.Device)
	}
	if fmt.Sprint(got) != "[a b c a b c]" {
		t.Errorf("round robin went %v", got)
	}
	r := req(9)
	r.Strategy, r.Device = models.RoutePinned, "b"
	res, err := e.hub.Dispatch(e.ctx, r)
	if err != nil || res.Device != "b" || res.Routing.Candidates[0].Reason != "not the pinned device b" {
		t.Fatalf("pinned: %+v, %v", res, err)
	}
}

func TestDroppedDeviceRedeliversAndLateResultIsOnlyRecorded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, agent.Config{})
	a := e.connect("a", 1, nil, nil, 0)
	a.silent = true
	type out struct {
		res *models.CommandResult
		err error
	}
	done := make(chan out, 2)
	go func() {
		res, err := e.hub.Dispatch(e.ctx, req(1))
		done <- out{res, err}
	}()
	// Wait until a holds the command, then drop it and bring b.
	var first string
	deadline := time.After(5 * time.Second)
	for first == "" {
		cmds, _ := e.st.ListCommands(e.ctx, "a", "", 10)
		if len(cmds) == 1 {
			first = cmds[0].ID
			break
		}
		select {
		case <-deadline:
			t.Fatal("the command never reached a")
		case <-time.After(10 * time.Millisecond):
		}
	}
	e.connect("b", 1, nil, nil, 0)
	_ = a.p.Close("network gone")
	got := <-done
	if got.err != nil || got.res.Device != "b" || got.res.Routing.Deliveries != 2 {
		t.Fatalf("after a dropped: %+v, %v", got.res, got.err)
	}
	// a comes back and reports the result it finished while away.
	dev, _ := e.st.DeviceByName(e.ctx, "a")
	p := newPipe()
	p.toHub <- &models.AgentMessage{Type: models.MsgHello, MaxConcurrency: 1,
		Finished: []*models.AgentResult{{ID: first, ExitCode: 0, Stdout: "late"}}}
	go func() { _ = e.hub.Serve(e.ctx, dev, p) }()
	<-p.toAgent // welcome
	waitUntil(t, func() bool {
		c, err := e.st.CommandByID(e.ctx, first)
		return err == nil && c.Late
	})
	c, _ := e.st.CommandByID(e.ctx, first)
	if c.Status != models.CommandLost || c.ExitCode == nil {
		t.Errorf("late result row: %+v", c)
	}
	select {
	case o := <-done:
		t.Fatalf("the step completed twice: %+v", o)
	default:
	}
}

func TestMissedHeartbeatsRequeue(t *testing.T) {
	t.Parallel()
	e := newEnv(t, agent.Config{HeartbeatTimeout: 150 * time.Millisecond})
	a := e.connect("a", 1, nil, nil, 0)
	a.silent = true
	go func() {
		time.Sleep(50 * time.Millisecond)
		e.connect("b", 1, nil, nil, 0)
	}()
	start := time.Now()
	res, err := e.hub.Dispatch(e.ctx, req(1))
	if err != nil || res.Device != "b" {
		t.Fatalf("after a fell silent: %+v, %v", res, err)
	}
	if time.Since(start) < 150*time.Millisecond {
		t.Errorf("re-sent before the heartbeat timeout")
	}
}

func TestNoDeviceSaysWhyPerDevice(t *testing.T) {
	t.Parallel()
	e := newEnv(t, agent.Config{})
	e.connect("a", 1, []string{"linux"}, map[string]string{"site": "berlin"}, 0)
	r := req(1)
	r.QueueTimeout = 50 * time.Millisecond
	r.Routes = []models.DeviceRoute{{Require: []string{"linux"}, Labels: map[string]string{"site": "paris"}}, {Require: []string{"gpu"}}}
	_, err := e.hub.Dispatch(e.ctx, r)
	var de *models.DispatchError
	if !errors.As(err, &de) || de.Code != "no_device" {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"a: label site is berlin, needs paris", "a: fallback 1: lacks capability gpu"} {
		if !contains(de.Message, want) {
			t.Errorf("message %q lacks %q", de.Message, want)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func waitUntil(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition never held")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e := newEnv(t, agent.Config{Metrics: reg})
	e.connect("a", 3, nil, nil, 0)
	if _, err := e.hub.Dispatch(e.ctx, req(1)); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
			got[f.GetName()] = fmt.Sprint(v)
		}
	}
	for name, want := range map[string]string{"baton_device_dispatch_seconds": "1", "baton_device_commands_total": "1", "baton_device_slots": "3", "baton_device_in_flight": "0"} {
		if got[name] != want {
			t.Errorf("%s = %q, want %s (all: %v)", name, got[name], want, got)
		}
	}
}

func TestLiveOutputIsRedacted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, agent.Config{})
	a := e.connect("a", 1, nil, nil, 0)
	a.silent = true
	r := req(1)
	r.Args = []string{"--key=pw-123"}
	r.Redact = func(s string) string { return strings.ReplaceAll(s, "pw-123", "***") }
	go func() { _, _ = e.hub.Dispatch(e.ctx, r) }()
	var id string
	waitUntil(t, func() bool {
		cmds, _ := e.st.ListCommands(e.ctx, "a", "", 1)
		if len(cmds) == 1 {
			id = cmds[0].ID
			if fmt.Sprint(cmds[0].Args) != "[--key=***]" {
				t.Errorf("stored args: %v", cmds[0].Args)
			}
		}
		return id != ""
	})
	a.p.toHub <- &models.AgentMessage{Type: models.MsgOutput, ID: id, Stream: "stdout", Data: "using pw-123\n"}
	waitUntil(t, func() bool {
		out, ok := e.hub.LiveOutput("run", "s1")
		return ok && out.Stdout == "using ***\n"
	})
}

// TestResultFinishedWhileAwayIsTakenOver drops the only device mid-command;
// the command waits; the device comes back with the result it finished
// meanwhile, which completes the step without the command being sent again.
func TestResultFinishedWhileAwayIsTakenOver(t *testing.T) {
	t.Parallel()
	e := newEnv(t, agent.Config{})
	a := e.connect("a", 1, nil, nil, 0)
	a.silent = true
	done := make(chan *models.CommandResult, 1)
	go func() {
		res, err := e.hub.Dispatch(e.ctx, req(1))
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	var first string
	waitUntil(t, func() bool {
		cmds, _ := e.st.ListCommands(e.ctx, "a", "", 1)
		if len(cmds) == 1 {
			first = cmds[0].ID
		}
		return first != ""
	})
	_ = a.p.Close("gone")
	dev, _ := e.st.DeviceByName(e.ctx, "a")
	p := newPipe()
	p.toHub <- &models.AgentMessage{Type: models.MsgHello, MaxConcurrency: 1,
		Finished: []*models.AgentResult{{ID: first, Stdout: "done while away"}}}
	go func() { _ = e.hub.Serve(e.ctx, dev, p) }()
	var res *models.CommandResult
	select {
	case res = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the step did not complete")
	}
	if res.Stdout != "done while away" || res.CommandID != first {
		t.Fatalf("result: %+v", res)
	}
	for {
		select {
		case m := <-p.toAgent:
			if m.Type == models.MsgCommand {
				t.Fatalf("the command was sent again: %+v", m.Command)
			}
			continue
		default:
		}
		break
	}
	c, _ := e.st.CommandByID(e.ctx, first)
	if c.Status != models.CommandSucceeded || c.Late {
		t.Errorf("the taken-over delivery: %+v", c)
	}
}
