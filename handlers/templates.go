package handlers

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/models"
)

func (s *server) templateRoutes() []route {
	return []route{
		{fiber.MethodPost, "/api/v1/templates", models.RoleDesigner, s.createTemplate},
		{fiber.MethodGet, "/api/v1/templates", models.RoleViewer, s.listTemplates},
		{fiber.MethodGet, "/api/v1/templates/:key", models.RoleViewer, s.getTemplate},
		{fiber.MethodPatch, "/api/v1/templates/:key/settings", models.RoleAdmin, s.templateSettings},
		{fiber.MethodGet, "/api/v1/templates/:key/events", models.RoleViewer, s.templateEvents},
	}
}

// TemplateStore persists templates, versions, their review and their
// triggers; *store.Store satisfies it. The store enforces the rules that
// must hold whatever the caller (immutability after submit, four eyes,
// quorum); role checks are the handlers' job.
type TemplateStore interface {
	CreateTemplate(ctx context.Context, def models.Definition, author string) (*models.Template, *models.Version, error)
	Template(ctx context.Context, key string) (*models.TemplateSummary, error)
	ListTemplates(ctx context.Context, f models.TemplateFilter) (*models.TemplatePage, error)
	UpdateTemplateSettings(ctx context.Context, key string, set models.TemplateSettings, actor string) (*models.Template, error)
	TemplateEvents(ctx context.Context, key string, beforeID int64, limit int) ([]models.VersionEvent, error)

	SaveDraft(ctx context.Context, key string, def models.Definition, editor string) (*models.Version, error)
	RestoreVersion(ctx context.Context, key string, from int, editor string) (*models.Version, error)
	TemplateVersion(ctx context.Context, key string, n int) (*models.Version, error)
	ListVersions(ctx context.Context, key string) ([]models.VersionSummary, error)
	VersionDetail(ctx context.Context, key string, n int) (*models.VersionDetail, error)
	VersionEvents(ctx context.Context, key string, n int) ([]models.VersionEvent, error)

	SubmitVersion(ctx context.Context, key string, n int, actor string) (*models.VersionDetail, error)
	ApproveVersion(ctx context.Context, key string, n int, approver, comment string) (*models.VersionDetail, error)
	RejectVersion(ctx context.Context, key string, n int, reviewer, comment string) (*models.VersionDetail, error)
	WithdrawVersion(ctx context.Context, key string, n int, actor string) (*models.VersionDetail, error)
	ApprovalInbox(ctx context.Context, user string) ([]models.InboxItem, error)

	CreateSchedule(ctx context.Context, key string, sc models.Schedule, actor string) (*models.Schedule, error)
	Schedule(ctx context.Context, id int64) (*models.Schedule, error)
	ListSchedules(ctx context.Context, key string, enabledOnly bool) ([]models.Schedule, error)
	UpdateSchedule(ctx context.Context, id int64, upd models.ScheduleUpdate) (*models.Schedule, error)
	DeleteSchedule(ctx context.Context, id int64) error

	CreateWebhook(ctx context.Context, key string, mode models.WebhookMode, actor string) (*models.Webhook, error)
	WebhookByKey(ctx context.Context, hookKey string) (*models.Webhook, error)
	TemplateWebhook(ctx context.Context, key string) (*models.Webhook, error)
	UpdateWebhook(ctx context.Context, key string, upd models.WebhookUpdate) (*models.Webhook, error)
	RotateWebhookSecret(ctx context.Context, key, actor string) (*models.Webhook, error)
	DeleteWebhook(ctx context.Context, key string) error
	ClaimDelivery(ctx context.Context, webhookID int64, deliveryID string) (bool, error)
	SetDeliveryRun(ctx context.Context, webhookID int64, deliveryID, runID string) error
}

// Runs is the engine as the HTTP layer sees it, in models types only;
// *engine.Launcher satisfies it.
type Runs interface {
	// ParseDefinition parses and fully checks a definition: BadRequest for
	// a syntax error, Invalid with every problem otherwise.
	ParseDefinition(body []byte, contentType string) (models.Definition, error)
	Diff(a, b models.Definition) models.DefinitionDiff
	Start(ctx context.Context, req models.RunRequest) (models.Run, error)
	// StartWait starts a run and waits until it finishes or wait ends; it
	// returns the latest record (final, or live when wait ended first).
	StartWait(ctx context.Context, req models.RunRequest, wait context.Context) (models.Run, error)
	Run(ctx context.Context, id string) (models.Run, error)
	ListRuns(ctx context.Context, f models.RunFilter) ([]models.Run, error)
	Wait(ctx context.Context, id string) (models.Run, error)
	// Cancel, Signal, Retry and Rerun operate on an existing run: the
	// launcher decides whether by may (Forbidden), whether the request is
	// valid (Invalid, with the field's path) and whether the run's state
	// allows it (Conflict); handlers only render the outcome.
	Cancel(ctx context.Context, id string, by models.RunActor) error
	Signal(ctx context.Context, id, name string, payload any, by models.RunActor) error
	Retry(ctx context.Context, id string, by models.RunActor) (models.Run, error)
	Rerun(ctx context.Context, id string, req models.RerunRequest) (models.Run, error)
	// RunDetail is what the run page draws beside the record: the
	// definition stored with the run, each step's effective retry policy,
	// every attempt.
	RunDetail(ctx context.Context, id string) (models.RunDetail, error)
	Events(ctx context.Context, runID string, afterSeq int64, limit int) ([]models.Event, error)
	// Subscribe delivers events of one run ("" for all) after they are
	// committed; the channel closes on stop or when the subscriber fell
	// behind (dropped reports true).
	Subscribe(runID string, buffer int) (events <-chan models.Event, dropped func() bool, stop func())
	// SubscribeBatches is Subscribe with the events of one commit or more
	// in one value (shared, read-only), for streams that follow every run.
	SubscribeBatches(runID string, buffer int) (batches <-chan []models.Event, dropped func() bool, stop func())
}

