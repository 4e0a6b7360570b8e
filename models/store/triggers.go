package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/baton-run/baton/models"
)

// This file stores the ways a run starts by itself (migrations 00003 and
// 00006):
// schedules with their claimed fire times, and webhooks with their delivery
// ids. Claims are inserts into a table whose key is the thing claimed, so
// two instances, or one instance before and after a restart, never both win.
// Running them (gocron, the /hooks handler) is the engine's and the
// handlers' work.

type scheduleRow struct {
	ID         int64 `gorm:"primaryKey"`
	TemplateID int64
	Cron       string
	TimeZone   string
	Enabled    bool
	Overlap    string
	CatchUp    string
	Inputs     JSON[map[string]any]
	CreatedBy  string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	LastFireAt *time.Time
}

func (scheduleRow) TableName() string { return "schedules" }

type scheduleFireRow struct {
	ScheduleID int64     `gorm:"primaryKey"`
	FireAt     time.Time `gorm:"primaryKey"`
	ClaimedAt  time.Time
	RunID      string
	Skipped    bool
}

func (r scheduleFireRow) model() models.ScheduleFire {
	return models.ScheduleFire{ScheduleID: r.ScheduleID, FireAt: r.FireAt.UTC(), ClaimedAt: r.ClaimedAt.UTC(), RunID: r.RunID, Skipped: r.Skipped}
}

func (scheduleFireRow) TableName() string { return "schedule_fires" }

