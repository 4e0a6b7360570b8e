package actions

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/models"
)

// Dispatcher sends a device command to a device and waits for how it
// ended; *agent.Hub satisfies it. It returns *models.DispatchError when no
// device took the command.
type Dispatcher interface {
	Dispatch(ctx context.Context, req models.CommandRequest) (*models.CommandResult, error)
}

// Step error codes of the device action.
const (
	CodeNoDevice   = "no_device"           // no eligible device within the queue timeout, fallbacks included
	CodeExitCode   = "exit_code"           // the command exited non-zero: retried per the step's policy
	CodeNotAllowed = "command_not_allowed" // the agent's --allow list refused the command
	CodeDevice     = "device_error"        // the agent could not start the command
)

// Device is the device action: it hands the rendered command to the
// Dispatcher, which routes it to a connected `baton agent`.
type Device struct {
	Dispatcher Dispatcher
}

// Kind returns "device".
func (Device) Kind() string { return models.KindDevice }

// Run dispatches one attempt. Output: {device, exitCode, stdout, stderr,
// truncated, durationMs, routing}; a failed attempt carries the same output.
func (a Device) Run(ctx context.Context, in engine.ActionInput) (any, error) {
	if a.Dispatcher == nil {
		return nil, engine.Permanent(CodeNoDevice, "this process has no device hub: device steps run on `baton serve` with connected agents")
	}
	act := in.Action
	routes := append([]models.DeviceRoute{{Require: act.Require, Labels: act.Labels}}, act.Fallback...)
	req := models.CommandRequest{
		RunID: in.RunID, StepID: in.StepID, Attempt: in.Attempt, IdempotencyKey: in.IdempotencyKey,
		Command: act.Command, Args: act.Args, Env: act.Env, Strategy: act.Strategy, Device: act.Device,
		Routes: routes, QueueTimeout: act.QueueTimeout.D(), MaxOutputBytes: outputCap(in.MaxOutputBytes),
		Redact: in.Redact,
	}
	if dl, ok := ctx.Deadline(); ok {
		req.Timeout = max(time.Until(dl), time.Millisecond)
	}
	res, err := a.Dispatcher.Dispatch(ctx, req)
	var de *models.DispatchError
	if errors.As(err, &de) {
		return nil, &engine.StepFailure{Code: de.Code, Message: de.Message, Retryable: true,
			Output: map[string]any{"routing": de.Routing}}
	}
	if err != nil {
		return nil, err
	}
	out := map[string]any{
		"device": res.Device, "exitCode": res.ExitCode, "stdout": res.Stdout, "stderr": res.Stderr,
		"truncated": res.Truncated, "durationMs": res.DurationMs, "routing": res.Routing,
	}
	switch {
	case res.Code == "not_allowed":
		return nil, &engine.StepFailure{Code: CodeNotAllowed, Message: fmt.Sprintf("device %s refused the command: %s", res.Device, res.Message), Output: out}
	case res.Code == "timeout":
		return nil, &engine.StepFailure{Code: engine.CodeTimeout, Retryable: true, Message: fmt.Sprintf("the command ran past its timeout on device %s; its process group was killed", res.Device), Output: out}
	case res.Code != "" && res.Code != "cancelled":
		return nil, &engine.StepFailure{Code: CodeDevice, Retryable: true, Message: fmt.Sprintf("device %s: %s", res.Device, res.Message), Output: out}
	case res.ExitCode != 0:
		return nil, &engine.StepFailure{Code: CodeExitCode, Retryable: true,
			Message: fmt.Sprintf("the command exited with %d on device %s%s", res.ExitCode, res.Device, stderrTail(res.Stderr)), Output: out}
	}
	return out, nil
}

// outputCap is each of stdout's and stderr's cap: 1 MiB, or less when the
// step's output limit is smaller (both must fit in it).
func outputCap(maxOutput int) int {
	const def = 1 << 20
	if maxOutput > 0 && maxOutput/2 < def {
		return max(maxOutput/2-1024, 1024)
	}
	return def
}

func stderrTail(s string) string {
	const n = 500
	if s == "" {
		return ""
	}
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return ": " + s
}
