package models

import (
	"context"
	"regexp"
	"time"
)

// Device is a machine registered to run commands: it connects with
// `baton agent` and its device token (only the token's SHA-256 is stored).
// Capabilities and Labels are those registered; an agent may declare more
// when it connects (see DeviceState).
type Device struct {
	ID           int64             `json:"id"`
	Name         string            `json:"name"`
	TokenHash    string            `json:"-"`
	Capabilities []string          `json:"capabilities"`
	Labels       map[string]string `json:"labels"`
	Draining     bool              `json:"draining"`
	CreatedAt    time.Time         `json:"createdAt"`
	LastSeenAt   *time.Time        `json:"lastSeen,omitempty"`
	RevokedAt    *time.Time        `json:"revokedAt,omitempty"`
}

// Device statuses, as the API reports them.
const (
	DeviceOnline   = "online"
	DeviceOffline  = "offline"
	DeviceDraining = "draining"
	DeviceRevoked  = "revoked"
)

// DeviceNamePattern is what a device name may look like.
var DeviceNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// DeviceNameRule says DeviceNamePattern in words.
const DeviceNameRule = "1 to 63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit"

// DeviceState is a device as the router sees it now: the registration
// merged with what its agent declared, its connection and its recent
// health.
type DeviceState struct {
	Name           string            `json:"name"`
	Capabilities   []string          `json:"capabilities"`
	Labels         map[string]string `json:"labels"`
	Status         string            `json:"status"`
	InFlight       int               `json:"inFlight"`
	MaxConcurrency int               `json:"maxConcurrency"`
	LastSeen       *time.Time        `json:"lastSeen,omitempty"`
	// SuccessRate is the share of the device's recent commands (at most
	// the last 50) that exited 0; nil before its first command.
	SuccessRate *float64 `json:"successRate"`
	// LatencyMs is the mean duration of its recent commands.
	LatencyMs *float64 `json:"latencyMs"`
	Version   string   `json:"agentVersion,omitempty"`
}

// DeviceCommand is one attempt to deliver a device step's command: a
// stored row per delivery, so the queue survives a restart and a step
// that moved to another device shows each try.
type DeviceCommand struct {
	ID             string   `json:"id"`
	RunID          string   `json:"runId"`
	StepID         string   `json:"stepId"`
	Attempt        int      `json:"attempt"`
	Delivery       int      `json:"delivery"`
	IdempotencyKey string   `json:"idempotencyKey"`
	Device         string   `json:"device,omitempty"`
	Command        string   `json:"command"`
	Args           []string `json:"args"`
	Status         string   `json:"status"`
	ExitCode       *int     `json:"exitCode,omitempty"`
	DurationMs     int64    `json:"durationMs"`
	Error          string   `json:"error,omitempty"`
	// Late marks a result that arrived after the command had been given up
	// on (re-sent elsewhere or cancelled): recorded, never completing the
	// step.
	Late       bool       `json:"late,omitempty"`
	CreatedAt  time.Time  `json:"createdAt"`
	SentAt     *time.Time `json:"sentAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
}

// Command statuses.
const (
	CommandQueued    = "queued"    // stored, waiting for a device
	CommandSent      = "sent"      // sent to Device, no result yet
	CommandSucceeded = "succeeded" // exited 0
	CommandFailed    = "failed"    // exited non-zero, timed out, or the agent refused it
	CommandLost      = "lost"      // the device dropped or went silent; re-sent as a new delivery
	CommandCancelled = "cancelled" // the run or step was cancelled
)

// CommandFinished reports whether status is final.
func CommandFinished(status string) bool {
	return status == CommandSucceeded || status == CommandFailed || status == CommandLost || status == CommandCancelled
}

// Routing strategies of a device step.
const (
	RouteLeastLoaded = "least_loaded"
	RouteRoundRobin  = "round_robin"
	RouteRandom      = "random"
	RoutePinned      = "pinned"
)

// RouteStrategies lists the strategies in the order the docs give them.
var RouteStrategies = []string{RouteLeastLoaded, RouteRoundRobin, RouteRandom, RoutePinned}

// DeviceRoute is one set of requirements a device step may be routed by:
// the step's own, or one of its fallbacks.
type DeviceRoute struct {
	Require []string          `json:"require,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
}

// CommandRequest is a device step's attempt as the engine hands it to the
// dispatcher: what to run and where it may run.
type CommandRequest struct {
	RunID          string
	StepID         string
	Attempt        int
	IdempotencyKey string
	Command        string
	Args           []string
	Env            map[string]string
	Strategy       string
	Device         string
	Routes         []DeviceRoute // the step's requirements, then its fallbacks in order
	QueueTimeout   time.Duration
	Timeout        time.Duration // the step's timeout, 0 for none; the agent kills the process group after it
	MaxOutputBytes int
	// Redact hides the run's secrets in text shown outside the step's
	// output (stored arguments, live output); nil: nothing to hide.
	Redact func(string) string
}