type webhookRow struct {
	ID         int64 `gorm:"primaryKey"`
	TemplateID int64
	Key        string
	Secret     string
	Mode       string
	Enabled    bool
	CreatedBy  string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

func (webhookRow) TableName() string { return "webhooks" }

type webhookDeliveryRow struct {
	WebhookID  int64  `gorm:"primaryKey"`
	DeliveryID string `gorm:"primaryKey"`
	ReceivedAt time.Time
	RunID      string
}

func (webhookDeliveryRow) TableName() string { return "webhook_deliveries" }

// scheduleWithKey is a schedules row with its template's key.
type scheduleWithKey struct {
	Row         scheduleRow `gorm:"embedded"`
	TemplateKey string
}

func (r *scheduleWithKey) model() models.Schedule {
	inputs := r.Row.Inputs.V
	if inputs == nil {
		inputs = map[string]any{}
	}
	c := &r.Row
	return models.Schedule{
		ID: c.ID, Template: r.TemplateKey, Cron: c.Cron, TimeZone: c.TimeZone, Enabled: c.Enabled,
		Overlap: models.OverlapPolicy(c.Overlap), CatchUp: models.CatchUpPolicy(c.CatchUp), Inputs: inputs, CreatedBy: c.CreatedBy,
		CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC(), LastFireAt: utcPtr(c.LastFireAt),
	}
}

// checkCron catches what is plainly not a cron expression. The engine, which
// owns gocron, parses the expression itself before it is stored; the store
// only refuses what would never parse.
func checkCron(expr string) (string, error) {
	expr = strings.TrimSpace(expr)
	fields := strings.Fields(expr)
	switch {
	case expr == "":
		return "", models.Errorf(models.Invalid, "a schedule needs a cron expression, such as \"0 9 * * 1-5\"")
	case strings.HasPrefix(expr, "@"):
		return expr, nil
	case len(fields) != 5 && len(fields) != 6:
		return "", models.Errorf(models.Invalid, "cron expression %q has %d fields; want 5 (minute hour day month weekday) or 6 (with seconds first)", expr, len(fields))
	}
	return expr, nil
}

func checkTimeZone(tz string) (string, error) {
	tz = strings.TrimSpace(tz)
	if tz == "" {
		return "UTC", nil
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return "", models.Errorf(models.Invalid, "unknown time zone %q: use an IANA name such as \"Europe/Berlin\" or \"UTC\"", tz)
	}
	return tz, nil
}

func checkOverlap(p models.OverlapPolicy) (models.OverlapPolicy, error) {
	switch p {
	case "":
		return models.OverlapSkip, nil
	case models.OverlapSkip, models.OverlapAllow:
		return p, nil
	}
	return "", models.Errorf(models.Invalid, "unknown overlap policy %q (skip or allow)", p)
}

// checkCatchUp returns the catch-up policy p stands for ("" is none), or an
// Invalid error naming the field catchUp.
func checkCatchUp(p models.CatchUpPolicy) (models.CatchUpPolicy, error) {
	switch p {
	case "":
		return models.CatchUpNone, nil
	case models.CatchUpNone, models.CatchUpLatest, models.CatchUpAll:
		return p, nil
	}
	return "", models.Problems("invalid schedule", []models.Problem{{Path: "catchUp",
		Message: fmt.Sprintf("unknown catch-up policy %q: use \"none\", \"latest\" or \"all\"", p)}})
}

// CreateSchedule stores a schedule for the template keyed key and sets its
// ID and times. An empty time zone means UTC, an empty overlap policy skip,
// an empty catch-up policy none, nil inputs none. It returns NotFound for an
// unknown template and Invalid for an empty cron expression or one without 5
// or 6 fields, an unknown time zone, overlap or catch-up policy, or an empty
// actor. Whether the template has an
// approved version is checked when the schedule fires.
func (s *Store) CreateSchedule(ctx context.Context, key string, sc models.Schedule, actor string) (*models.Schedule, error) {
	if err := checkActor(actor, "creator"); err != nil {
		return nil, err
	}
	cron, err := checkCron(sc.Cron)
	if err != nil {
		return nil, err
	}
	tz, err := checkTimeZone(sc.TimeZone)
	if err != nil {
		return nil, err
	}
	overlap, err := checkOverlap(sc.Overlap)
	if err != nil {
		return nil, err
	}
	catchUp, err := checkCatchUp(sc.CatchUp)
	if err != nil {
		return nil, err
	}
	inputs := sc.Inputs
	if inputs == nil {
		inputs = map[string]any{}
	}
	db := s.db.WithContext(ctx)
	tid, err := templateID(db, key)
	if err != nil {
		return nil, err
	}
	at := now()
	row := scheduleWithKey{TemplateKey: key, Row: scheduleRow{
		TemplateID: tid, Cron: cron, TimeZone: tz, Enabled: sc.Enabled, Overlap: string(overlap),
		CatchUp: string(catchUp), Inputs: NewJSON(inputs), CreatedBy: actor, CreatedAt: at, UpdatedAt: at,
	}}
	if err := db.Create(&row.Row).Error; err != nil {
		return nil, mapErr(err, fmt.Sprintf("schedule of template %q", key))
	}
	out := row.model()
	return &out, nil
}

func (s *Store) scheduleQuery(db *gorm.DB) *gorm.DB {
	return db.Table("schedules AS s").Select("s.*, t.key AS template_key").
		Joins("JOIN templates t ON t.id = s.template_id")
}

// Schedule returns one schedule, or NotFound.
func (s *Store) Schedule(ctx context.Context, id int64) (*models.Schedule, error) {
	return s.scheduleTx(s.read.WithContext(ctx), id)
}

func (s *Store) scheduleTx(db *gorm.DB, id int64) (*models.Schedule, error) {
	var rows []scheduleWithKey
	if err := s.scheduleQuery(db).Where("s.id = ?", id).Scan(&rows).Error; err != nil {
		return nil, mapErr(err, fmt.Sprintf("schedule %d", id))
	}
	if len(rows) == 0 {
		return nil, models.Errorf(models.NotFound, "schedule %d not found", id)
	}
	out := rows[0].model()
	return &out, nil
}

// ListSchedules returns the schedules of the template keyed key, or of
// every template when key is "", in creation order; enabledOnly keeps the
// enabled ones (what a scheduler arms at start-up). It returns NotFound for
// an unknown key.
func (s *Store) ListSchedules(ctx context.Context, key string, enabledOnly bool) ([]models.Schedule, error) {
	db := s.read.WithContext(ctx)
	q := s.scheduleQuery(db)
	if key != "" {
		tid, err := templateID(db, key)
		if err != nil {
			return nil, err
		}
		q = q.Where("s.template_id = ?", tid)
	}
	if enabledOnly {
		q = q.Where("s.enabled = ?", true)
	}
	var rows []scheduleWithKey
	if err := q.Order("s.id").Scan(&rows).Error; err != nil {
		return nil, mapErr(err, "schedules")
	}
	out := make([]models.Schedule, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// UpdateSchedule changes a schedule and its UpdatedAt (which a running
// scheduler can watch to re-arm it without a restart). It returns NotFound
// for an unknown id and Invalid as CreateSchedule does.
func (s *Store) UpdateSchedule(ctx context.Context, id int64, upd models.ScheduleUpdate) (*models.Schedule, error) {
	set := map[string]any{}
	if upd.Cron != nil {
		cron, err := checkCron(*upd.Cron)
		if err != nil {
			return nil, err
		}
		set["cron"] = cron
	}
	if upd.TimeZone != nil {
		tz, err := checkTimeZone(*upd.TimeZone)
		if err != nil {
			return nil, err
		}
		set["time_zone"] = tz
	}
	if upd.Overlap != nil {
		o, err := checkOverlap(*upd.Overlap)
		if err != nil {
			return nil, err
		}
		set["overlap"] = string(o)
	}
	if upd.CatchUp != nil {
		c, err := checkCatchUp(*upd.CatchUp)
		if err != nil {
			return nil, err
		}
		set["catch_up"] = string(c)
	}
	if upd.Enabled != nil {
		set["enabled"] = *upd.Enabled
	}
	if upd.Inputs != nil {
		in := *upd.Inputs
		if in == nil {
			in = map[string]any{}
		}
		set["inputs"] = NewJSON(in)
	}
	var out *models.Schedule
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if len(set) > 0 {
			set["updated_at"] = now()
			if err := notFoundIfNone(tx.Model(&scheduleRow{}).Where("id = ?", id).Updates(set), fmt.Sprintf("schedule %d", id)); err != nil {
				return err
			}
		}
		var err error
		out, err = s.scheduleTx(tx, id)
		return err
	})
	return out, err
}

// DeleteSchedule removes a schedule and its claimed fire times, or returns
// NotFound.
func (s *Store) DeleteSchedule(ctx context.Context, id int64) error {
	return notFoundIfNone(s.db.WithContext(ctx).Where("id = ?", id).Delete(&scheduleRow{}), fmt.Sprintf("schedule %d", id))
}

// ClaimScheduleFire claims the fire of schedule scheduleID at fireAt (the
// time the cron expression named, not the time it was noticed) and reports
// whether this caller won: false when the fire was claimed before, by this
// or another instance, and false when the schedule is disabled. A win also
// moves the schedule's LastFireAt forward. It returns NotFound for an
// unknown schedule and Invalid for a zero fireAt.
func (s *Store) ClaimScheduleFire(ctx context.Context, scheduleID int64, fireAt time.Time) (bool, error) {
	return s.claimFire(ctx, scheduleID, fireAt, false)
}

// SkipScheduleFire claims the fire of schedule scheduleID at fireAt as
// skipped (the overlap policy started no run), so that neither another
// instance nor a later start fires that time. It reports whether this caller
// won, like ClaimScheduleFire, but leaves LastFireAt and LastScheduleFire
// alone: they name the fires that started runs.
func (s *Store) SkipScheduleFire(ctx context.Context, scheduleID int64, fireAt time.Time) (bool, error) {
	return s.claimFire(ctx, scheduleID, fireAt, true)
}

func (s *Store) claimFire(ctx context.Context, scheduleID int64, fireAt time.Time, skipped bool) (bool, error) {
	if fireAt.IsZero() {
		return false, models.Errorf(models.Invalid, "a schedule fire needs its fire time")
	}
	fireAt = utc(fireAt)
	won := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var enabled []bool
		if err := tx.Model(&scheduleRow{}).Where("id = ?", scheduleID).Pluck("enabled", &enabled).Error; err != nil {
			return mapErr(err, fmt.Sprintf("schedule %d", scheduleID))
		}
		if len(enabled) == 0 {
			return models.Errorf(models.NotFound, "schedule %d not found", scheduleID)
		}
		if !enabled[0] {
			return nil
		}
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).
			Create(&scheduleFireRow{ScheduleID: scheduleID, FireAt: fireAt, ClaimedAt: now(), Skipped: skipped})
		if res.Error != nil {
			return mapErr(res.Error, fmt.Sprintf("fire of schedule %d", scheduleID))
		}
		if res.RowsAffected == 0 {
			return nil
		}
		won = true
		if skipped {
			return nil
		}
		// UpdateColumn leaves updated_at alone: it says when the schedule
		// itself last changed, which the catch-up on start relies on.
		err := tx.Model(&scheduleRow{}).Where("id = ? AND (last_fire_at IS NULL OR last_fire_at < ?)", scheduleID, fireAt).
			UpdateColumn("last_fire_at", fireAt).Error
		return mapErr(err, fmt.Sprintf("schedule %d", scheduleID))
	})
	return won, err
}

