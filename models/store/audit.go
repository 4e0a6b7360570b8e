package store

import (
	"context"

	"github.com/baton-run/baton/models"
)

// Audit-log page sizes.
const (
	DefaultAuditLimit = 50
	MaxAuditLimit     = 1000
)

// Audit appends e to the audit log and sets its ID; a zero At means now.
func (s *Store) Audit(ctx context.Context, e *models.AuditEntry) error {
	if e.Actor == "" || e.Action == "" {
		return models.Errorf(models.Invalid, "an audit entry needs an actor and an action")
	}
	row := auditRow{At: orNow(e.At), Actor: e.Actor, Action: e.Action, Target: e.Target, IP: e.IP}
	if len(e.Detail) > 0 {
		d := NewJSON(e.Detail)
		row.Detail = &d
	}
	if err := s.db.WithContext(ctx).Create(&row).Error; err != nil {
		return mapErr(err, "audit entry")
	}
	e.ID, e.At = row.ID, row.At
	return nil
}

// ListAudit returns up to limit entries, newest first, with ids below
// beforeID (0: from the newest). A limit of 0 or less means
// DefaultAuditLimit; more than MaxAuditLimit is capped. To page, pass the
// last entry's ID as the next beforeID.
func (s *Store) ListAudit(ctx context.Context, limit int, beforeID int64) ([]models.AuditEntry, error) {
	if beforeID < 0 {
		return nil, models.Errorf(models.Invalid, "before must be a positive audit entry id, not %d", beforeID)
	}
	if limit <= 0 {
		limit = DefaultAuditLimit
	}
	limit = min(limit, MaxAuditLimit)
	q := s.read.WithContext(ctx).Order("id DESC").Limit(limit)
	if beforeID > 0 {
		q = q.Where("id < ?", beforeID)
	}
	var rows []auditRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, mapErr(err, "audit log")
	}
	out := make([]models.AuditEntry, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}
