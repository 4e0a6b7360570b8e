package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/models"
)

// Live expressions and draft locks: the designer's side panel shows a
// field's value as it is typed, and one person at a time edits a draft.
func (s *server) designerLiveRoutes() []route {
	return []route{
		{fiber.MethodPost, "/templates/:key/design/preview", models.RoleViewer, s.previewExpression},
		{fiber.MethodPost, "/templates/:key/design/problems", models.RoleViewer, s.draftProblems},
		{fiber.MethodPost, "/templates/:key/design/lock", models.RoleDesigner, s.lockDraft},
		{fiber.MethodPost, "/templates/:key/design/unlock", models.RoleDesigner, s.unlockDraft},
	}
}

// ExpressionPreviewer evaluates one expression or template of a draft with
// sample data, running nothing; plan.Compiler satisfies it. The server
// uses it when Deps.Definitions implements it.
type ExpressionPreviewer interface {
	PreviewExpression(def models.Definition, kind, source, item string, inputs map[string]any, steps map[string]map[string]any) (value any, problems []string, evalError string, noSample []string)
}

// DraftLocks keeps the leases on drafts; *store.Store satisfies it. The
// server uses it when Deps.Store implements it.
type DraftLocks interface {
	AcquireLock(ctx context.Context, key, holder, token string, ttl time.Duration, at time.Time) (*models.DraftLock, error)
	ReleaseLock(ctx context.Context, key, token string) error
	Lock(ctx context.Context, key string, at time.Time) (*models.DraftLock, error)
}

// DraftLockTTL is how long a draft lock lasts without a heartbeat: a tab
// closed without releasing its lock frees the draft within this time. The
// page renews it every third of it.
const DraftLockTTL = 25 * time.Second

// previewRequest is the body of POST …/design/preview.
type previewRequest struct {
	Definition models.Definition         `json:"definition"`
	Kind       string                    `json:"kind"`
	Source     string                    `json:"source"`
	Item       string                    `json:"item"`
	Inputs     map[string]any            `json:"inputs"`
	Steps      map[string]map[string]any `json:"steps"`
}

// previewResponse is its answer: Value, unless Problems or EvalError
// says why the field gives none.
type previewResponse struct {
	Value     any      `json:"value"`
	Problems  []string `json:"problems"`
	EvalError string   `json:"evalError,omitempty"`
	// NoSample: the steps read that have no sample result yet.
	NoSample []string `json:"noSample,omitempty"`
}

func (s *server) previewExpression(c *fiber.Ctx) error {
	pv, ok := s.deps.Definitions.(ExpressionPreviewer)
	if !ok {
		return models.Errorf(models.Unavailable, "expression previews are not available in this server")
	}
	var req previewRequest
	if err := json.Unmarshal(c.Body(), &req); err != nil {
		return models.Errorf(models.BadRequest, "the preview request is not valid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	switch req.Kind {
	case "expression", "condition", "template":
	default:
		return models.Errorf(models.BadRequest, "kind must be expression, condition or template, not %q", req.Kind)
	}
	v, ps, evalErr, noSample := pv.PreviewExpression(req.Definition, req.Kind, req.Source, req.Item, req.Inputs, req.Steps)
	if ps == nil {
		ps = []string{}
	}
	for i := range ps {
		ps[i] = plainWords(ps[i])
	}
	return c.JSON(previewResponse{Value: v, Problems: ps, EvalError: evalErr, NoSample: noSample})
}

// draftProblems compiles the draft the page sends and answers 200 with its
// problems (none when it compiles). POST /api/v1/validate says the same
// with 422, which the browser logs as a console error on every keystroke
// that leaves the draft invalid; an invalid draft is the normal state of
// one being edited, not an error of the page.
func (s *server) draftProblems(c *fiber.Ctx) error {
	if _, _, err := pageDefinition(c); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"problems": s.problemsFor(c.Body())})
}

// lockBody is the body of the lock routes: the tab's token.
type lockBody struct {
	Token string `json:"token"`
}

// lockAnswer tells the page whether it holds the draft, and who does.
type lockAnswer struct {
	Held      bool      `json:"held"` // true: this tab holds it
	Holder    string    `json:"holder"`
	ExpiresAt time.Time `json:"expiresAt"`
	RenewMs   int64     `json:"renewMs"` // when to send the next heartbeat
}

func (s *server) draftLocks() (DraftLocks, error) {
	dl, ok := s.deps.Store.(DraftLocks)
	if !ok {
		return nil, models.Errorf(models.Unavailable, "draft locks are not available in this server")
	}
	return dl, nil
}

func lockToken(c *fiber.Ctx) (string, error) {
	var b lockBody
	if err := json.Unmarshal(c.Body(), &b); err != nil || strings.TrimSpace(b.Token) == "" || len(b.Token) > 100 {
		return "", models.Errorf(models.BadRequest, `send {"token": "<this tab's id>"} (at most 100 characters)`)
	}
	return b.Token, nil
}

// lockDraft takes or renews the lock on a template's draft; the page calls
// it on arrival and then as a heartbeat. Someone else's lock is not an
// error for the page: the answer says who holds it.
func (s *server) lockDraft(c *fiber.Ctx) error {
	dl, err := s.draftLocks()
	if err != nil {
		return err
	}
	token, err := lockToken(c)
	if err != nil {
		return err
	}
	key := models.DraftLockKey(c.Params("key"))
	l, err := dl.AcquireLock(c.UserContext(), key, principalOf(c).user.Name, token, DraftLockTTL, s.now())
	var me *models.Error
	switch {
	case err == nil:
		return c.JSON(lockAnswer{Held: true, Holder: l.Holder, ExpiresAt: l.ExpiresAt, RenewMs: (DraftLockTTL / 3).Milliseconds()})
	case errors.As(err, &me) && me.Code == models.Conflict && l != nil:
		return c.JSON(lockAnswer{Held: false, Holder: l.Holder, ExpiresAt: l.ExpiresAt, RenewMs: (DraftLockTTL / 3).Milliseconds()})
	}
	return err
}

// unlockDraft releases the tab's lock: the page calls it when it is closed
// (fetch with keepalive), so others need not wait for the lease to expire.
func (s *server) unlockDraft(c *fiber.Ctx) error {
	dl, err := s.draftLocks()
	if err != nil {
		return err
	}
	token, err := lockToken(c)
	if err != nil {
		return err
	}
	if err := dl.ReleaseLock(c.UserContext(), models.DraftLockKey(c.Params("key")), token); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