// SetScheduleFireRun records the run a claimed fire started. It returns
// NotFound when that fire was never claimed.
func (s *Store) SetScheduleFireRun(ctx context.Context, scheduleID int64, fireAt time.Time, runID string) error {
	res := s.db.WithContext(ctx).Model(&scheduleFireRow{}).
		Where("schedule_id = ? AND fire_at = ?", scheduleID, utc(fireAt)).Update("run_id", runID)
	return notFoundIfNone(res, fmt.Sprintf("fire of schedule %d at %s", scheduleID, utc(fireAt).Format(time.RFC3339Nano)))
}

// LastScheduleFire returns the latest claimed fire of a schedule that was
// not skipped, for the skip overlap policy (is its run still active?), or
// NotFound when the schedule never fired.
func (s *Store) LastScheduleFire(ctx context.Context, scheduleID int64) (*models.ScheduleFire, error) {
	var rows []scheduleFireRow
	err := s.read.WithContext(ctx).Where("schedule_id = ? AND skipped = ?", scheduleID, false).Order("fire_at DESC").Limit(1).Find(&rows).Error
	if err != nil {
		return nil, mapErr(err, fmt.Sprintf("fires of schedule %d", scheduleID))
	}
	if len(rows) == 0 {
		return nil, models.Errorf(models.NotFound, "schedule %d has not fired", scheduleID)
	}
	out := rows[0].model()
	return &out, nil
}

