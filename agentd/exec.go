package agentd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/baton-run/baton/models"
)

// resolve turns an --allow entry into an absolute path: an absolute path
// as is (it must exist), a bare name through PATH.
func resolve(name string) (string, error) {
	if filepath.IsAbs(name) {
		if _, err := os.Stat(name); err != nil {
			return "", err
		}
		return filepath.Clean(name), nil
	}
	if strings.ContainsRune(name, '/') {
		return "", errors.New("give a bare name (looked up on PATH) or an absolute path")
	}
	return exec.LookPath(name)
}

// allowedPath returns the executable for a command the server sent, or ""
// when it is not on the allow-list.
func (a *Agent) allowedPath(command string) string {
	if p, ok := a.allowed[command]; ok {
		return p
	}
	return ""
}

// execute runs one command: no shell, its own process group, the group
// killed on timeout or cancel, output capped.
func (a *Agent) execute(ctx context.Context, cmd *models.AgentCommand) *models.AgentResult {
	res := &models.AgentResult{ID: cmd.ID, ExitCode: -1}
	path := a.allowedPath(cmd.Command)
	if path == "" {
		res.Code, res.Message = "not_allowed", fmt.Sprintf("%q is not on this agent's --allow list", cmd.Command)
		a.log.Warn("agent: refused a command not on the allow-list", "command", cmd.Command, "id", cmd.ID)
		return res
	}
	if cmd.TimeoutMs > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, time.Duration(cmd.TimeoutMs)*time.Millisecond, errTimeout)
		defer cancel()
	}
	limit := a.cfg.MaxOutputBytes
	if cmd.MaxOutputBytes > 0 {
		limit = min(limit, cmd.MaxOutputBytes)
	}
	stdout, stderr := &capped{max: limit}, &capped{max: limit}
	c := exec.Command(path, cmd.Args...)
	c.Dir = a.cfg.WorkDir
	c.Env = commandEnv(cmd)
	c.Stdout, c.Stderr = stdout, stderr
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.WaitDelay = 2 * time.Second // a descendant that left the group cannot hold the pipes open
	start := time.Now()
	if err := c.Start(); err != nil {
		res.Code, res.Message = "start_failed", err.Error()
		return res
	}
	waited := make(chan error, 1)
	go func() { waited <- c.Wait() }()
	stopStream := a.stream(cmd.ID, stdout, stderr)
	defer stopStream()
	var err error
	select {
	case err = <-waited:
	case <-ctx.Done():
		// Kill the whole group: children the command started go too.
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		err = <-waited
	}
	res.DurationMs = time.Since(start).Milliseconds()
	res.Stdout, res.Stderr = stdout.String(), stderr.String()
	res.Truncated = stdout.cut || stderr.cut
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil && errors.Is(context.Cause(ctx), errTimeout):
		res.Code, res.Message = "timeout", fmt.Sprintf("killed after %dms", cmd.TimeoutMs)
	case ctx.Err() != nil:
		res.Code, res.Message = "cancelled", context.Cause(ctx).Error()
	case err == nil:
		res.ExitCode = 0
	case errors.As(err, &ee):
		res.ExitCode = ee.ExitCode()
	default:
		res.Code, res.Message = "start_failed", err.Error()
	}
	return res
}

var errTimeout = errors.New("command timed out")

// commandEnv is the agent's environment without its own token, plus the
// step's env and its idempotency key.
func commandEnv(cmd *models.AgentCommand) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "BATON_AGENT_TOKEN=") {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range cmd.Env {
		env = append(env, k+"="+v)
	}
	return append(env, "BATON_IDEMPOTENCY_KEY="+cmd.IdempotencyKey, "BATON_COMMAND_ID="+cmd.ID)
}

// streamEvery is how often new output is sent to the server while a
// command runs; streamChunk caps one message.
const (
	streamEvery = 300 * time.Millisecond
	streamChunk = 16 << 10
)

// stream sends the command's new output to the server while it runs (the
// run page shows it live); the result still carries all of it. It returns
// the function that stops it.
func (a *Agent) stream(id string, stdout, stderr *capped) func() {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(streamEvery)
		defer t.Stop()
		sent := [2]int{}
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			for i, w := range []*capped{stdout, stderr} {
				chunk := w.since(sent[i], streamChunk)
				if chunk == "" {
					continue
				}
				sent[i] += len(chunk)
				a.sendOutput(id, []string{"stdout", "stderr"}[i], chunk)
			}
		}
	}()
	return func() { close(done); <-finished }
}

// since returns up to n bytes written after offset.
func (c *capped) since(offset, n int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if offset >= len(c.buf) {
		return ""
	}
	end := min(len(c.buf), offset+n)
	return string(c.buf[offset:end])
}

// capped keeps the first max bytes written and notes that more came.
type capped struct {
	mu  sync.Mutex
	max int
	buf []byte
	cut bool
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	room := c.max - len(c.buf)
	if room < len(p) {
		c.cut = true
		if room > 0 {
			c.buf = append(c.buf, p[:room]...)
		}
		return len(p), nil
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.ToValidUTF8(string(c.buf), "\uFFFD")
}
