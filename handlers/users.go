package handlers

import (
	"context"
	"net/http"
	"regexp"
	"slices"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/handlers/auth"
	"github.com/baton-run/baton/models"
)

func (s *server) userRoutes() []route {
	return []route{
		{fiber.MethodGet, "/api/v1/me", models.RoleViewer, s.me},
		{fiber.MethodGet, "/api/v1/users", models.RoleAdmin, s.listUsers},
		{fiber.MethodPost, "/api/v1/users", models.RoleAdmin, s.createUser},
		{fiber.MethodPut, "/api/v1/users/:name/roles", models.RoleAdmin, s.setRoles},
	}
}

// userNamePattern keeps user names safe in URLs, logs and the audit trail.
var userNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// userList is GET /api/v1/users.
type userList struct {
	Users []models.User `json:"users"`
}

func (s *server) me(c *fiber.Ctx) error {
	return c.JSON(principalOf(c).user)
}

func (s *server) listUsers(c *fiber.Ctx) error {
	users, err := s.store.ListUsers(c.UserContext())
	if err != nil {
		return err
	}
	if users == nil {
		users = []models.User{}
	}
	return c.JSON(userList{Users: users})
}

func (s *server) createUser(c *fiber.Ctx) error {
	var in struct {
		Name     string   `json:"name"`
		Password string   `json:"password"`
		Roles    []string `json:"roles"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	u, err := s.addUser(c, in.Name, in.Password, in.Roles)
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(u)
}

func (s *server) setRoles(c *fiber.Ctx) error {
	var in struct {
		Roles []string `json:"roles"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	u, err := s.changeRoles(c, c.Params("name"), in.Roles)
	if err != nil {
		return err
	}
	return c.JSON(u)
}

// addUser checks and creates a user and audits it; the API and the settings
// page share it, so both refuse the same things with the same words. Field
// problems come back as one models.Invalid error whose details name the
// field ("name", "password", "roles…").
func (s *server) addUser(c *fiber.Ctx, name, password string, roleNames []string) (*models.User, error) {
	var problems []models.Problem
	if !userNamePattern.MatchString(name) {
		problems = append(problems, models.Problem{Path: "name", Message: "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"})
	}
	roles, rp := parseRoles(roleNames)
	problems = append(problems, rp...)
	hash, err := auth.HashPassword(password)
	if err != nil {
		problems = append(problems, models.Problem{Path: "password", Message: err.Error()})
	}
	if len(problems) > 0 {
		return nil, models.Problems("invalid user", problems)
	}
	u := &models.User{Name: name, PasswordHash: hash, Roles: roles}
	if err := s.store.CreateUser(c.UserContext(), u); err != nil {
		return nil, err
	}
	p := principalOf(c)
	s.audit(c, p.user.Name, models.AuditUserCreated, u.Name, map[string]any{"roles": rolesText(roles)})
	return u, nil
}

// changeRoles replaces the roles of the user called name and audits it.
func (s *server) changeRoles(c *fiber.Ctx, name string, roleNames []string) (*models.User, error) {
	roles, problems := parseRoles(roleNames)
	if len(problems) > 0 {
		return nil, models.Problems("invalid roles", problems)
	}
	ctx := c.UserContext()
	u, err := s.store.UserByName(ctx, name)
	if err != nil {
		return nil, err
	}
	p := principalOf(c)
	// An admin who drops their own admin role could leave nobody able to
	// manage users; another admin must do it.
	if u.ID == p.user.ID && u.Can(models.RoleAdmin) && !slices.Contains(roles, models.RoleAdmin) {
		return nil, models.Errorf(models.Conflict, "you cannot remove your own admin role; ask another admin")
	}
	before := rolesText(u.Roles)
	if err := s.store.SetUserRoles(ctx, u.ID, roles); err != nil {
		return nil, err
	}
	s.tokens.forgetUser(u.ID)
	u.Roles = roles
	s.audit(c, p.user.Name, models.AuditRolesChanged, u.Name, map[string]any{"from": before, "to": rolesText(roles)})
	return u, nil
}

// passwordSetter is the optional store method behind resetting a password
// from the browser; *store.Store has it (so does `baton user password`).
type passwordSetter interface {
	SetUserPassword(ctx context.Context, id int64, hash string) error
}

// auditPasswordChanged is the action `baton user password` records too.
const auditPasswordChanged = "password_changed"

// canResetPasswords reports whether this server's store can set passwords.
func (s *server) canResetPasswords() bool {
	_, ok := s.store.(passwordSetter)
	return ok
}

// resetPassword sets the password of the user called name and audits it
// (never the password itself).
func (s *server) resetPassword(c *fiber.Ctx, name, password string) error {
	setter, ok := s.store.(passwordSetter)
	if !ok {
		return models.Errorf(models.Unavailable, "this server cannot change passwords; use `baton user password %s`", name)
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return models.Problems("invalid password", []models.Problem{{Path: "password", Message: err.Error()}})
	}
	ctx := c.UserContext()
	u, err := s.store.UserByName(ctx, name)
	if err != nil {
		return err
	}
	if err := setter.SetUserPassword(ctx, u.ID, hash); err != nil {
		return err
	}
	s.audit(c, principalOf(c).user.Name, auditPasswordChanged, u.Name, nil)
	return nil
}

// parseRoles checks role names; at least one is needed, duplicates are dropped.
func parseRoles(names []string) ([]models.Role, []models.Problem) {
	if len(names) == 0 {
		return nil, []models.Problem{{Path: "roles", Message: "at least one role is required (admin, designer, approver, operator, viewer)"}}
	}
	var roles []models.Role
	var problems []models.Problem
	for i, n := range names {
		r, err := models.ParseRole(n)
		if err != nil {
			problems = append(problems, models.Problem{Path: "roles[" + itoa(i) + "]", Message: err.Error()})
			continue
		}
		if !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	return roles, problems
}