// MaxScheduleFiresListed bounds ScheduleFires.
const MaxScheduleFiresListed = 500

// ScheduleFires returns the latest limit claimed fires of a schedule, skipped
// ones included, newest fire time first (limit is clamped to 1 to
// MaxScheduleFiresListed). It returns NotFound for an unknown schedule.
func (s *Store) ScheduleFires(ctx context.Context, scheduleID int64, limit int) ([]models.ScheduleFire, error) {
	limit = min(max(limit, 1), MaxScheduleFiresListed)
	db := s.read.WithContext(ctx)
	var n int64
	if err := db.Model(&scheduleRow{}).Where("id = ?", scheduleID).Count(&n).Error; err != nil {
		return nil, mapErr(err, fmt.Sprintf("schedule %d", scheduleID))
	}
	if n == 0 {
		return nil, models.Errorf(models.NotFound, "schedule %d not found", scheduleID)
	}
	var rows []scheduleFireRow
	if err := db.Where("schedule_id = ?", scheduleID).Order("fire_at DESC").Limit(limit).Find(&rows).Error; err != nil {
		return nil, mapErr(err, fmt.Sprintf("fires of schedule %d", scheduleID))
	}
	out := make([]models.ScheduleFire, len(rows))
	for i, r := range rows {
		out[i] = r.model()
	}
	return out, nil
}

// PruneScheduleFires deletes fire claims made before before, and returns how
// many. Keep them longer than any clock skew between instances: a pruned
// claim can be won again.
func (s *Store) PruneScheduleFires(ctx context.Context, before time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Where("claimed_at < ?", utc(before)).Delete(&scheduleFireRow{})
	return res.RowsAffected, mapErr(res.Error, "schedule fires")
}

// newSecret returns 256 random bits, URL-safe: a webhook secret.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newHookKey returns 128 random bits as lower-case base32: a webhook's URL
// key, unguessable so that hooks cannot be found by trying names.
func newHookKey() string { return strings.ToLower(rand.Text()) }

