package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/baton-run/baton/models"
)

// SaveDraft saves def as the template's one open draft, edited by editor:
// the open draft's definition is replaced, or, when the template has no
// draft (its latest version is in review, approved or rejected), def becomes
// a new draft numbered after the latest version. The template's name and
// description follow def. It returns NotFound for an unknown key and Invalid
// when def.ID is not key, def has no name, or editor is empty. def should
// have passed engine.Compile.
func (s *Store) SaveDraft(ctx context.Context, key string, def models.Definition, editor string) (*models.Version, error) {
	if err := checkDefinition(&def); err != nil {
		return nil, err
	}
	if def.ID != key {
		return nil, models.Problems("the definition is not valid", []models.Problem{{
			Path: "id", Message: fmt.Sprintf("%q does not match the template's key %q; a template's key never changes", def.ID, key),
		}})
	}
	if err := checkActor(editor, "editor"); err != nil {
		return nil, err
	}
	var out *models.Version
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		tpl, err := lockTemplate(tx, key)
		if err != nil {
			return err
		}
		v, err := saveDraft(tx, &tpl, def, editor, models.ReviewEdited, 0)
		if err != nil {
			return err
		}
		out = v.model(key)
		return nil
	})
	return out, err
}

// saveDraft writes def into the open draft of the locked template tpl, or
// into a new draft after the latest version, and records editor and the
// event (action for an existing draft, with from for restores; a new draft
// is always "created", or "restored" when from is set).
func saveDraft(tx *gorm.DB, tpl *templateRow, def models.Definition, editor string, action models.VersionAction, from int) (*reviewVersionRow, error) {
	at := now()
	var drafts []reviewVersionRow
	if err := tx.Where("template_id = ? AND status = ?", tpl.ID, models.VersionDraft).Limit(1).Find(&drafts).Error; err != nil {
		return nil, mapErr(err, fmt.Sprintf("draft of template %q", tpl.Key))
	}
	var v *reviewVersionRow
	if len(drafts) == 1 {
		v = &drafts[0]
		def.Version = fmt.Sprint(v.Number)
		v.Definition, v.UpdatedAt = NewJSON(def), at
		err := tx.Model(&reviewVersionRow{}).Where("id = ? AND status = ?", v.ID, models.VersionDraft).
			Updates(map[string]any{"definition": v.Definition, "updated_at": at}).Error
		if err != nil {
			return nil, mapErr(err, fmt.Sprintf("version %d of template %q", v.Number, tpl.Key))
		}
		if err := addEditor(tx, v.ID, editor, at); err != nil {
			return nil, err
		}
	} else {
		n, err := nextVersionNumber(tx, tpl)
		if err != nil {
			return nil, err
		}
		if v, err = insertVersion(tx, tpl, n, def, editor, at); err != nil {
			return nil, err
		}
		if action == models.ReviewEdited {
			action = models.ReviewCreated
		}
	}
	if err := addEvent(tx, v.ID, action, editor, at, "", 0, from); err != nil {
		return nil, err
	}
	err := tx.Model(&templateRow{}).Where("id = ?", tpl.ID).
		Updates(map[string]any{"name": def.Name, "description": def.Description, "updated_at": at}).Error
	if err != nil {
		return nil, mapErr(err, fmt.Sprintf("template %q", tpl.Key))
	}
	return v, nil
}

// nextVersionNumber hands out the number of a new version of the locked
// template tpl: one past both the highest number it has ever given
// (version_seq, which remembers discarded drafts) and the highest existing
// version (version_seq is 0 until the first number goes through here:
// CreateTemplate's version 1 does not), and records it. Numbers are never
// reused, so an audit entry about a discarded v2 never names a later v2.
// The template's row lock (lockTemplate) keeps two saves from both taking
// the same number; the unique (template_id, number) key would refuse the
// second anyway.
func nextVersionNumber(tx *gorm.DB, tpl *templateRow) (int, error) {
	var last struct {
		Seq    int
		Latest int
	}
	err := tx.Raw(`SELECT t.version_seq AS seq,
		(SELECT COALESCE(MAX(v.number), 0) FROM template_versions v WHERE v.template_id = t.id) AS latest
		FROM templates t WHERE t.id = ?`, tpl.ID).Scan(&last).Error
	if err != nil {
		return 0, mapErr(err, fmt.Sprintf("versions of template %q", tpl.Key))
	}
	n := max(last.Seq, last.Latest) + 1
	if err := tx.Model(&templateRow{}).Where("id = ?", tpl.ID).Update("version_seq", n).Error; err != nil {
		return 0, mapErr(err, fmt.Sprintf("template %q", tpl.Key))
	}
	return n, nil
}

