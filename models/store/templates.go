package store

import (
	"context"
	"database/sql/driver"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	gosqlite "github.com/glebarez/go-sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/baton-run/baton/migrations"
	"github.com/baton-run/baton/models"
)

// This file, with versions.go and approvals.go, is the review core of
// migration 00003: templates, their numbered versions, who edited each one,
// approvals and the review trail. Every method that changes a template or
// one of its versions first locks the template's row (SELECT … FOR UPDATE on
// PostgreSQL; SQLite's single immediate writer serialises the same way), so
// concurrent saves, submissions and approvals of one template are applied one
// after another and never see each other half done.

// reviewVersionRow is a template_versions row with the review_round column
// that 00003 added to the table of 00001. (GORM skips embedded structs of
// unexported types, so it repeats templateVersionRow's fields.)
type reviewVersionRow struct {
	ID          int64 `gorm:"primaryKey"`
	TemplateID  int64
	Number      int
	Status      models.VersionStatus
	Definition  JSON[models.Definition]
	Author      string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	SubmittedAt *time.Time
	Reviewer    string
	ReviewedAt  *time.Time
	Comment     string
	ReviewRound int
}

func (reviewVersionRow) TableName() string { return "template_versions" }

type versionEditorRow struct {
	ID        int64 `gorm:"primaryKey"`
	VersionID int64
	UserName  string
	FirstAt   time.Time
}

func (versionEditorRow) TableName() string { return "version_editors" }

type versionApprovalRow struct {
	ID        int64 `gorm:"primaryKey"`
	VersionID int64
	Round     int
	Approver  string
	At        time.Time
	Comment   string
}

func (versionApprovalRow) TableName() string { return "version_approvals" }

type versionEventRow struct {
	ID          int64 `gorm:"primaryKey"`
	VersionID   int64
	Action      string
	Actor       string
	At          time.Time
	Comment     string
	Round       int
	FromVersion int
}

func (versionEventRow) TableName() string { return "version_events" }

// reviewRowModels lists the row structs of the review and trigger files,
// for the column-drift test.
var reviewRowModels = []any{
	&reviewVersionRow{}, &versionEditorRow{}, &versionApprovalRow{}, &versionEventRow{},
	&scheduleRow{}, &scheduleFireRow{}, &webhookRow{}, &webhookDeliveryRow{},
}

// Template listing page sizes.
const (
	DefaultTemplateLimit = 50
	MaxTemplateLimit     = 500
)

