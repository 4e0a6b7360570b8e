package store

import (
	"context"
	"time"

	"github.com/baton-run/baton/models"
)

// Devices and their command queue (migration 00015).

type deviceRow struct {
	ID           int64 `gorm:"primaryKey"`
	Name         string
	TokenHash    string
	Capabilities JSON[[]string]
	Labels       JSON[map[string]string]
	Draining     bool
	CreatedAt    time.Time
	LastSeenAt   *time.Time
	RevokedAt    *time.Time
}

func (deviceRow) TableName() string { return "devices" }

func (r *deviceRow) model() *models.Device {
	caps := r.Capabilities.V
	if caps == nil {
		caps = []string{}
	}
	labels := r.Labels.V
	if labels == nil {
		labels = map[string]string{}
	}
	return &models.Device{
		ID: r.ID, Name: r.Name, TokenHash: r.TokenHash, Capabilities: caps, Labels: labels,
		Draining: r.Draining, CreatedAt: r.CreatedAt.UTC(), LastSeenAt: utcPtr(r.LastSeenAt), RevokedAt: utcPtr(r.RevokedAt),
	}
}

type deviceCommandRow struct {
	ID             string `gorm:"primaryKey"`
	RunID          string
	StepID         string
	Attempt        int
	Delivery       int
	IdempotencyKey string
	Device         string
	Command        string
	Args           JSON[[]string]
	Status         string
	ExitCode       *int
	DurationMs     int64
	Error          string
	Late           bool
	CreatedAt      time.Time
	SentAt         *time.Time
	FinishedAt     *time.Time
}

func (deviceCommandRow) TableName() string { return "device_commands" }

func commandRow(c *models.DeviceCommand) deviceCommandRow {
	args := c.Args
	if args == nil {
		args = []string{}
	}
	return deviceCommandRow{
		ID: c.ID, RunID: c.RunID, StepID: c.StepID, Attempt: c.Attempt, Delivery: c.Delivery,
		IdempotencyKey: c.IdempotencyKey, Device: c.Device, Command: c.Command, Args: NewJSON(args),
		Status: c.Status, ExitCode: c.ExitCode, DurationMs: c.DurationMs, Error: c.Error, Late: c.Late,
		CreatedAt: orNow(c.CreatedAt), SentAt: utcPtr(c.SentAt), FinishedAt: utcPtr(c.FinishedAt),
	}
}

func (r *deviceCommandRow) model() models.DeviceCommand {
	args := r.Args.V
	if args == nil {
		args = []string{}
	}
	return models.DeviceCommand{
		ID: r.ID, RunID: r.RunID, StepID: r.StepID, Attempt: r.Attempt, Delivery: r.Delivery,
		IdempotencyKey: r.IdempotencyKey, Device: r.Device, Command: r.Command, Args: args,
		Status: r.Status, ExitCode: r.ExitCode, DurationMs: r.DurationMs, Error: r.Error, Late: r.Late,
		CreatedAt: r.CreatedAt.UTC(), SentAt: utcPtr(r.SentAt), FinishedAt: utcPtr(r.FinishedAt),
	}
}

// CreateDevice registers d (its token's hash only) and sets its ID and,
// when zero, its CreatedAt. A bad name is Invalid; a name or token hash
// already stored is a Conflict.
func (s *Store) CreateDevice(ctx context.Context, d *models.Device) error {
	if !models.DeviceNamePattern.MatchString(d.Name) {
		return models.Problems("invalid device", []models.Problem{{Path: "name", Message: models.DeviceNameRule}})
	}
	if d.TokenHash == "" {
		return models.Errorf(models.Invalid, "a device needs a token hash")
	}
	caps, labels := d.Capabilities, d.Labels
	if caps == nil {
		caps = []string{}
	}
	if labels == nil {
		labels = map[string]string{}
	}
	row := deviceRow{Name: d.Name, TokenHash: d.TokenHash, Capabilities: NewJSON(caps), Labels: NewJSON(labels),
		Draining: d.Draining, CreatedAt: orNow(d.CreatedAt)}
	if err := s.db.WithContext(ctx).Create(&row).Error; err != nil {
		return mapErr(err, "device "+quote(d.Name))
	}
	d.ID, d.CreatedAt, d.Capabilities, d.Labels = row.ID, row.CreatedAt, caps, labels
	return nil
}

func quote(s string) string { return `"` + s + `"` }

// DeviceByName returns a device, revoked or not.
func (s *Store) DeviceByName(ctx context.Context, name string) (*models.Device, error) {
	var row deviceRow
	if err := s.read.WithContext(ctx).Where("name = ?", name).Take(&row).Error; err != nil {
		return nil, mapErr(err, "device "+quote(name))
	}
	return row.model(), nil
}

// DeviceByTokenHash returns the unrevoked device whose token has that
// hash; NotFound otherwise.
func (s *Store) DeviceByTokenHash(ctx context.Context, hash string) (*models.Device, error) {
	var row deviceRow
	err := s.read.WithContext(ctx).Where("token_hash = ? AND revoked_at IS NULL", hash).Take(&row).Error
	if err != nil {
		return nil, mapErr(err, "device token")
	}
	return row.model(), nil
}

