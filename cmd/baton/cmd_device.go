package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/baton-run/baton/handlers/auth"
	"github.com/baton-run/baton/models"
)

func cmdDevice(ctx context.Context, e *env, args []string) error {
	const usage = "usage: baton device add NAME [--capability C]… [--label k=v]… | baton device list | baton device revoke NAME | baton device drain NAME | baton device resume NAME"
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(e.stderr, usage)
		if len(args) == 0 {
			return &exitError{code: 2}
		}
		return nil
	}
	switch args[0] {
	case "add":
		return deviceAdd(ctx, e, args[1:])
	case "list":
		return deviceList(ctx, e, args[1:])
	case "revoke", "drain", "resume":
		return deviceChange(ctx, e, args[0], args[1:])
	}
	return usageError("unknown subcommand %q; %s", args[0], usage)
}

// parseLabels reads k=v pairs.
func parseLabels(pairs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, usageError("--label %q: write name=value", p)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}

func deviceAdd(ctx context.Context, e *env, args []string) (err error) {
	s := newSettings("device add NAME [--capability C]… [--label k=v]… [flags]",
		"Registers a device and prints its token once, alone on the first line of stdout. Only its hash is stored.", e.getenv, e.stderr)
	caps := s.listFlag("capability", "a capability of the device (repeatable, or comma-separated)")
	labelArgs := s.listFlag("label", "a label name=value (repeatable)")
	dbs := addDBSettings(s)
	rest, err := s.parse(args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError("device add takes one NAME")
	}
	name := rest[0]
	if !models.DeviceNamePattern.MatchString(name) {
		return usageError("device name %q: %s", name, models.DeviceNameRule)
	}
	labels, err := parseLabels(*labelArgs)
	if err != nil {
		return err
	}
	st, _, err := openStore(ctx, dbs)
	if err != nil {
		return err
	}
	defer closeStore(st, &err)
	plain, hash, _, err := auth.NewToken()
	if err != nil {
		return err
	}
	d := &models.Device{Name: name, TokenHash: hash, Capabilities: *caps, Labels: labels}
	if err := st.CreateDevice(ctx, d); err != nil {
		return err
	}
	if err := st.Audit(ctx, &models.AuditEntry{Actor: "cli", Action: "device_added", Target: "device:" + name,
		Detail: map[string]any{"capabilities": d.Capabilities}}); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, plain)
	fmt.Fprintf(e.stderr, "device %s registered; its token is shown once: run `baton agent --server URL` with BATON_AGENT_TOKEN set to it\n", name)
	return nil
}

func deviceList(ctx context.Context, e *env, args []string) (err error) {
	s := newSettings("device list [flags]", "Lists devices with their status as stored (connections are known to the server: see GET /api/v1/devices).", e.getenv, e.stderr)
	dbs := addDBSettings(s)
	if _, err := s.parse(args); err != nil {
		return err
	}
	st, _, err := openStore(ctx, dbs)
	if err != nil {
		return err
	}
	defer closeStore(st, &err)
	list, err := st.ListDevices(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%-20s %-9s %-25s %-30s %s\n", "NAME", "STATUS", "LAST SEEN", "CAPABILITIES", "LABELS")
	for _, d := range list {
		status := "active"
		switch {
		case d.RevokedAt != nil:
			status = models.DeviceRevoked
		case d.Draining:
			status = models.DeviceDraining
		}
		seen := "never"
		if d.LastSeenAt != nil {
			seen = d.LastSeenAt.Format(time.RFC3339)
		}
		var labels []string
		for k, v := range d.Labels {
			labels = append(labels, k+"="+v)
		}
		fmt.Fprintf(e.stdout, "%-20s %-9s %-25s %-30s %s\n", d.Name, status, seen, strings.Join(d.Capabilities, ","), strings.Join(labels, ","))
	}
	return nil
}

func deviceChange(ctx context.Context, e *env, verb string, args []string) (err error) {
	s := newSettings("device "+verb+" NAME [flags]", map[string]string{
		"revoke": "Revokes a device: its token is refused and a running server closes its connection within seconds.",
		"drain":  "Stops sending the device new commands; what it runs finishes.",
		"resume": "Sends the device commands again after drain.",
	}[verb], e.getenv, e.stderr)
	dbs := addDBSettings(s)
	rest, err := s.parse(args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError("device %s takes one NAME", verb)
	}
	st, _, err := openStore(ctx, dbs)
	if err != nil {
		return err
	}
	defer closeStore(st, &err)
	switch verb {
	case "revoke":
		err = st.RevokeDevice(ctx, rest[0], time.Now())
	case "drain":
		err = st.SetDeviceDraining(ctx, rest[0], true)
	default:
		err = st.SetDeviceDraining(ctx, rest[0], false)
	}
	if err != nil {
		return err
	}
	if verb == "revoke" {
		if err := st.Audit(ctx, &models.AuditEntry{Actor: "cli", Action: "device_revoked", Target: "device:" + rest[0]}); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stderr, "device %s: %s\n", rest[0], map[string]string{"revoke": "revoked", "drain": "draining", "resume": "resumed"}[verb])
	return nil
}