func (r *templateRow) model() models.Template {
	tags := r.Tags.V
	if tags == nil {
		tags = []string{}
	}
	t := models.Template{
		Key: r.Key, Name: r.Name, Description: r.Description, Tags: tags,
		RequiredApprovals: quorum(r.RequiredApprovals), CreatedBy: r.CreatedBy,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
	if r.RetentionSeconds != nil {
		t.Retention = models.FormatRetention(time.Duration(*r.RetentionSeconds) * time.Second)
	}
	return t
}

// quorum is the number of approvals a version of the template needs: the
// review gate is the point of a template, so a stored 0 still means one.
func quorum(required int) int { return max(required, 1) }

// checkActor rejects an empty user name: every change is attributed.
func checkActor(actor, role string) error {
	if strings.TrimSpace(actor) == "" {
		return models.Errorf(models.Invalid, "the %s's user name is required", role)
	}
	return nil
}

// checkDefinition checks what the store itself relies on. Validating the
// definition (engine.Compile) is the caller's job before it saves one.
func checkDefinition(def *models.Definition) error {
	if strings.TrimSpace(def.ID) == "" {
		return models.Problems("the definition is not valid", []models.Problem{{Path: "id", Message: "required: the template's key"}})
	}
	if strings.TrimSpace(def.Name) == "" {
		return models.Problems("the definition is not valid", []models.Problem{{Path: "name", Message: "required: a human title"}})
	}
	return nil
}

// CreateTemplate stores a new template keyed by def.ID, with def as its
// version 1, a draft authored by author. It returns Conflict when a template
// with that key exists and Invalid when def has no id or name or author is
// empty. def should have passed engine.Compile.
func (s *Store) CreateTemplate(ctx context.Context, def models.Definition, author string) (*models.Template, *models.Version, error) {
	if err := checkDefinition(&def); err != nil {
		return nil, nil, err
	}
	if err := checkActor(author, "author"); err != nil {
		return nil, nil, err
	}
	var tpl models.Template
	var ver *models.Version
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		at := now()
		row := templateRow{
			Key: def.ID, Name: def.Name, Description: def.Description, Tags: NewJSON([]string{}),
			RequiredApprovals: 1, CreatedBy: author, CreatedAt: at, UpdatedAt: at,
		}
		if err := tx.Create(&row).Error; err != nil {
			return mapErr(err, fmt.Sprintf("template %q", def.ID))
		}
		v, err := insertVersion(tx, &row, 1, def, author, at)
		if err != nil {
			return err
		}
		if err := addEvent(tx, v.ID, models.ReviewCreated, author, at, "", 0, 0); err != nil {
			return err
		}
		if err := auditTx(tx, author, models.AuditTemplateCreated, "template:"+def.ID, at, nil); err != nil {
			return err
		}
		tpl, ver = row.model(), v.model(def.ID)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return &tpl, ver, nil
}

// Template returns one template with its latest and latest approved
// version, or NotFound.
func (s *Store) Template(ctx context.Context, key string) (*models.TemplateSummary, error) {
	var rows []summaryRow
	err := s.summaryQuery(ctx).Where("t.key = ?", key).Scan(&rows).Error
	if err != nil {
		return nil, mapErr(err, fmt.Sprintf("template %q", key))
	}
	if len(rows) == 0 {
		return nil, models.Errorf(models.NotFound, "template %q not found", key)
	}
	sum := rows[0].model()
	return &sum, nil
}

// summaryRow is one row of summaryQuery.
type summaryRow struct {
	Tpl                   templateRow `gorm:"embedded"`
	LatestVersion         int
	LatestStatus          string
	LatestApprovedVersion *int
}

func (r *summaryRow) model() models.TemplateSummary {
	sum := models.TemplateSummary{
		Template: r.Tpl.model(), LatestVersion: r.LatestVersion,
		LatestStatus: models.VersionStatus(r.LatestStatus),
	}
	if r.LatestApprovedVersion != nil {
		sum.LatestApprovedVersion = *r.LatestApprovedVersion
	}
	return sum
}

// summaryQuery selects templates (t) joined with their latest version (lv)
// and the number of their latest approved version.
func (s *Store) summaryQuery(ctx context.Context) *gorm.DB {
	return s.read.WithContext(ctx).Table("templates AS t").
		Select(`t.*, lv.number AS latest_version, lv.status AS latest_status,
			(SELECT MAX(av.number) FROM template_versions av
			  WHERE av.template_id = t.id AND av.status = ?) AS latest_approved_version`, models.VersionApproved).
		Joins(`JOIN template_versions lv ON lv.template_id = t.id
			AND lv.number = (SELECT MAX(mv.number) FROM template_versions mv WHERE mv.template_id = t.id)`)
}

// ListTemplates returns one page of templates by key, each with its latest
// and latest approved version. It returns Invalid for an unknown status.
func (s *Store) ListTemplates(ctx context.Context, f models.TemplateFilter) (*models.TemplatePage, error) {
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = DefaultTemplateLimit
	case limit > MaxTemplateLimit:
		limit = MaxTemplateLimit
	}
	q := s.summaryQuery(ctx)
	if f.Search != "" {
		pat := "%" + escapeLike(strings.ToLower(f.Search)) + "%"
		lower := s.lowerFunc()
		q = q.Where(`(`+lower+`(t.key) LIKE ? ESCAPE '\' OR `+lower+`(t.name) LIKE ? ESCAPE '\' OR `+lower+`(t.description) LIKE ? ESCAPE '\')`,
			pat, pat, pat)
	}
	if f.Status != "" {
		if err := checkStatus(f.Status); err != nil {
			return nil, err
		}
		q = q.Where("lv.status = ?", f.Status)
	}
	if f.Tag != "" {
		q = s.whereTag(q, f.Tag)
	}
	if f.After != "" {
		q = q.Where("t.key > ?", f.After)
	}
	var rows []summaryRow
	// One more than the page tells whether a next page exists.
	if err := q.Order("t.key").Limit(limit + 1).Scan(&rows).Error; err != nil {
		return nil, mapErr(err, "templates")
	}
	page := &models.TemplatePage{Templates: make([]models.TemplateSummary, 0, min(len(rows), limit))}
	for i := range rows {
		if i == limit {
			page.Next = rows[i-1].Tpl.Key
			break
		}
		page.Templates = append(page.Templates, rows[i].model())
	}
	return page, nil
}