// RestoreVersion copies the definition of version from into the template's
// open draft (a new draft when there is none), saved by editor. It returns
// NotFound for an unknown template or version, Conflict when version from is
// itself the open draft, and Invalid for an empty editor.
func (s *Store) RestoreVersion(ctx context.Context, key string, from int, editor string) (*models.Version, error) {
	if err := checkActor(editor, "editor"); err != nil {
		return nil, err
	}
	var out *models.Version
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		tpl, err := lockTemplate(tx, key)
		if err != nil {
			return err
		}
		old, err := versionRow(tx, &tpl, from)
		if err != nil {
			return err
		}
		if old.Status == models.VersionDraft {
			return models.Errorf(models.Conflict, "version %d of template %q is the open draft already; there is nothing to restore", from, key)
		}
		v, err := saveDraft(tx, &tpl, old.Definition.V, editor, models.ReviewRestored, from)
		if err != nil {
			return err
		}
		out = v.model(key)
		return nil
	})
	return out, err
}

// versionRow reads version n of the template tpl, or NotFound.
func versionRow(db *gorm.DB, tpl *templateRow, n int) (*reviewVersionRow, error) {
	var row reviewVersionRow
	err := db.Where("template_id = ? AND number = ?", tpl.ID, n).Take(&row).Error
	if err != nil {
		return nil, mapErr(err, fmt.Sprintf("version %d of template %q", n, tpl.Key))
	}
	return &row, nil
}

// TemplateVersion returns version n of a template with its definition, or
// NotFound.
func (s *Store) TemplateVersion(ctx context.Context, key string, n int) (*models.Version, error) {
	db := s.read.WithContext(ctx)
	tpl, err := templateByKey(db, key)
	if err != nil {
		return nil, err
	}
	row, err := versionRow(db, &tpl, n)
	if err != nil {
		return nil, err
	}
	return row.model(key), nil
}

// LatestApprovedVersion returns the approved version with the highest
// number, the one production runs use. It returns NotFound for an unknown
// template, and Conflict when no version of it is approved yet.
func (s *Store) LatestApprovedVersion(ctx context.Context, key string) (*models.Version, error) {
	db := s.read.WithContext(ctx)
	tpl, err := templateByKey(db, key)
	if err != nil {
		return nil, err
	}
	var rows []reviewVersionRow
	err = db.Where("template_id = ? AND status = ?", tpl.ID, models.VersionApproved).
		Order("number DESC").Limit(1).Find(&rows).Error
	if err != nil {
		return nil, mapErr(err, fmt.Sprintf("approved version of template %q", key))
	}
	if len(rows) == 0 {
		return nil, models.Errorf(models.Conflict, "template %q has no approved version yet: a version must be submitted and approved before it runs", key)
	}
	return rows[0].model(key), nil
}

// LatestApprovedNumber returns the number of the version
// LatestApprovedVersion would return, with the same errors, in one query
// that reads no definition: the launcher keeps approved versions (which
// never change) by number and asks only which one is latest.
func (s *Store) LatestApprovedNumber(ctx context.Context, key string) (int, error) {
	var rows []struct {
		ID     int64
		Number *int
	}
	err := s.read.WithContext(ctx).Raw(`SELECT t.id AS id,
	(SELECT MAX(v.number) FROM template_versions v WHERE v.template_id = t.id AND v.status = ?) AS number
	FROM templates t WHERE t.key = ?`, models.VersionApproved, key).Scan(&rows).Error
	if err != nil {
		return 0, mapErr(err, fmt.Sprintf("approved version of template %q", key))
	}
	if len(rows) == 0 {
		return 0, models.Errorf(models.NotFound, "template %q not found", key)
	}
	if rows[0].Number == nil {
		return 0, models.Errorf(models.Conflict, "template %q has no approved version yet: a version must be submitted and approved before it runs", key)
	}
	return *rows[0].Number, nil
}

func templateByKey(db *gorm.DB, key string) (templateRow, error) {
	var tpl templateRow
	if err := db.Where("key = ?", key).Take(&tpl).Error; err != nil {
		return tpl, mapErr(err, fmt.Sprintf("template %q", key))
	}
	return tpl, nil
}

