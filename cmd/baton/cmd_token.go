package main

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/baton-run/baton/handlers/auth"
	"github.com/baton-run/baton/models"
)

func cmdToken(ctx context.Context, e *env, args []string) error {
	const usage = "usage: baton token create --user NAME [--name LABEL] [--rate-limit N] | baton token list --user NAME | baton token revoke ID"
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(e.stderr, usage)
		if len(args) == 0 {
			return &exitError{code: 2}
		}
		return nil
	}
	switch args[0] {
	case "create":
		return tokenCreate(ctx, e, args[1:])
	case "list":
		return tokenList(ctx, e, args[1:])
	case "revoke":
		return tokenRevoke(ctx, e, args[1:])
	}
	return usageError("unknown subcommand %q; %s", args[0], usage)
}

func tokenCreate(ctx context.Context, e *env, args []string) (err error) {
	s := newSettings("token create --user NAME [--name LABEL] [--rate-limit N] [flags]", "Prints a new API token for a user, once. Only its hash is stored.", e.getenv, e.stderr)
	user := s.add("user", "", "", "the user the token acts as (required)")
	label := s.add("name", "", "cli", "a label to tell tokens apart")
	rateLimit := s.add("rate-limit", "", "", "this token's limit in API requests per second on average (bursts of five times as many); 0: unlimited; unset: the server's --rate-limit")
	dbs := addDBSettings(s)
	rest, err := s.parse(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError("token create takes no arguments, got %q", rest[0])
	}
	if user.value == "" {
		return usageError("--user is required")
	}
	var rate *float64
	if rateLimit.value != "" {
		r, err := strconv.ParseFloat(rateLimit.value, 64)
		if err != nil || r < 0 || math.IsInf(r, 0) || math.IsNaN(r) {
			return usageError("--rate-limit: %q is not a number of requests per second (0 or more; 0: unlimited)", rateLimit.value)
		}
		rate = &r
	}
	st, _, err := openStore(ctx, dbs)
	if err != nil {
		return err
	}
	defer closeStore(st, &err)
	u, err := st.UserByName(ctx, user.value)
	if err != nil {
		return fmt.Errorf("user %q: %w", user.value, err)
	}
	plain, hash, prefix, err := auth.NewToken()
	if err != nil {
		return err
	}
	t := &models.APIToken{UserID: u.ID, Name: label.value, Hash: hash, Prefix: prefix, RateLimit: rate}
	if err := st.CreateToken(ctx, t); err != nil {
		return err
	}
	if err := st.Audit(ctx, &models.AuditEntry{Actor: "cli", Action: models.AuditTokenCreated, Target: u.Name,
		Detail: map[string]any{"tokenId": t.ID, "name": t.Name, "rateLimit": rate}}); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, plain)
	fmt.Fprintf(e.stderr, "token %d (%s) for %s: shown once, keep it safe\n", t.ID, t.Name, u.Name)
	return nil
}

func tokenList(ctx context.Context, e *env, args []string) (err error) {
	s := newSettings("token list --user NAME [flags]", "Lists a user's API tokens (never the tokens themselves).", e.getenv, e.stderr)
	user := s.add("user", "", "", "whose tokens (required)")
	dbs := addDBSettings(s)
	if _, err := s.parse(args); err != nil {
		return err
	}
	if user.value == "" {
		return usageError("--user is required")
	}
	st, _, err := openStore(ctx, dbs)
	if err != nil {
		return err
	}
	defer closeStore(st, &err)
	u, err := st.UserByName(ctx, user.value)
	if err != nil {
		return fmt.Errorf("user %q: %w", user.value, err)
	}
	tokens, err := st.ListTokens(ctx, u.ID)
	if err != nil {
		return err
	}
	for _, t := range tokens {
		state := "active"
		if t.RevokedAt != nil {
			state = "revoked " + t.RevokedAt.Format(time.RFC3339)
		}
		last := "never used"
		if t.LastUsedAt != nil {
			last = "last used " + t.LastUsedAt.Format(time.RFC3339)
		}
		limit := "server rate limit"
		if t.RateLimit != nil {
			limit = "rate limit " + strconv.FormatFloat(*t.RateLimit, 'g', -1, 64) + "/s"
			if *t.RateLimit == 0 {
				limit = "no rate limit"
			}
		}
		fmt.Fprintf(e.stdout, "%d\t%s\t%s…\t%s\t%s\t%s\n", t.ID, t.Name, t.Prefix, last, limit, state)
	}
	return nil
}

func tokenRevoke(ctx context.Context, e *env, args []string) (err error) {
	s := newSettings("token revoke ID [flags]", "Revokes an API token at once.", e.getenv, e.stderr)
	dbs := addDBSettings(s)
	rest, err := s.parse(args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError("token revoke takes exactly one token ID (see baton token list)")
	}
	id, err := strconv.ParseInt(rest[0], 10, 64)
	if err != nil || id <= 0 {
		return usageError("token ID %q is not a positive number", rest[0])
	}
	st, _, err := openStore(ctx, dbs)
	if err != nil {
		return err
	}
	defer closeStore(st, &err)
	if err := st.RevokeToken(ctx, id, time.Now().UTC()); err != nil {
		return fmt.Errorf("token %d: %w", id, err)
	}
	if err := st.Audit(ctx, &models.AuditEntry{Actor: "cli", Action: models.AuditTokenRevoked, Target: strconv.FormatInt(id, 10)}); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "token %d revoked\n", id)
	return nil
}