// whereTag keeps templates whose tags hold tag. The dialects differ here
// only: PostgreSQL has jsonb containment, SQLite reads the array with
// json_each.
func (s *Store) whereTag(q *gorm.DB, tag string) *gorm.DB {
	if s.dialect == "postgres" {
		return q.Where("t.tags @> ?::jsonb", NewJSON([]string{tag}))
	}
	return q.Where("EXISTS (SELECT 1 FROM json_each(t.tags) WHERE json_each.value = ?)", tag)
}

// sqliteLower names the SQL function that lowercases text on SQLite as
// strings.ToLower does, for searches. SQLite's own LOWER folds ASCII letters
// only, so a search (lowercased in Go) for "Über" never found "Überweisung"
// there, while PostgreSQL's LOWER, which follows the database's UTF-8
// locale, did. The driver registers it on every connection it opens.
const sqliteLower = "baton_lower"

// errSQLiteLower is why sqliteLower could not be registered (nil when it
// was); Open refuses SQLite then rather than search wrongly.
var errSQLiteLower = gosqlite.RegisterDeterministicScalarFunction(sqliteLower, 1,
	func(_ *gosqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		switch v := args[0].(type) {
		case string:
			return strings.ToLower(v), nil
		case []byte:
			return strings.ToLower(string(v)), nil
		default: // NULL, numbers: as LOWER leaves them
			return v, nil
		}
	})

// lowerFunc is the SQL function that lowercases text as strings.ToLower.
func (s *Store) lowerFunc() string {
	if s.dialect == migrations.Postgres {
		return "LOWER"
	}
	return sqliteLower
}

// escapeLike escapes LIKE's wildcards so a search is a plain substring.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func checkStatus(st models.VersionStatus) error {
	switch st {
	case models.VersionDraft, models.VersionInReview, models.VersionApproved, models.VersionRejected:
		return nil
	}
	return models.Errorf(models.Invalid, "unknown version status %q (statuses: draft, in_review, approved, rejected)", st)
}