// ListDevices returns every device, revoked ones included, by name.
func (s *Store) ListDevices(ctx context.Context) ([]models.Device, error) {
	var rows []deviceRow
	if err := s.read.WithContext(ctx).Order("name").Find(&rows).Error; err != nil {
		return nil, mapErr(err, "devices")
	}
	out := make([]models.Device, len(rows))
	for i := range rows {
		out[i] = *rows[i].model()
	}
	return out, nil
}

// SetDeviceDraining starts (true) or ends (false) a device's draining. A
// revoked device is a Conflict.
func (s *Store) SetDeviceDraining(ctx context.Context, name string, draining bool) error {
	res := s.db.WithContext(ctx).Model(&deviceRow{}).Where("name = ? AND revoked_at IS NULL", name).Update("draining", draining)
	if res.Error != nil {
		return mapErr(res.Error, "device "+quote(name))
	}
	if res.RowsAffected == 0 {
		return s.missingOrRevoked(ctx, name)
	}
	return nil
}

// RevokeDevice revokes a device: its token is refused from now on. A
// device revoked already is a Conflict.
func (s *Store) RevokeDevice(ctx context.Context, name string, at time.Time) error {
	res := s.db.WithContext(ctx).Model(&deviceRow{}).Where("name = ? AND revoked_at IS NULL", name).Update("revoked_at", utc(at))
	if res.Error != nil {
		return mapErr(res.Error, "device "+quote(name))
	}
	if res.RowsAffected == 0 {
		return s.missingOrRevoked(ctx, name)
	}
	return nil
}

func (s *Store) missingOrRevoked(ctx context.Context, name string) error {
	if _, err := s.DeviceByName(ctx, name); err != nil {
		return err
	}
	return models.Errorf(models.Conflict, "device %q is revoked", name)
}

// TouchDevice records when a device was last heard from.
func (s *Store) TouchDevice(ctx context.Context, name string, at time.Time) error {
	res := s.db.WithContext(ctx).Model(&deviceRow{}).Where("name = ?", name).Update("last_seen_at", utc(at))
	if res.Error != nil {
		return mapErr(res.Error, "device "+quote(name))
	}
	if res.RowsAffected == 0 {
		return models.Errorf(models.NotFound, "device %q not found", name)
	}
	return nil
}

// CreateCommand stores a new command delivery. Its ID is the caller's; a
// repeated ID is a Conflict.
func (s *Store) CreateCommand(ctx context.Context, c *models.DeviceCommand) error {
	if c.ID == "" || c.RunID == "" || c.StepID == "" || c.Command == "" || c.Status == "" {
		return models.Errorf(models.Invalid, "a device command needs an id, a run, a step, a command and a status")
	}
	row := commandRow(c)
	if err := s.db.WithContext(ctx).Create(&row).Error; err != nil {
		return mapErr(err, "device command "+c.ID)
	}
	c.CreatedAt = row.CreatedAt
	return nil
}

// UpdateCommand writes a command's device, status, result and times.
func (s *Store) UpdateCommand(ctx context.Context, c *models.DeviceCommand) error {
	row := commandRow(c)
	res := s.db.WithContext(ctx).Model(&deviceCommandRow{}).Where("id = ?", c.ID).Updates(map[string]any{
		"device": row.Device, "status": row.Status, "exit_code": row.ExitCode, "duration_ms": row.DurationMs,
		"error": row.Error, "late": row.Late, "sent_at": row.SentAt, "finished_at": row.FinishedAt,
	})
	if res.Error != nil {
		return mapErr(res.Error, "device command "+c.ID)
	}
	if res.RowsAffected == 0 {
		return models.Errorf(models.NotFound, "device command %s not found", c.ID)
	}
	return nil
}

// CommandByID returns one command delivery.
func (s *Store) CommandByID(ctx context.Context, id string) (*models.DeviceCommand, error) {
	var row deviceCommandRow
	if err := s.read.WithContext(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return nil, mapErr(err, "device command "+id)
	}
	m := row.model()
	return &m, nil
}

// ListCommands returns the newest commands first, at most limit (1–500;
// 50 when out of range): those sent to device when it is not empty, else
// those of run (all its steps) when run is not empty, else all.
func (s *Store) ListCommands(ctx context.Context, device, run string, limit int) ([]models.DeviceCommand, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	q := s.read.WithContext(ctx).Model(&deviceCommandRow{})
	switch {
	case device != "":
		q = q.Where("device = ?", device)
	case run != "":
		q = q.Where("run_id = ?", run)
	}
	var rows []deviceCommandRow
	if err := q.Order("created_at DESC, id DESC").Limit(limit).Find(&rows).Error; err != nil {
		return nil, mapErr(err, "device commands")
	}
	out := make([]models.DeviceCommand, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// UnfinishedCommands returns the commands queued or sent, oldest first:
// after a restart, the deliveries nobody waits for any more.
func (s *Store) UnfinishedCommands(ctx context.Context) ([]models.DeviceCommand, error) {
	var rows []deviceCommandRow
	err := s.read.WithContext(ctx).Where("status IN ('queued', 'sent')").Order("created_at, id").Find(&rows).Error
	if err != nil {
		return nil, mapErr(err, "device commands")
	}
	out := make([]models.DeviceCommand, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}