// ListVersions returns a template's versions without their definitions,
// newest first, or NotFound for an unknown template.
func (s *Store) ListVersions(ctx context.Context, key string) ([]models.VersionSummary, error) {
	db := s.read.WithContext(ctx)
	tpl, err := templateByKey(db, key)
	if err != nil {
		return nil, err
	}
	var rows []reviewVersionRow
	// A definition can be a megabyte; a listing never needs it.
	if err := db.Omit("definition").Where("template_id = ?", tpl.ID).Order("number DESC").Find(&rows).Error; err != nil {
		return nil, mapErr(err, fmt.Sprintf("versions of template %q", key))
	}
	out := make([]models.VersionSummary, len(rows))
	for i := range rows {
		out[i] = rows[i].summary()
	}
	return out, nil
}

// VersionDetail returns version n with its editors, the approvals of its
// current submission and the template's quorum, or NotFound.
func (s *Store) VersionDetail(ctx context.Context, key string, n int) (*models.VersionDetail, error) {
	db := s.read.WithContext(ctx)
	tpl, err := templateByKey(db, key)
	if err != nil {
		return nil, err
	}
	return versionDetailTx(db, &tpl, n)
}

func versionEditors(db *gorm.DB, versionID int64) ([]string, error) {
	editors := []string{}
	if err := db.Model(&versionEditorRow{}).Where("version_id = ?", versionID).Order("id").Pluck("user_name", &editors).Error; err != nil {
		return nil, mapErr(err, "version editors")
	}
	return editors, nil
}

// VersionEvents returns the review trail of version n, oldest first, or
// NotFound.
func (s *Store) VersionEvents(ctx context.Context, key string, n int) ([]models.VersionEvent, error) {
	db := s.read.WithContext(ctx)
	tpl, err := templateByKey(db, key)
	if err != nil {
		return nil, err
	}
	row, err := versionRow(db, &tpl, n)
	if err != nil {
		return nil, err
	}
	var rows []versionEventRow
	if err := db.Where("version_id = ?", row.ID).Order("id").Find(&rows).Error; err != nil {
		return nil, mapErr(err, "version events")
	}
	out := make([]models.VersionEvent, len(rows))
	for i, e := range rows {
		out[i] = models.VersionEvent{
			ID: e.ID, Template: key, Version: n, Action: models.VersionAction(e.Action), Actor: e.Actor,
			At: e.At.UTC(), Comment: e.Comment, Round: e.Round, FromVersion: e.FromVersion,
		}
	}
	return out, nil
}

// Review-trail page sizes of TemplateEvents.
const (
	DefaultEventLimit = 100
	MaxEventLimit     = 1000
)

// TemplateEvents returns the review trail of every version of a template,
// newest first: up to limit entries (0: DefaultEventLimit, capped at
// MaxEventLimit) with ids below beforeID (0: from the newest). To page, pass
// the last entry's ID as the next beforeID. It returns NotFound for an
// unknown template and Invalid for a negative beforeID.
func (s *Store) TemplateEvents(ctx context.Context, key string, beforeID int64, limit int) ([]models.VersionEvent, error) {
	if beforeID < 0 {
		return nil, models.Errorf(models.Invalid, "before must be a positive event id, not %d", beforeID)
	}
	if limit <= 0 {
		limit = DefaultEventLimit
	}
	limit = min(limit, MaxEventLimit)
	db := s.read.WithContext(ctx)
	tpl, err := templateByKey(db, key)
	if err != nil {
		return nil, err
	}
	type eventWithNumber struct {
		Event  versionEventRow `gorm:"embedded"`
		Number int
	}
	q := db.Table("version_events AS e").Select("e.*, v.number").
		Joins("JOIN template_versions v ON v.id = e.version_id").Where("v.template_id = ?", tpl.ID)
	if beforeID > 0 {
		q = q.Where("e.id < ?", beforeID)
	}
	var rows []eventWithNumber
	if err := q.Order("e.id DESC").Limit(limit).Scan(&rows).Error; err != nil {
		return nil, mapErr(err, fmt.Sprintf("review trail of template %q", key))
	}
	out := make([]models.VersionEvent, len(rows))
	for i, r := range rows {
		e := r.Event
		out[i] = models.VersionEvent{
			ID: e.ID, Template: key, Version: r.Number, Action: models.VersionAction(e.Action), Actor: e.Actor,
			At: e.At.UTC(), Comment: e.Comment, Round: e.Round, FromVersion: e.FromVersion,
		}
	}
	return out, nil
}

