// Package agentd is `baton agent`, the device side: it keeps one outbound
// WebSocket to the server (reconnecting with capped, jittered backoff),
// says what the device can do, sends heartbeats with its load, and runs
// the commands it is sent: only executables on its allow-list, without a
// shell, each in its own process group, killed as a group on timeout or
// cancel, with capped output. Results that could not be sent wait for the
// next connection. It imports models only (and the WebSocket client).
package agentd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/baton-run/baton/models"
)

// Config is how an agent runs.
type Config struct {
	Server         string // the server's base URL, http(s)://host:port
	Token          string // the device token
	Name           string // informational; the token decides the device
	Capabilities   []string
	Labels         map[string]string
	MaxConcurrency int      // default 1
	Allow          []string // executables it may run: names looked up on PATH, or absolute paths
	WorkDir        string   // where commands run; default the current directory
	// MaxOutputBytes caps stdout and stderr each; default 1 MiB.
	MaxOutputBytes int
	// Grace is how long Run waits for running commands after ctx ends;
	// default 30s.
	Grace time.Duration
	// MinBackoff and MaxBackoff bound the pause between reconnects;
	// defaults 500ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	Version                string
	Logger                 *slog.Logger
}

// ErrRefused is returned by Run when the server refuses the token (revoked
// or unknown): retrying cannot help.
var ErrRefused = errors.New("the server refused the device token (revoked or unknown)")

// Agent is one running agent.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	allowed map[string]string // name or absolute path as written → resolved absolute path

	mu       sync.Mutex
	conn     *websocket.Conn
	running  map[string]context.CancelCauseFunc
	unsent   []*models.AgentResult
	stopping bool
	wg       sync.WaitGroup
}

// New checks cfg and resolves the allow-list.
func New(cfg Config) (*Agent, error) {
	if cfg.Server == "" || cfg.Token == "" {
		return nil, errors.New("agent: --server and a token (--token or BATON_AGENT_TOKEN) are required")
	}
	cfg.MaxConcurrency = max(cfg.MaxConcurrency, 1)
	cfg.MaxOutputBytes = cmp.Or(cfg.MaxOutputBytes, 1<<20)
	cfg.Grace = cmp.Or(cfg.Grace, 30*time.Second)
	cfg.MinBackoff = cmp.Or(cfg.MinBackoff, 500*time.Millisecond)
	cfg.MaxBackoff = cmp.Or(cfg.MaxBackoff, 30*time.Second)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	if cfg.WorkDir != "" {
		abs, err := filepath.Abs(cfg.WorkDir)
		if err != nil {
			return nil, err
		}
		if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("agent: --work-dir %s is not a directory", cfg.WorkDir)
		}
		cfg.WorkDir = abs
	}
	a := &Agent{cfg: cfg, log: cfg.Logger, allowed: map[string]string{}, running: map[string]context.CancelCauseFunc{}}
	for _, name := range cfg.Allow {
		path, err := resolve(name)
		if err != nil {
			return nil, fmt.Errorf("agent: --allow %s: %w", name, err)
		}
		a.allowed[name] = path
		a.allowed[path] = path
	}
	return a, nil
}

// Run connects and serves until ctx ends. Then it refuses new commands
// (the server sends them elsewhere), waits up to the grace period for the
// running ones, sends their results over the connection it keeps open
// meanwhile, and closes. It returns nil after a clean stop and ErrRefused
// when the token is refused.
func (a *Agent) Run(ctx context.Context) error {
	connCtx, cancelConn := context.WithCancel(context.Background())
	defer cancelConn()
	done := make(chan error, 1)
	go func() { done <- a.loop(connCtx) }()
	select {
	case err := <-done:
		a.stopNow()
		a.wg.Wait()
		return err
	case <-ctx.Done():
	}
	a.log.Info("agent: stopping; running commands finish first", "grace", a.cfg.Grace)
	err := a.stop()
	cancelConn()
	if lerr := <-done; errors.Is(lerr, ErrRefused) {
		return lerr
	}
	return err
}

