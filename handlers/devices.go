package handlers

import (
	"context"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/handlers/auth"
	"github.com/baton-run/baton/models"
)

// Devices is the device hub as the HTTP layer needs it; *agent.Hub
// satisfies it.
type Devices interface {
	Authenticate(ctx context.Context, tokenHash string) (*models.Device, error)
	Serve(ctx context.Context, dev *models.Device, conn models.AgentConn) error
	Register(ctx context.Context, d *models.Device) error
	Devices(ctx context.Context) ([]models.DeviceState, error)
	SetDraining(ctx context.Context, name string, draining bool) error
	Revoke(ctx context.Context, name string) error
	Commands(ctx context.Context, name string, limit int) ([]models.DeviceCommand, error)
	RunCommands(ctx context.Context, runID string) ([]models.DeviceCommand, error)
	LiveOutput(runID, stepID string) (models.LiveOutput, bool)
}

func (s *server) deviceRoutes() []route {
	return []route{
		{fiber.MethodGet, "/api/v1/devices", models.RoleViewer, s.listDevices},
		{fiber.MethodPost, "/api/v1/devices", models.RoleAdmin, s.createDevice},
		{fiber.MethodPost, "/api/v1/devices/:name/drain", models.RoleAdmin, s.drainDevice(true)},
		{fiber.MethodPost, "/api/v1/devices/:name/resume", models.RoleAdmin, s.drainDevice(false)},
		{fiber.MethodDelete, "/api/v1/devices/:name", models.RoleAdmin, s.revokeDevice},
		{fiber.MethodGet, "/api/v1/devices/:name/commands", models.RoleViewer, s.deviceCommands},
	}
}

// Audit actions of devices.
const (
	auditDeviceAdded    = "device_added"
	auditDeviceRevoked  = "device_revoked"
	auditDeviceDrained  = "device_drained"
	auditDeviceResumed  = "device_resumed"
	maxDeviceNameLength = 63
)

func (s *server) devices() (Devices, error) {
	if s.deps.Devices == nil {
		return nil, models.Errorf(models.Unavailable, "this server runs no device hub")
	}
	return s.deps.Devices, nil
}

type deviceList struct {
	Devices []models.DeviceState `json:"devices"`
}

func (s *server) listDevices(c *fiber.Ctx) error {
	h, err := s.devices()
	if err != nil {
		return err
	}
	list, err := h.Devices(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(deviceList{Devices: list})
}

// createdDevice is a new device with its token, shown this once.
type createdDevice struct {
	models.Device
	Token string `json:"token"`
}

func (s *server) createDevice(c *fiber.Ctx) error {
	var in struct {
		Name         string            `json:"name"`
		Capabilities []string          `json:"capabilities"`
		Labels       map[string]string `json:"labels"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	d, plain, err := s.registerDevice(c, in.Name, in.Capabilities, in.Labels)
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(createdDevice{Device: *d, Token: plain})
}

// registerDevice checks and stores a new device for the API and the page.
func (s *server) registerDevice(c *fiber.Ctx, name string, caps []string, labels map[string]string) (*models.Device, string, error) {
	h, err := s.devices()
	if err != nil {
		return nil, "", err
	}
	name = strings.TrimSpace(name)
	var probs []models.Problem
	if !models.DeviceNamePattern.MatchString(name) {
		probs = append(probs, models.Problem{Path: "name", Message: models.DeviceNameRule})
	}
	for _, cp := range caps {
		if strings.TrimSpace(cp) == "" || len(cp) > 100 {
			probs = append(probs, models.Problem{Path: "capabilities", Message: "each capability is 1 to 100 characters"})
			break
		}
	}
	for k, v := range labels {
		if strings.TrimSpace(k) == "" || len(k) > 100 || len(v) > 200 {
			probs = append(probs, models.Problem{Path: "labels", Message: "label names are 1 to 100 characters, values at most 200"})
			break
		}
	}
	if len(caps) > 100 || len(labels) > 100 {
		probs = append(probs, models.Problem{Path: "capabilities", Message: "at most 100 capabilities and 100 labels"})
	}
	if len(probs) > 0 {
		return nil, "", models.Problems("invalid device", probs)
	}
	plain, hash, _, err := auth.NewToken()
	if err != nil {
		return nil, "", err
	}
	d := &models.Device{Name: name, TokenHash: hash, Capabilities: caps, Labels: labels, CreatedAt: s.now()}
	if err := h.Register(c.UserContext(), d); err != nil {
		return nil, "", err
	}
	s.audit(c, principalOf(c).user.Name, auditDeviceAdded, "device:"+name, map[string]any{"capabilities": d.Capabilities})
	return d, plain, nil
}

func (s *server) drainDevice(draining bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		h, err := s.devices()
		if err != nil {
			return err
		}
		name := c.Params("name")
		if err := h.SetDraining(c.UserContext(), name, draining); err != nil {
			return err
		}
		action := auditDeviceResumed
		if draining {
			action = auditDeviceDrained
		}
		s.audit(c, principalOf(c).user.Name, action, "device:"+name, nil)
		return c.SendStatus(http.StatusNoContent)
	}
}

func (s *server) revokeDevice(c *fiber.Ctx) error {
	h, err := s.devices()
	if err != nil {
		return err
	}
	name := c.Params("name")
	if err := h.Revoke(c.UserContext(), name); err != nil {
		return err
	}
	s.audit(c, principalOf(c).user.Name, auditDeviceRevoked, "device:"+name, nil)
	return c.SendStatus(http.StatusNoContent)
}

type commandList struct {
	Commands []models.DeviceCommand `json:"commands"`
}

func (s *server) deviceCommands(c *fiber.Ctx) error {
	h, err := s.devices()
	if err != nil {
		return err
	}
	limit := c.QueryInt("limit", 50)
	if limit < 1 || limit > 500 {
		return models.Errorf(models.BadRequest, "limit must be 1 to 500")
	}
	cmds, err := h.Commands(c.UserContext(), c.Params("name"), limit)
	if err != nil {
		return err
	}
	if cmds == nil {
		cmds = []models.DeviceCommand{}
	}
	return c.JSON(commandList{Commands: cmds})
}