// DiscardDraft deletes version n of a template, which must be its open
// draft and not its first version: it undoes the "new draft" that the first
// save after a submission opens, so an editing session that discards its
// changes leaves no copy of the submitted version behind. The template's
// name and description go back to the previous version's, the draft's
// trail goes with it, and the audit log keeps that actor discarded it. Its
// number is not given to a later version (see nextVersionNumber). Test runs
// of the draft keep their own copy of its definition.
//
// The draft's lock (models.DraftLockKey) is respected: while someone holds
// it with a token other than guard.Token, the discard is refused with
// Conflict naming the holder, unless guard.Force is set and actor is the
// draft's author, the lock's holder, or guard.Admin (Forbidden otherwise).
// A forced discard is marked in the audit entry; the lock stays with its
// holder, whose next save opens a new draft.
//
// It returns NotFound for an unknown template or version, Conflict when
// version n is not the open draft or is the template's only version, and
// Invalid for an empty actor.
func (s *Store) DiscardDraft(ctx context.Context, key string, n int, actor string, guard models.LockGuard) error {
	if err := checkActor(actor, "actor"); err != nil {
		return err
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		tpl, err := lockTemplate(tx, key)
		if err != nil {
			return err
		}
		v, err := versionRow(tx, &tpl, n)
		if err != nil {
			return err
		}
		if v.Status != models.VersionDraft {
			return models.Errorf(models.Conflict, "version %d of template %q is %s, not a draft; only an open draft can be discarded", n, key, v.Status)
		}
		var prev []reviewVersionRow
		if err := tx.Where("template_id = ? AND number < ?", tpl.ID, n).Order("number DESC").Limit(1).Find(&prev).Error; err != nil {
			return mapErr(err, fmt.Sprintf("versions of template %q", key))
		}
		if len(prev) == 0 {
			return models.Errorf(models.Conflict, "version %d is the only version of template %q; edit it instead of discarding it", n, key)
		}
		// Read inside the transaction, after the template's row lock, so the
		// decision and the delete see the same lock state.
		forcedPast, err := checkDiscardLock(tx, key, v, actor, guard)
		if err != nil {
			return err
		}
		// The draft's editors, approvals and events go with it (ON DELETE CASCADE).
		if err := tx.Where("id = ?", v.ID).Delete(&reviewVersionRow{}).Error; err != nil {
			return mapErr(err, fmt.Sprintf("version %d of template %q", n, key))
		}
		at := now()
		before := prev[0].Definition.V
		err = tx.Model(&templateRow{}).Where("id = ?", tpl.ID).
			Updates(map[string]any{"name": before.Name, "description": before.Description, "updated_at": at}).Error
		if err != nil {
			return mapErr(err, fmt.Sprintf("template %q", key))
		}
		detail := map[string]any{"backTo": prev[0].Number}
		if forcedPast != "" {
			detail["forcedPastLockOf"] = forcedPast
		}
		return auditTx(tx, actor, models.AuditDraftDiscarded, target(key, n), at, detail)
	})
}

// checkDiscardLock applies guard to the live lock on template key's draft
// v, if any. It returns the holder of a lock that guard.Force went past
// ("" when no one else held it), Conflict when the lock stands in the way,
// and Forbidden when actor may not force past it.
func checkDiscardLock(tx *gorm.DB, key string, v *reviewVersionRow, actor string, guard models.LockGuard) (string, error) {
	at := guard.At
	if at.IsZero() {
		at = now()
	}
	l, err := liveLock(tx, models.DraftLockKey(key), at)
	if err != nil || l == nil || (guard.Token != "" && l.Token == guard.Token) {
		return "", err
	}
	until := l.ExpiresAt.UTC().Format(time.RFC3339)
	if !guard.Force {
		who := l.Holder + " is"
		if l.Holder == actor {
			who = "you (" + actor + ") are"
		}
		return "", models.Errorf(models.Conflict,
			"%s editing draft v%d of template %q in the designer (lock held until %s, renewed while the tab is open): "+
				"discard it from that tab, or wait for the lock to end; the draft's author or an admin may pass force=true",
			who, v.Number, key, until)
	}
	if !guard.Admin && actor != v.Author && actor != l.Holder {
		return "", models.Errorf(models.Forbidden,
			"%s is editing draft v%d of template %q: only the draft's author (%s), %s or an admin may discard it now",
			l.Holder, v.Number, key, v.Author, l.Holder)
	}
	return l.Holder, nil
}
