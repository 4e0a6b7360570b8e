package handlers

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/models"
)

func (s *server) approvalRoutes() []route {
	return []route{
		{fiber.MethodPost, "/api/v1/templates/:key/versions/:n/submit", models.RoleDesigner, s.submitVersion},
		{fiber.MethodPost, "/api/v1/templates/:key/versions/:n/withdraw", models.RoleDesigner, s.withdrawVersion},
		{fiber.MethodPost, "/api/v1/templates/:key/versions/:n/approve", models.RoleApprover, s.approveVersion},
		{fiber.MethodPost, "/api/v1/templates/:key/versions/:n/reject", models.RoleApprover, s.rejectVersion},
		{fiber.MethodGet, "/api/v1/approvals", models.RoleApprover, s.approvalInbox},
	}
}

// maxComment bounds a review comment.
const maxComment = 4000

// reviewComment reads the optional body {comment}; an empty body is no comment.
func reviewComment(c *fiber.Ctx, required bool) (string, error) {
	var in struct {
		Comment string `json:"comment"`
	}
	if len(strings.TrimSpace(string(c.Body()))) > 0 {
		if err := decodeJSON(c, &in); err != nil {
			return "", err
		}
	}
	in.Comment = strings.TrimSpace(in.Comment)
	if required && in.Comment == "" {
		return "", models.Problems("a comment is required", []models.Problem{{Path: "comment", Message: "is required: say why the version is rejected"}})
	}
	if len(in.Comment) > maxComment {
		return "", models.Problems("the comment is too long", []models.Problem{{Path: "comment", Message: "must have at most 4000 characters"}})
	}
	return in.Comment, nil
}

// transition runs one review step on version :n of :key.
func (s *server) transition(c *fiber.Ctx, step func(ts TemplateStore, key string, n int, actor string) (*models.VersionDetail, error)) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	n, err := versionNumber(c, "n")
	if err != nil {
		return err
	}
	v, err := step(ts, c.Params("key"), n, principalOf(c).user.Name)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (s *server) submitVersion(c *fiber.Ctx) error {
	return s.transition(c, func(ts TemplateStore, key string, n int, actor string) (*models.VersionDetail, error) {
		v, err := ts.SubmitVersion(c.UserContext(), key, n, actor)
		if err == nil {
			s.notifySubmitted(key, n, actor)
		}
		return v, err
	})
}

func (s *server) withdrawVersion(c *fiber.Ctx) error {
	return s.transition(c, func(ts TemplateStore, key string, n int, actor string) (*models.VersionDetail, error) {
		return ts.WithdrawVersion(c.UserContext(), key, n, actor)
	})
}

func (s *server) approveVersion(c *fiber.Ctx) error {
	comment, err := reviewComment(c, false)
	if err != nil {
		return err
	}
	return s.transition(c, func(ts TemplateStore, key string, n int, actor string) (*models.VersionDetail, error) {
		return ts.ApproveVersion(c.UserContext(), key, n, actor, comment)
	})
}

func (s *server) rejectVersion(c *fiber.Ctx) error {
	comment, err := reviewComment(c, true)
	if err != nil {
		return err
	}
	return s.transition(c, func(ts TemplateStore, key string, n int, actor string) (*models.VersionDetail, error) {
		return ts.RejectVersion(c.UserContext(), key, n, actor, comment)
	})
}

// inbox is GET /api/v1/approvals: what waits for the caller's review.
type inbox struct {
	Items []models.InboxItem `json:"items"`
}

func (s *server) approvalInbox(c *fiber.Ctx) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	items, err := ts.ApprovalInbox(c.UserContext(), principalOf(c).user.Name)
	if err != nil {
		return err
	}
	if items == nil {
		items = []models.InboxItem{}
	}
	return c.JSON(inbox{Items: items})
}