// loop keeps a connection open, reconnecting with backoff, until ctx ends
// or the token is refused.
func (a *Agent) loop(ctx context.Context) error {
	attempt := 0
	for {
		connected, err := a.session(ctx)
		if ctx.Err() != nil {
			return nil //nolint:nilerr // the session ended because the agent is stopping: not a failure
		}
		if errors.Is(err, ErrRefused) {
			return err
		}
		if connected {
			attempt = 0
		}
		attempt++
		wait := backoff(attempt, a.cfg.MinBackoff, a.cfg.MaxBackoff)
		a.log.Warn("agent: disconnected; reconnecting", "err", err, "in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// backoff is "full jitter": a random pause up to min(max, min·2^attempt).
func backoff(attempt int, lo, hi time.Duration) time.Duration {
	ceil := hi
	if attempt < 30 {
		ceil = min(hi, lo<<attempt)
	}
	return lo/2 + time.Duration(rand.Int64N(int64(max(ceil-lo/2, 1))))
}

func (a *Agent) connectURL() (string, error) {
	u, err := url.Parse(a.cfg.Server)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("--server %q: use http:// or https://", a.cfg.Server)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/agents/connect"
	return u.String(), nil
}

// session runs one connection. connected reports whether the server
// welcomed it.
func (a *Agent) session(ctx context.Context) (connected bool, err error) {
	u, err := a.connectURL()
	if err != nil {
		return false, err
	}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	c, resp, err := websocket.Dial(dctx, u, &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + a.cfg.Token}},
	})
	cancel()
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			return false, ErrRefused
		}
		return false, err
	}
	c.SetReadLimit(8 << 20)
	defer func() { _ = c.CloseNow() }()

	a.mu.Lock()
	hello := &models.AgentMessage{Type: models.MsgHello, Name: a.cfg.Name, Capabilities: a.cfg.Capabilities, Labels: a.cfg.Labels,
		MaxConcurrency: a.cfg.MaxConcurrency, Version: a.cfg.Version, Finished: a.unsent}
	for id := range a.running {
		hello.Running = append(hello.Running, id)
	}
	a.mu.Unlock()
	if err := wsjson.Write(ctx, c, hello); err != nil {
		return false, err
	}
	var welcome models.AgentMessage
	if err := wsjson.Read(ctx, c, &welcome); err != nil {
		return false, err
	}
	if welcome.Type != models.MsgWelcome {
		return false, fmt.Errorf("expected welcome, got %q", welcome.Type)
	}
	a.mu.Lock()
	a.unsent = a.unsent[len(hello.Finished):]
	a.conn = c
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.conn = nil
		a.mu.Unlock()
	}()
	a.log.Info("agent: connected", "server", a.cfg.Server, "device", welcome.Device)

	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go a.heartbeats(sctx, c, time.Duration(cmp.Or(welcome.HeartbeatInterval, 5000))*time.Millisecond)
	for {
		var m models.AgentMessage
		if err := wsjson.Read(ctx, c, &m); err != nil {
			return true, err
		}
		switch m.Type {
		case models.MsgCommand:
			if m.Command != nil {
				a.start(m.Command)
			}
		case models.MsgCancel:
			a.mu.Lock()
			if cancel := a.running[m.ID]; cancel != nil {
				cancel(errCancelled)
			}
			a.mu.Unlock()
		}
	}
}

func (a *Agent) heartbeats(ctx context.Context, c *websocket.Conn, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.mu.Lock()
			n := len(a.running)
			a.mu.Unlock()
			wctx, cancel := context.WithTimeout(ctx, every)
			err := wsjson.Write(wctx, c, &models.AgentMessage{Type: models.MsgHeartbeat, InFlight: n})
			cancel()
			if err != nil {
				_ = c.Close(websocket.StatusGoingAway, "heartbeat failed")
				return
			}
		}
	}
}

var (
	errCancelled = errors.New("cancelled by the server")
	errStopping  = errors.New("agent stopping")
)

// start runs cmd on its own goroutine and reports its result.
func (a *Agent) start(cmd *models.AgentCommand) {
	a.mu.Lock()
	if a.stopping {
		a.mu.Unlock()
		a.report(&models.AgentResult{ID: cmd.ID, ExitCode: -1, Code: "shutting_down", Message: "the agent is stopping"})
		return
	}
	if _, dup := a.running[cmd.ID]; dup {
		a.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	a.running[cmd.ID] = cancel
	a.wg.Add(1)
	a.mu.Unlock()
	go func() {
		defer a.wg.Done()
		res := a.execute(ctx, cmd)
		cancel(nil)
		a.mu.Lock()
		delete(a.running, cmd.ID)
		a.mu.Unlock()
		a.report(res)
	}()
}

// sendOutput sends a piece of live output, or drops it when not
// connected (the result carries the whole output anyway).
func (a *Agent) sendOutput(id, stream, data string) {
	a.mu.Lock()
	c := a.conn
	a.mu.Unlock()
	if c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = wsjson.Write(ctx, c, &models.AgentMessage{Type: models.MsgOutput, ID: id, Stream: stream, Data: data})
}

// report sends a result, or keeps it for the next connection.
func (a *Agent) report(res *models.AgentResult) {
	a.mu.Lock()
	c := a.conn
	a.mu.Unlock()
	if c != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := wsjson.Write(ctx, c, &models.AgentMessage{Type: models.MsgResult, Result: res})
		cancel()
		if err == nil {
			return
		}
	}
	a.mu.Lock()
	a.unsent = append(a.unsent, res)
	a.mu.Unlock()
}

// stop finishes the running commands (up to the grace period), sends
// their results if connected, and closes.
func (a *Agent) stop() error {
	a.mu.Lock()
	a.stopping = true
	a.mu.Unlock()
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(a.cfg.Grace):
		a.log.Warn("agent: grace period over; killing the commands still running")
		a.stopNow()
		<-done
	}
	a.mu.Lock()
	c := a.conn
	a.mu.Unlock()
	if c != nil {
		_ = c.Close(websocket.StatusNormalClosure, "agent stopping")
	}
	return nil
}

func (a *Agent) stopNow() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopping = true
	for _, cancel := range a.running {
		cancel(errStopping)
	}
}
