package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
)

// cmdHealthcheck asks a running server's /healthz, for container health
// checks: distroless and scratch images have no shell, curl or wget.
func cmdHealthcheck(ctx context.Context, e *env, args []string) error {
	s := newSettings("healthcheck [flags]", "Asks the server's GET /healthz and exits 0 when it answers 200 (the process and its database are up), 1 otherwise.\n"+
		"For container HEALTHCHECKs; by default it asks the address serve listens on (BATON_ADDR).", e.getenv, e.stderr)
	addr := s.add("addr", "BATON_ADDR", "127.0.0.1:8080", "address serve listens on; a wildcard host (0.0.0.0, ::) is asked on loopback")
	url := s.add("url", "", "", "full URL to ask instead, e.g. http://127.0.0.1:8080/healthz")
	timeout := s.add("timeout", "", "3s", "how long to wait for the answer")
	rest, err := s.parse(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError("healthcheck takes no arguments, got %q", rest[0])
	}
	wait, err := timeout.duration()
	if err != nil {
		return err
	}
	target := url.value
	if target == "" {
		host, port, err := net.SplitHostPort(addr.value)
		if err != nil {
			return usageError("%s: %q is not host:port", addr.name(), addr.value)
		}
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host = "127.0.0.1"
		}
		target = "http://" + net.JoinHostPort(host, port) + "/healthz"
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return usageError("--url: %v", err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("unhealthy: %v", err)}
	}
	defer func() { _ = res.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<10))
	if res.StatusCode != http.StatusOK {
		return &exitError{code: 1, msg: fmt.Sprintf("unhealthy: %s answered %d %s", target, res.StatusCode, body)}
	}
	fmt.Fprintf(e.stdout, "healthy: %s %s\n", target, body)
	return nil
}
