package handlers

import (
	"bytes"
	"context"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/models"
)

func (s *server) scheduleRoutes() []route {
	return []route{
		{fiber.MethodGet, "/api/v1/templates/:key/schedules", models.RoleViewer, s.listSchedules},
		{fiber.MethodPost, "/api/v1/templates/:key/schedules", models.RoleOperator, s.createSchedule},
		{fiber.MethodGet, "/api/v1/templates/:key/schedules/:id", models.RoleViewer, s.getSchedule},
		{fiber.MethodGet, "/api/v1/templates/:key/schedules/:id/fires", models.RoleViewer, s.scheduleFires},
		{fiber.MethodPatch, "/api/v1/templates/:key/schedules/:id", models.RoleOperator, s.updateSchedule},
		{fiber.MethodDelete, "/api/v1/templates/:key/schedules/:id", models.RoleOperator, s.deleteSchedule},
	}
}

// Audit actions of schedules: they start production runs unattended.
const (
	auditScheduleCreated = "schedule_created"
	auditScheduleChanged = "schedule_changed"
	auditScheduleDeleted = "schedule_deleted"
)

// nextFiresShown is how many upcoming fire times a schedule shows.
const nextFiresShown = 5

// scheduleView is a schedule with its next fire times (empty when it is
// disabled or the scheduler is not running in this server).
type scheduleView struct {
	models.Schedule
	NextFires []time.Time `json:"nextFires"`
}

type scheduleList struct {
	Schedules []scheduleView `json:"schedules"`
}

// scheduleBody is POST's body; enabled defaults to true, catchUp to none.
type scheduleBody struct {
	Cron     string               `json:"cron"`
	TimeZone string               `json:"timeZone"`
	Enabled  *bool                `json:"enabled"`
	Overlap  models.OverlapPolicy `json:"overlap"`
	CatchUp  models.CatchUpPolicy `json:"catchUp"`
	Inputs   map[string]any       `json:"inputs"`
}

// scheduleFireLister is the part of the store that lists a schedule's
// claimed fires; *store.Store has it. It is asked for by type assertion
// so that TemplateStore, which other stores and fakes implement, stays as
// it is.
type scheduleFireLister interface {
	ScheduleFires(ctx context.Context, scheduleID int64, limit int) ([]models.ScheduleFire, error)
}

// scheduleFiresShown is how many fires GET …/fires lists without ?limit=.
const scheduleFiresShown = 20

type scheduleFireList struct {
	Fires []models.ScheduleFire `json:"fires"`
}

func (s *server) view(sc models.Schedule) scheduleView {
	v := scheduleView{Schedule: sc, NextFires: []time.Time{}}
	if s.deps.Schedules != nil && sc.Enabled {
		if next, err := s.deps.Schedules.NextFires(sc.ID, nextFiresShown); err == nil {
			v.NextFires = next
		}
	}
	return v
}

// reload tells the scheduler about a change. The change is stored either
// way; a scheduler that missed it catches up at its next full sync.
func (s *server) reload(c *fiber.Ctx, id int64) {
	if s.deps.Schedules == nil {
		return
	}
	if err := s.deps.Schedules.Reload(c.UserContext(), id); err != nil {
		s.logOf(c).Error("reload schedule", "schedule", id, "err", err)
	}
}

// templateSchedule loads schedule :id and checks it belongs to :key.
func (s *server) templateSchedule(c *fiber.Ctx, ts TemplateStore) (*models.Schedule, error) {
	id, err := pathID(c, "id")
	if err != nil {
		return nil, err
	}
	sc, err := ts.Schedule(c.UserContext(), id)
	if err != nil {
		return nil, err
	}
	if sc.Template != c.Params("key") {
		return nil, models.Errorf(models.NotFound, "template %q has no schedule %d", c.Params("key"), id)
	}
	return sc, nil
}

func (s *server) listSchedules(c *fiber.Ctx) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	ctx, key := c.UserContext(), c.Params("key")
	if _, err := ts.Template(ctx, key); err != nil {
		return err
	}
	scs, err := ts.ListSchedules(ctx, key, false)
	if err != nil {
		return err
	}
	out := scheduleList{Schedules: []scheduleView{}}
	for _, sc := range scs {
		out.Schedules = append(out.Schedules, s.view(sc))
	}
	return c.JSON(out)
}

