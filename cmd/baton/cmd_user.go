package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/baton-run/baton/handlers/auth"
	"github.com/baton-run/baton/models"
)

func cmdUser(ctx context.Context, e *env, args []string) error {
	const usage = "usage: baton user add NAME --role ROLE… [--password P] | baton user list | baton user roles NAME --role ROLE… | baton user password NAME [--password P]"
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(e.stderr, usage)
		fmt.Fprintln(e.stderr, "\nRoles: admin, designer, approver, operator, viewer. Run 'baton user add --help' for flags.")
		if len(args) == 0 {
			return &exitError{code: 2}
		}
		return nil
	}
	switch args[0] {
	case "add":
		return userAdd(ctx, e, args[1:])
	case "list":
		return userList(ctx, e, args[1:])
	case "roles":
		return userRoles(ctx, e, args[1:])
	case "password":
		return userPassword(ctx, e, args[1:])
	}
	return usageError("unknown subcommand %q; %s", args[0], usage)
}

func parseRoles(names []string) ([]models.Role, error) {
	if len(names) == 0 {
		return nil, usageError("--role is required (admin, designer, approver, operator, viewer); repeat it for several")
	}
	roles := make([]models.Role, 0, len(names))
	for _, n := range names {
		r, err := models.ParseRole(n)
		if err != nil {
			return nil, usageError("--role: %v", err)
		}
		roles = append(roles, r)
	}
	return roles, nil
}

// newPassword hashes the given password, or makes one up and says so.
func newPassword(e *env, given string) (hash string, err error) {
	if given == "" {
		if given, err = randomPassword(20); err != nil {
			return "", err
		}
		fmt.Fprintf(e.stdout, "password: %s (shown once)\n", given)
	} else if len(given) < 8 {
		return "", usageError("--password: use at least 8 characters")
	}
	return auth.HashPassword(given)
}

func userAdd(ctx context.Context, e *env, args []string) (err error) {
	s := newSettings("user add NAME --role ROLE… [flags]", "Adds a user. Without --password, a random password is printed once.", e.getenv, e.stderr)
	roleNames := s.listFlag("role", "a role: admin, designer, approver, operator or viewer (repeatable)")
	password := s.add("password", "", "", "the user's password (at least 8 characters)")
	dbs := addDBSettings(s)
	rest, err := s.parse(args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError("user add takes exactly one NAME")
	}
	name := strings.TrimSpace(rest[0])
	if name == "" || len(name) > 64 || strings.ContainsAny(name, " \t\n/") {
		return usageError("NAME %q: use 1 to 64 characters without spaces or slashes", rest[0])
	}
	roles, err := parseRoles(*roleNames)
	if err != nil {
		return err
	}
	st, _, err := openStore(ctx, dbs)
	if err != nil {
		return err
	}
	defer closeStore(st, &err)
	hash, err := newPassword(e, password.value)
	if err != nil {
		return err
	}
	u := &models.User{Name: name, PasswordHash: hash, Roles: roles}
	if err := st.CreateUser(ctx, u); err != nil {
		if models.IsCode(err, models.Conflict) {
			return fmt.Errorf("a user named %q exists already", name)
		}
		return err
	}
	if err := st.Audit(ctx, &models.AuditEntry{Actor: "cli", Action: models.AuditUserCreated, Target: name,
		Detail: map[string]any{"roles": roles}}); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "user %s added with roles %s\n", name, joinRoles(roles))
	return nil
}

func userList(ctx context.Context, e *env, args []string) (err error) {
	s := newSettings("user list [flags]", "Lists users and their roles.", e.getenv, e.stderr)
	dbs := addDBSettings(s)
	if _, err := s.parse(args); err != nil {
		return err
	}
	st, _, err := openStore(ctx, dbs)
	if err != nil {
		return err
	}
	defer closeStore(st, &err)
	users, err := st.ListUsers(ctx)
	if err != nil {
		return err
	}
	for _, u := range users {
		fmt.Fprintf(e.stdout, "%-24s %s\n", u.Name, joinRoles(u.Roles))
	}
	return nil
}

func userRoles(ctx context.Context, e *env, args []string) (err error) {
	s := newSettings("user roles NAME --role ROLE… [flags]", "Replaces a user's roles.", e.getenv, e.stderr)
	roleNames := s.listFlag("role", "a role: admin, designer, approver, operator or viewer (repeatable)")
	dbs := addDBSettings(s)
	rest, err := s.parse(args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError("user roles takes exactly one NAME")
	}
	roles, err := parseRoles(*roleNames)
	if err != nil {
		return err
	}
	st, _, err := openStore(ctx, dbs)
	if err != nil {
		return err
	}
	defer closeStore(st, &err)
	u, err := st.UserByName(ctx, rest[0])
	if err != nil {
		return fmt.Errorf("user %q: %w", rest[0], err)
	}
	if err := st.SetUserRoles(ctx, u.ID, roles); err != nil {
		return err
	}
	if err := st.Audit(ctx, &models.AuditEntry{Actor: "cli", Action: models.AuditRolesChanged, Target: u.Name,
		Detail: map[string]any{"from": u.Roles, "to": roles}}); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "user %s now has roles %s\n", u.Name, joinRoles(roles))
	return nil
}

func userPassword(ctx context.Context, e *env, args []string) (err error) {
	s := newSettings("user password NAME [--password P] [flags]", "Sets a user's password. Without --password, a random one is printed once.", e.getenv, e.stderr)
	password := s.add("password", "", "", "the new password (at least 8 characters)")
	dbs := addDBSettings(s)
	rest, err := s.parse(args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError("user password takes exactly one NAME")
	}
	st, _, err := openStore(ctx, dbs)
	if err != nil {
		return err
	}
	defer closeStore(st, &err)
	u, err := st.UserByName(ctx, rest[0])
	if err != nil {
		return fmt.Errorf("user %q: %w", rest[0], err)
	}
	hash, err := newPassword(e, password.value)
	if err != nil {
		return err
	}
	if err := st.SetUserPassword(ctx, u.ID, hash); err != nil {
		return err
	}
	if err := st.Audit(ctx, &models.AuditEntry{Actor: "cli", Action: "password_changed", Target: u.Name}); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "password of %s changed; their browser sessions were signed out\n", u.Name)
	return nil
}

func joinRoles(roles []models.Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}