func checkMode(m models.WebhookMode) error {
	if m != models.WebhookHMAC && m != models.WebhookToken {
		return models.Errorf(models.Invalid, "unknown webhook mode %q (hmac or token)", m)
	}
	return nil
}

// webhookWithKey is a webhooks row with its template's key.
type webhookWithKey struct {
	Row         webhookRow `gorm:"embedded"`
	TemplateKey string
}

func (r *webhookWithKey) model() *models.Webhook {
	w := &r.Row
	return &models.Webhook{
		ID: w.ID, Template: r.TemplateKey, Key: w.Key, Secret: models.Secret(w.Secret), Mode: models.WebhookMode(w.Mode),
		Enabled: w.Enabled, CreatedBy: w.CreatedBy, CreatedAt: w.CreatedAt.UTC(), UpdatedAt: w.UpdatedAt.UTC(),
	}
}

// CreateWebhook gives the template keyed key its webhook, enabled, with a
// new random URL key and secret (the returned webhook carries the secret:
// show it to its owner once). It returns NotFound for an unknown template,
// Conflict when the template has a webhook already, and Invalid for an
// unknown mode or an empty actor.
func (s *Store) CreateWebhook(ctx context.Context, key string, mode models.WebhookMode, actor string) (*models.Webhook, error) {
	if err := checkActor(actor, "creator"); err != nil {
		return nil, err
	}
	if err := checkMode(mode); err != nil {
		return nil, err
	}
	var out *models.Webhook
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		tid, err := templateID(tx, key)
		if err != nil {
			return err
		}
		at := now()
		row := webhookWithKey{TemplateKey: key, Row: webhookRow{
			TemplateID: tid, Key: newHookKey(), Secret: newSecret(), Mode: string(mode), Enabled: true,
			CreatedBy: actor, CreatedAt: at, UpdatedAt: at,
		}}
		if err := tx.Create(&row.Row).Error; err != nil {
			return mapErr(err, fmt.Sprintf("webhook of template %q", key))
		}
		// The detail names the mode only: the secret never reaches a log.
		if err := auditTx(tx, actor, models.AuditWebhookCreated, "template:"+key, at, map[string]any{"mode": string(mode)}); err != nil {
			return err
		}
		out = row.model()
		return nil
	})
	return out, err
}

func (s *Store) webhookWhere(db *gorm.DB, where string, arg any, subject string) (*models.Webhook, error) {
	var rows []webhookWithKey
	err := db.Table("webhooks AS w").Select("w.*, t.key AS template_key").
		Joins("JOIN templates t ON t.id = w.template_id").Where(where, arg).Scan(&rows).Error
	if err != nil {
		return nil, mapErr(err, subject)
	}
	if len(rows) == 0 {
		return nil, models.Errorf(models.NotFound, "%s not found", subject)
	}
	return rows[0].model(), nil
}

// WebhookByKey returns the webhook of /hooks/{hookKey}, secret included, or
// NotFound. A disabled webhook is returned too: the caller refuses it.
func (s *Store) WebhookByKey(ctx context.Context, hookKey string) (*models.Webhook, error) {
	return s.webhookWhere(s.read.WithContext(ctx), "w.key = ?", hookKey, "webhook")
}

// TemplateWebhook returns the webhook of the template keyed key, or
// NotFound when the template or its webhook does not exist.
func (s *Store) TemplateWebhook(ctx context.Context, key string) (*models.Webhook, error) {
	return s.webhookWhere(s.read.WithContext(ctx), "t.key = ?", key, fmt.Sprintf("webhook of template %q", key))
}

// UpdateWebhook changes a template's webhook's mode or enabled flag. It
// returns NotFound when there is no such webhook and Invalid for an unknown
// mode.
func (s *Store) UpdateWebhook(ctx context.Context, key string, upd models.WebhookUpdate) (*models.Webhook, error) {
	set := map[string]any{}
	if upd.Mode != nil {
		if err := checkMode(*upd.Mode); err != nil {
			return nil, err
		}
		set["mode"] = string(*upd.Mode)
	}
	if upd.Enabled != nil {
		set["enabled"] = *upd.Enabled
	}
	return s.changeWebhook(ctx, key, set, nil)
}

