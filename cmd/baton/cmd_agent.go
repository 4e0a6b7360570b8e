package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/baton-run/baton/agentd"
)

// cmdAgent is `baton agent`: a device that serves the server's commands
// until SIGTERM (see package agentd).
func cmdAgent(ctx context.Context, e *env, args []string) error {
	s := newSettings("agent --server URL --token T [flags]",
		"Connects this machine to a Baton server as a device and runs the commands it is sent, only those on --allow, without a shell.", e.getenv, e.stderr)
	server := s.add("server", "BATON_AGENT_SERVER", "", "the server's URL, e.g. https://baton.example.com (required)")
	token := s.add("token", "BATON_AGENT_TOKEN", "", "the device token from `baton device add` (required; prefer the variable: flags show in ps)")
	name := s.add("name", "BATON_AGENT_NAME", "", "a name for logs (the token decides which device this is)")
	caps := s.listFlag("capability", "a capability this device adds to those registered (repeatable)")
	labelArgs := s.listFlag("label", "a label name=value this device adds (repeatable)")
	allow := s.listFlag("allow", "an executable it may run: a name looked up on PATH or an absolute path (repeatable); nothing else runs")
	maxConc := s.add("max-concurrency", "BATON_AGENT_MAX_CONCURRENCY", "1", "most commands run at once")
	workDir := s.add("work-dir", "BATON_AGENT_WORK_DIR", "", "where commands run (default: the current directory)")
	grace := s.add("grace", "BATON_AGENT_GRACE", "30s", "how long SIGTERM waits for running commands")
	maxOut := s.add("max-output", "BATON_AGENT_MAX_OUTPUT", "1048576", "bytes of stdout and of stderr kept per command")
	logFormat := s.add("log-format", "BATON_LOG_FORMAT", "text", "text or json")
	logLevel := s.add("log-level", "BATON_LOG_LEVEL", "info", "debug, info, warn or error")
	rest, err := s.parse(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError("agent takes no arguments, got %q", rest[0])
	}
	if server.value == "" || token.value == "" {
		return usageError("--server and --token (or BATON_AGENT_TOKEN) are required")
	}
	n, err := strconv.Atoi(maxConc.value)
	if err != nil || n < 1 || n > 10000 {
		return usageError("%s: %q is not a number from 1 to 10000", maxConc.name(), maxConc.value)
	}
	out, err := strconv.Atoi(maxOut.value)
	if err != nil || out < 1 {
		return usageError("%s: %q is not a number of bytes", maxOut.name(), maxOut.value)
	}
	g, err := grace.duration()
	if err != nil {
		return err
	}
	labels, err := parseLabels(*labelArgs)
	if err != nil {
		return err
	}
	log, err := newLogger(e.stderr, logFormat, logLevel)
	if err != nil {
		return err
	}
	if len(*allow) == 0 {
		log.Warn("agent: no --allow given: every command will be refused")
	}
	a, err := agentd.New(agentd.Config{
		Server: server.value, Token: token.value, Name: name.value, Capabilities: *caps, Labels: labels,
		MaxConcurrency: n, Allow: *allow, WorkDir: workDir.value, MaxOutputBytes: out, Grace: g,
		Version: version, Logger: log,
	})
	if err != nil {
		return usageError("%v", err)
	}
	if err := a.Run(ctx); err != nil {
		if errors.Is(err, agentd.ErrRefused) {
			return fmt.Errorf("agent: %w", err)
		}
		return err
	}
	return nil
}