// UpdateTemplateSettings changes a template's tags and required approvals.
// It returns NotFound for an unknown key and Invalid for an empty tag or a
// required approvals outside 1..models.MaxRequiredApprovals. A changed
// quorum applies to approvals given from then on.
func (s *Store) UpdateTemplateSettings(ctx context.Context, key string, set models.TemplateSettings, actor string) (*models.Template, error) {
	if err := checkActor(actor, "editor"); err != nil {
		return nil, err
	}
	updates := map[string]any{}
	detail := map[string]any{}
	if set.Tags != nil {
		tags := make([]string, 0, len(*set.Tags))
		for _, tag := range *set.Tags {
			tag = strings.TrimSpace(tag)
			if tag == "" {
				return nil, models.Errorf(models.Invalid, "a tag may not be empty")
			}
			if !slices.Contains(tags, tag) {
				tags = append(tags, tag)
			}
		}
		updates["tags"] = NewJSON(tags)
		detail["tags"] = tags
	}
	if set.RequiredApprovals != nil {
		n := *set.RequiredApprovals
		if n < 1 || n > models.MaxRequiredApprovals {
			return nil, models.Errorf(models.Invalid, "required approvals must be between 1 and %d, not %d", models.MaxRequiredApprovals, n)
		}
		updates["required_approvals"] = n
		detail["requiredApprovals"] = n
	}
	if set.Retention != nil {
		if strings.TrimSpace(*set.Retention) == "" {
			updates["retention_seconds"] = nil
			detail["retention"] = ""
		} else {
			d, err := models.ParseRetention(*set.Retention)
			if err != nil {
				return nil, err
			}
			updates["retention_seconds"] = int64(d / time.Second)
			detail["retention"] = models.FormatRetention(d)
		}
	}
	var out models.Template
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		row, err := lockTemplate(tx, key)
		if err != nil {
			return err
		}
		if len(updates) > 0 {
			at := now()
			updates["updated_at"] = at
			if err := tx.Model(&templateRow{}).Where("id = ?", row.ID).Updates(updates).Error; err != nil {
				return mapErr(err, fmt.Sprintf("template %q", key))
			}
			if err := auditTx(tx, actor, models.AuditTemplateSettings, "template:"+key, at, detail); err != nil {
				return err
			}
		}
		if err := tx.Where("id = ?", row.ID).Take(&row).Error; err != nil {
			return mapErr(err, fmt.Sprintf("template %q", key))
		}
		out = row.model()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// lockTemplate reads a template's row and, on PostgreSQL, locks it until the
// transaction ends; every change to a template's versions goes through it.
// SQLite drops the locking clause: there the single writer connection and
// BEGIN IMMEDIATE already serialise the transaction.
func lockTemplate(tx *gorm.DB, key string) (templateRow, error) {
	var row templateRow
	err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("key = ?", key).Take(&row).Error
	if err != nil {
		return row, mapErr(err, fmt.Sprintf("template %q", key))
	}
	return row, nil
}

// templateID returns the id of the template keyed key, or NotFound.
func templateID(db *gorm.DB, key string) (int64, error) {
	var ids []int64
	if err := db.Model(&templateRow{}).Where("key = ?", key).Limit(1).Pluck("id", &ids).Error; err != nil {
		return 0, mapErr(err, fmt.Sprintf("template %q", key))
	}
	if len(ids) == 0 {
		return 0, models.Errorf(models.NotFound, "template %q not found", key)
	}
	return ids[0], nil
}

// insertVersion stores def as draft number n of the template.
func insertVersion(tx *gorm.DB, tpl *templateRow, n int, def models.Definition, author string, at time.Time) (*reviewVersionRow, error) {
	def.Version = strconv.Itoa(n)
	row := reviewVersionRow{
		TemplateID: tpl.ID, Number: n, Status: models.VersionDraft, Definition: NewJSON(def),
		Author: author, CreatedAt: at, UpdatedAt: at,
	}
	if err := tx.Create(&row).Error; err != nil {
		return nil, mapErr(err, fmt.Sprintf("version %d of template %q", n, tpl.Key))
	}
	if err := addEditor(tx, row.ID, author, at); err != nil {
		return nil, err
	}
	return &row, nil
}

// addEditor records that user saved the version; saving again adds nothing.
func addEditor(tx *gorm.DB, versionID int64, user string, at time.Time) error {
	err := tx.Clauses(clause.OnConflict{DoNothing: true}).
		Create(&versionEditorRow{VersionID: versionID, UserName: user, FirstAt: at}).Error
	return mapErr(err, "version editor")
}

func addEvent(tx *gorm.DB, versionID int64, action models.VersionAction, actor string, at time.Time, comment string, round, from int) error {
	err := tx.Create(&versionEventRow{
		VersionID: versionID, Action: string(action), Actor: actor, At: at,
		Comment: comment, Round: round, FromVersion: from,
	}).Error
	return mapErr(err, "version event")
}

// auditTx appends to the audit log inside tx: Store.Audit would take the
// writer connection that tx holds (a deadlock on SQLite).
func auditTx(tx *gorm.DB, actor, action, target string, at time.Time, detail map[string]any) error {
	row := auditRow{At: at, Actor: actor, Action: action, Target: target}
	if len(detail) > 0 {
		d := NewJSON(detail)
		row.Detail = &d
	}
	return mapErr(tx.Create(&row).Error, "audit entry")
}

func (r *reviewVersionRow) model(key string) *models.Version {
	def := r.Definition.V
	def.Version = strconv.Itoa(r.Number)
	return &models.Version{
		Template: key, Number: r.Number, Status: r.Status, Definition: def, Author: r.Author,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), SubmittedAt: utcPtr(r.SubmittedAt),
		Reviewer: r.Reviewer, ReviewedAt: utcPtr(r.ReviewedAt), Comment: r.Comment,
	}
}

func (r *reviewVersionRow) summary() models.VersionSummary {
	return models.VersionSummary{
		Number: r.Number, Status: r.Status, Author: r.Author, CreatedAt: r.CreatedAt.UTC(),
		UpdatedAt: r.UpdatedAt.UTC(), SubmittedAt: utcPtr(r.SubmittedAt), Reviewer: r.Reviewer,
		ReviewedAt: utcPtr(r.ReviewedAt), Comment: r.Comment,
	}
}