// RotateWebhookSecret replaces the secret of a template's webhook; the old
// one stops working at once. The returned webhook carries the new secret.
// It returns NotFound when there is no such webhook and Invalid for an
// empty actor.
func (s *Store) RotateWebhookSecret(ctx context.Context, key, actor string) (*models.Webhook, error) {
	if err := checkActor(actor, "user"); err != nil {
		return nil, err
	}
	return s.changeWebhook(ctx, key, map[string]any{"secret": newSecret()}, func(tx *gorm.DB, at time.Time) error {
		return auditTx(tx, actor, models.AuditWebhookRotated, "template:"+key, at, nil)
	})
}

func (s *Store) changeWebhook(ctx context.Context, key string, set map[string]any, also func(*gorm.DB, time.Time) error) (*models.Webhook, error) {
	var out *models.Webhook
	subject := fmt.Sprintf("webhook of template %q", key)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		tid, err := templateID(tx, key)
		if err != nil {
			return err
		}
		if len(set) > 0 {
			at := now()
			set["updated_at"] = at
			if err := notFoundIfNone(tx.Model(&webhookRow{}).Where("template_id = ?", tid).Updates(set), subject); err != nil {
				return err
			}
			if also != nil {
				if err := also(tx, at); err != nil {
					return err
				}
			}
		}
		out, err = s.webhookWhere(tx, "w.template_id = ?", tid, subject)
		return err
	})
	return out, err
}

// DeleteWebhook removes a template's webhook and its delivery ids, or
// returns NotFound.
func (s *Store) DeleteWebhook(ctx context.Context, key string) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		tid, err := templateID(tx, key)
		if err != nil {
			return err
		}
		return notFoundIfNone(tx.Where("template_id = ?", tid).Delete(&webhookRow{}), fmt.Sprintf("webhook of template %q", key))
	})
}

// MaxDeliveryIDLength bounds a webhook delivery id.
const MaxDeliveryIDLength = 200

// ClaimDelivery records delivery deliveryID of a webhook and reports whether
// it is new: false means a replay, which must not start a run. It returns
// Invalid for an empty or overlong delivery id and NotFound for an unknown
// webhook.
func (s *Store) ClaimDelivery(ctx context.Context, webhookID int64, deliveryID string) (bool, error) {
	if deliveryID == "" || len(deliveryID) > MaxDeliveryIDLength {
		return false, models.Errorf(models.Invalid, "a delivery id must have 1 to %d characters", MaxDeliveryIDLength)
	}
	won := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&webhookRow{}).Where("id = ?", webhookID).Count(&n).Error; err != nil {
			return mapErr(err, fmt.Sprintf("webhook %d", webhookID))
		}
		if n == 0 {
			return models.Errorf(models.NotFound, "webhook %d not found", webhookID)
		}
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).
			Create(&webhookDeliveryRow{WebhookID: webhookID, DeliveryID: deliveryID, ReceivedAt: now()})
		if res.Error != nil {
			return mapErr(res.Error, fmt.Sprintf("delivery %q", deliveryID))
		}
		won = res.RowsAffected == 1
		return nil
	})
	return won, err
}

// SetDeliveryRun records the run a delivery started. It returns NotFound
// when the delivery was never claimed.
func (s *Store) SetDeliveryRun(ctx context.Context, webhookID int64, deliveryID, runID string) error {
	res := s.db.WithContext(ctx).Model(&webhookDeliveryRow{}).
		Where("webhook_id = ? AND delivery_id = ?", webhookID, deliveryID).Update("run_id", runID)
	return notFoundIfNone(res, fmt.Sprintf("delivery %q", deliveryID))
}

// PruneDeliveries deletes delivery ids received before before, and returns
// how many. A pruned id can be replayed, so keep them longer than the
// window in which a caller's signature or timestamp is accepted.
func (s *Store) PruneDeliveries(ctx context.Context, before time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Where("received_at < ?", utc(before)).Delete(&webhookDeliveryRow{})
	return res.RowsAffected, mapErr(res.Error, "webhook deliveries")
}