// ScheduleNotifier keeps the scheduler in step with schedule changes.
type ScheduleNotifier interface {
	// Reload re-reads one schedule from the store (gone when deleted).
	Reload(ctx context.Context, id int64) error
	// NextFires returns the next n fire times of a schedule.
	NextFires(id int64, n int) ([]time.Time, error)
	// Check reports whether a cron expression and time zone can be
	// scheduled: nil, or an Invalid error naming the field.
	Check(cron, timeZone string) error
}

func (s *server) templates() (TemplateStore, error) {
	if s.deps.Templates == nil {
		return nil, models.Errorf(models.Unavailable, "templates are not available in this server")
	}
	return s.deps.Templates, nil
}

func (s *server) runs() (Runs, error) {
	if s.deps.Runs == nil {
		return nil, models.Errorf(models.Unavailable, "the workflow engine is not available in this server")
	}
	return s.deps.Runs, nil
}

// createdTemplate is POST /api/v1/templates' answer: the template and its
// version 1, a draft.
type createdTemplate struct {
	models.TemplateSummary
	Version *models.Version `json:"version"`
}

// definitionBody parses the request body as a definition, JSON or YAML.
func (s *server) definitionBody(c *fiber.Ctx) (models.Definition, error) {
	rs, err := s.runs()
	if err != nil {
		return models.Definition{}, err
	}
	var ct string
	switch mt := mediaType(c.Get(fiber.HeaderContentType)); mt {
	case "", fiber.MIMEApplicationJSON:
		ct = fiber.MIMEApplicationJSON
	case "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml":
		ct = "application/yaml"
	default:
		return models.Definition{}, models.Errorf(models.BadRequest, "send the definition as application/json or application/yaml, not %s", mt)
	}
	if len(c.Body()) == 0 {
		return models.Definition{}, models.Errorf(models.BadRequest, "the body is empty; send a definition")
	}
	return rs.ParseDefinition(c.Body(), ct)
}

func (s *server) createTemplate(c *fiber.Ctx) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	def, err := s.definitionBody(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	_, v, err := ts.CreateTemplate(ctx, def, principalOf(c).user.Name)
	if err != nil {
		return err
	}
	sum, err := ts.Template(ctx, def.ID)
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(createdTemplate{TemplateSummary: *sum, Version: v})
}

func (s *server) listTemplates(c *fiber.Ctx) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	f := models.TemplateFilter{
		Search: c.Query("search"), Status: models.VersionStatus(c.Query("status")),
		Tag: c.Query("tag"), After: c.Query("after"),
	}
	if f.Limit, err = queryLimit(c); err != nil {
		return err
	}
	page, err := ts.ListTemplates(c.UserContext(), f)
	if err != nil {
		return err
	}
	if page.Templates == nil {
		page.Templates = []models.TemplateSummary{}
	}
	return c.JSON(page)
}

// queryLimit reads ?limit= (0 when absent: the store's default).
func queryLimit(c *fiber.Ctx) (int, error) {
	raw := c.Query("limit")
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > 500 {
		return 0, models.Problems("invalid query", []models.Problem{{Path: "limit", Message: "must be a whole number from 1 to 500"}})
	}
	return n, nil
}

func (s *server) getTemplate(c *fiber.Ctx) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	sum, err := ts.Template(c.UserContext(), c.Params("key"))
	if err != nil {
		return err
	}
	return c.JSON(sum)
}

func (s *server) templateSettings(c *fiber.Ctx) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	var set models.TemplateSettings
	if err := decodeJSON(c, &set); err != nil {
		return err
	}
	tpl, err := ts.UpdateTemplateSettings(c.UserContext(), c.Params("key"), set, principalOf(c).user.Name)
	if err != nil {
		return err
	}
	return c.JSON(tpl)
}

// versionEventList is a review trail.
type versionEventList struct {
	Events []models.VersionEvent `json:"events"`
}

func (s *server) templateEvents(c *fiber.Ctx) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	limit, err := queryLimit(c)
	if err != nil {
		return err
	}
	var before int64
	if raw := c.Query("before"); raw != "" {
		if before, err = strconv.ParseInt(raw, 10, 64); err != nil || before < 1 {
			return models.Problems("invalid query", []models.Problem{{Path: "before", Message: "must be an event id"}})
		}
	}
	evs, err := ts.TemplateEvents(c.UserContext(), c.Params("key"), before, limit)
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []models.VersionEvent{}
	}
	return c.JSON(versionEventList{Events: evs})
}