// CommandResult is how a dispatched command ended.
type CommandResult struct {
	CommandID  string
	Device     string
	ExitCode   int
	Stdout     string
	Stderr     string
	Truncated  bool
	DurationMs int64
	// Code is set when the agent did not run the command to an exit:
	// "not_allowed" (not on its allow-list), "start_failed", "timeout".
	Code    string
	Message string
	Routing Routing
}

// Routing is the router's decision for one command, kept in the step's
// output: which device, why, and every device it looked at.
type Routing struct {
	Strategy   string             `json:"strategy"`
	Chosen     string             `json:"chosen"`
	Why        string             `json:"why"`
	Route      int                `json:"route"` // 0: the step's own requirements, n: fallback n
	Deliveries int                `json:"deliveries"`
	Candidates []RoutingCandidate `json:"candidates"`
}

// RoutingCandidate is one device the router considered.
type RoutingCandidate struct {
	Device   string  `json:"device"`
	Eligible bool    `json:"eligible"`
	Reason   string  `json:"reason"`
	Load     float64 `json:"load"`
	Score    float64 `json:"score"`
}

// DispatchError is a command that could not be delivered or did not
// finish: Code is "no_device", "command_lost" or "cancelled"; Routing
// explains the router's view.
type DispatchError struct {
	Code    string
	Message string
	Routing Routing
}

func (e *DispatchError) Error() string { return e.Code + ": " + e.Message }

// AgentConn is one agent's connection as the hub sees it, whatever carries
// it (a WebSocket in baton serve, a pipe in tests). Send may be called from
// several goroutines; Receive from one.
type AgentConn interface {
	Send(ctx context.Context, m *AgentMessage) error
	Receive(ctx context.Context) (*AgentMessage, error)
	Close(reason string) error
}

// Agent message types. The agent sends hello first, then heartbeats,
// output and results; the server sends welcome, command and cancel.
const (
	MsgHello     = "hello"
	MsgWelcome   = "welcome"
	MsgHeartbeat = "heartbeat"
	MsgCommand   = "command"
	MsgCancel    = "cancel"
	MsgOutput    = "output"
	MsgResult    = "result"
)

// AgentMessage is one message between `baton agent` and the server, JSON
// over the WebSocket. Which fields are set depends on Type.
type AgentMessage struct {
	Type string `json:"type"`

	// hello (agent → server)
	Name           string            `json:"name,omitempty"`
	Capabilities   []string          `json:"capabilities,omitempty"`
	Labels         map[string]string `json:"labels,omitempty"`
	MaxConcurrency int               `json:"maxConcurrency,omitempty"`
	Version        string            `json:"version,omitempty"`
	Running        []string          `json:"running,omitempty"`  // command ids still running
	Finished       []*AgentResult    `json:"finished,omitempty"` // results not yet delivered

	// welcome (server → agent)
	Device            string `json:"device,omitempty"`
	HeartbeatInterval int64  `json:"heartbeatMs,omitempty"`

	// heartbeat (agent → server)
	InFlight int `json:"inFlight,omitempty"`

	// command (server → agent), cancel (server → agent: ID)
	ID      string        `json:"id,omitempty"`
	Command *AgentCommand `json:"command,omitempty"`

	// output (agent → server)
	Stream string `json:"stream,omitempty"`
	Data   string `json:"data,omitempty"`

	// result (agent → server)
	Result *AgentResult `json:"result,omitempty"`
}

// AgentCommand is a command as sent to an agent.
type AgentCommand struct {
	ID             string            `json:"id"`
	Command        string            `json:"command"`
	Args           []string          `json:"args,omitempty"`
	Env            map[string]string `json:"env,omitempty"`
	IdempotencyKey string            `json:"idempotencyKey"`
	TimeoutMs      int64             `json:"timeoutMs,omitempty"`
	MaxOutputBytes int               `json:"maxOutputBytes,omitempty"`
}

// AgentResult is how a command ended on the agent.
type AgentResult struct {
	ID         string `json:"id"`
	ExitCode   int    `json:"exitCode"`
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
	Truncated  bool   `json:"truncated"`
	DurationMs int64  `json:"durationMs"`
	Code       string `json:"code,omitempty"` // not_allowed, start_failed, timeout, cancelled
	Message    string `json:"message,omitempty"`
}

// LiveOutput is what a running device command has written so far (the
// last 64 KiB of each stream).
type LiveOutput struct {
	Device    string `json:"device"`
	CommandID string `json:"commandId"`
	Stdout    string `json:"stdout"`
	Stderr    string `json:"stderr"`
}