func (s *server) createSchedule(c *fiber.Ctx) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	var in scheduleBody
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	ctx, key := c.UserContext(), c.Params("key")
	tpl, err := ts.Template(ctx, key)
	if err != nil {
		return err
	}
	if s.deps.Schedules != nil {
		if err := s.deps.Schedules.Check(in.Cron, in.TimeZone); err != nil {
			return err
		}
	}
	if tpl.LatestApprovedVersion == 0 {
		return models.Errorf(models.Conflict, "template %q has no approved version yet; schedules run approved versions only", key)
	}
	sc := models.Schedule{Cron: in.Cron, TimeZone: in.TimeZone, Enabled: in.Enabled == nil || *in.Enabled, Overlap: in.Overlap,
		CatchUp: in.CatchUp, Inputs: in.Inputs}
	created, err := ts.CreateSchedule(ctx, key, sc, principalOf(c).user.Name)
	if err != nil {
		return err
	}
	s.reload(c, created.ID)
	s.audit(c, principalOf(c).user.Name, auditScheduleCreated, "template:"+key,
		map[string]any{"schedule": created.ID, "cron": created.Cron, "timeZone": created.TimeZone, "enabled": created.Enabled, "catchUp": created.CatchUp})
	return c.Status(http.StatusCreated).JSON(s.view(*created))
}

func (s *server) getSchedule(c *fiber.Ctx) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	sc, err := s.templateSchedule(c, ts)
	if err != nil {
		return err
	}
	return c.JSON(s.view(*sc))
}

// scheduleFires lists a schedule's latest claimed fire times, newest first:
// each with the run it started (whose record carries the same fire time in
// its schedule field) or skipped: true, a time the overlap policy skipped,
// which no run shows.
func (s *server) scheduleFires(c *fiber.Ctx) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	lister, ok := ts.(scheduleFireLister)
	if !ok {
		return models.Errorf(models.Unavailable, "this server's store does not keep schedule fires")
	}
	limit, err := queryLimit(c)
	if err != nil {
		return err
	}
	if limit == 0 {
		limit = scheduleFiresShown
	}
	sc, err := s.templateSchedule(c, ts)
	if err != nil {
		return err
	}
	fires, err := lister.ScheduleFires(c.UserContext(), sc.ID, limit)
	if err != nil {
		return err
	}
	if fires == nil {
		fires = []models.ScheduleFire{}
	}
	return c.JSON(scheduleFireList{Fires: fires})
}

func (s *server) updateSchedule(c *fiber.Ctx) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	sc, err := s.templateSchedule(c, ts)
	if err != nil {
		return err
	}
	var upd models.ScheduleUpdate
	if len(bytes.TrimSpace(c.Body())) > 0 {
		if err := decodeJSON(c, &upd); err != nil {
			return err
		}
	}
	if s.deps.Schedules != nil && (upd.Cron != nil || upd.TimeZone != nil) {
		cron, tz := sc.Cron, sc.TimeZone
		if upd.Cron != nil {
			cron = *upd.Cron
		}
		if upd.TimeZone != nil {
			tz = *upd.TimeZone
		}
		if err := s.deps.Schedules.Check(cron, tz); err != nil {
			return err
		}
	}
	changed, err := ts.UpdateSchedule(c.UserContext(), sc.ID, upd)
	if err != nil {
		return err
	}
	s.reload(c, sc.ID)
	s.audit(c, principalOf(c).user.Name, auditScheduleChanged, "template:"+sc.Template,
		map[string]any{"schedule": sc.ID, "cron": changed.Cron, "timeZone": changed.TimeZone, "enabled": changed.Enabled, "catchUp": changed.CatchUp})
	return c.JSON(s.view(*changed))
}

func (s *server) deleteSchedule(c *fiber.Ctx) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	sc, err := s.templateSchedule(c, ts)
	if err != nil {
		return err
	}
	if err := ts.DeleteSchedule(c.UserContext(), sc.ID); err != nil {
		return err
	}
	s.reload(c, sc.ID)
	s.audit(c, principalOf(c).user.Name, auditScheduleDeleted, "template:"+sc.Template, map[string]any{"schedule": sc.ID})
	return c.SendStatus(http.StatusNoContent)
}
