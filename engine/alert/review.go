package alert

import (
	"context"
	"fmt"
	"slices"

	"github.com/baton-run/baton/models"
)

// VersionSubmitted tells the approvers of a version submitted for review:
// an in-app notification for each user holding the approver role (the
// author excepted, who may not approve their own work), and an email to
// those who gave an address in their notification settings. evidence, when
// not "", is the summary line of the version's replay on recent production
// runs (what it would change), added to the message. It returns how many
// were told; failures are logged, never returned to the submitter.
func (s *Service) VersionSubmitted(ctx context.Context, template string, version int, author, evidence string) int {
	users, err := s.store.ListUsers(ctx)
	if err != nil {
		s.log.Warn("approvers not notified", "template", template, "version", version, "err", err)
		return 0
	}
	title := fmt.Sprintf("[Baton] %s v%d waits for your review", template, version)
	body := fmt.Sprintf("%s submitted version %d of %s for review.", author, version, template)
	if evidence != "" {
		body += " " + evidence + "."
	}
	link := fmt.Sprintf("/approvals/%s/%d", template, version)
	var ns []models.Notification
	var mails []string
	for _, u := range users {
		if u.Disabled || u.Name == author || !slices.Contains(u.Roles, models.RoleApprover) {
			continue
		}
		ns = append(ns, models.Notification{User: u.Name, Title: title, Body: body, Link: link})
		if st, err := s.store.NotifySettings(ctx, u.Name); err == nil && st.Email != "" {
			mails = append(mails, st.Email)
		}
	}
	if err := s.store.AddNotifications(ctx, ns); err != nil {
		s.log.Warn("approvers not notified", "template", template, "version", version, "err", err)
		return 0
	}
	if len(mails) > 0 && s.cfg.Email != nil {
		text := title + "\n\n" + body + "\n"
		if s.cfg.BaseURL != "" {
			text += "\nReview it: " + s.cfg.BaseURL + link + "\n"
		}
		for _, to := range mails { // one message each: approvers do not see each other's addresses
			if _, err := s.cfg.Email.Send(ctx, []string{to}, title, text, htmlOf(title, text)); err != nil {
				s.log.Warn("approver email not sent", "template", template, "version", version, "err", err)
			}
		}
	}
	return len(ns)
}
