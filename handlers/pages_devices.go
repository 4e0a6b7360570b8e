package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/views"
)

func (s *server) devicePageRoutes() []route {
	return []route{
		{fiber.MethodGet, "/devices", models.RoleViewer, s.devicesPage},
		{fiber.MethodPost, "/devices", models.RoleAdmin, s.devicesPageRegister},
		{fiber.MethodGet, "/devices/:name", models.RoleViewer, s.devicePage},
		{fiber.MethodPost, "/devices/:name/drain", models.RoleAdmin, s.devicesPageChange("drain")},
		{fiber.MethodPost, "/devices/:name/resume", models.RoleAdmin, s.devicesPageChange("resume")},
		{fiber.MethodPost, "/devices/:name/revoke", models.RoleAdmin, s.devicesPageChange("revoke")},
		{fiber.MethodGet, "/runs/:id/steps/:step/output", models.RoleViewer, s.stepLiveOutput},
	}
}

func (s *server) devicesPage(c *fiber.Ctx) error {
	v, err := s.devicesView(c)
	if err != nil {
		return err
	}
	return s.renderDevices(c, http.StatusOK, v)
}

// renderDevices answers htmx posts with the section alone, everything
// else with the page.
func (s *server) renderDevices(c *fiber.Ctx, status int, v views.DevicesView) error {
	if isHTMX(c) && c.Method() != fiber.MethodGet {
		return s.render(c, status, views.DevicesSection(v))
	}
	return s.page(c, status, "Devices", "devices", views.Devices(v))
}

func (s *server) devicesView(c *fiber.Ctx) (views.DevicesView, error) {
	p := principalOf(c)
	v := views.DevicesView{IsAdmin: p.user.Can(models.RoleAdmin), HasHub: s.deps.Devices != nil}
	if p.session != nil {
		v.CSRF = p.session.CSRFToken
	}
	if s.deps.Devices == nil {
		return v, nil
	}
	list, err := s.deps.Devices.Devices(c.UserContext())
	if err != nil {
		return v, err
	}
	counts := map[string]int{}
	for _, d := range list {
		counts[d.Status]++
		v.Rows = append(v.Rows, deviceRowView(d))
	}
	var parts []string
	for _, st := range []string{models.DeviceOnline, models.DeviceDraining, models.DeviceOffline, models.DeviceRevoked} {
		if counts[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[st], st))
		}
	}
	v.Summary = strings.Join(parts, ", ")
	if v.Summary == "" {
		v.Summary = "No devices registered."
	}
	return v, nil
}

func deviceRowView(d models.DeviceState) views.DeviceRow {
	r := views.DeviceRow{
		Name: d.Name, Status: d.Status, InFlight: d.InFlight, MaxConc: d.MaxConcurrency,
		Capabilities: strings.Join(d.Capabilities, ", "), SuccessRate: "—", Latency: "—", LastSeen: "never",
	}
	var labels []string
	for k, val := range d.Labels {
		labels = append(labels, k+"="+val)
	}
	slices.Sort(labels)
	r.Labels = strings.Join(labels, ", ")
	if d.LastSeen != nil {
		r.LastSeen = views.FormatTime(*d.LastSeen)
	}
	if d.SuccessRate != nil {
		r.SuccessRate = strconv.FormatFloat(*d.SuccessRate*100, 'f', 0, 64) + "%"
	}
	if d.LatencyMs != nil {
		r.Latency = strconv.FormatFloat(*d.LatencyMs, 'f', 0, 64) + " ms"
	}
	return r
}

// devicesPageRegister is POST /devices: a refused registration comes back
// with each problem under its field and what was typed kept.
func (s *server) devicesPageRegister(c *fiber.Ctx) error {
	form := views.DeviceForm{Name: strings.TrimSpace(c.FormValue("name")), Capabilities: c.FormValue("capabilities"), Labels: c.FormValue("labels")}
	var caps []string
	for _, cp := range strings.Split(form.Capabilities, ",") {
		if cp = strings.TrimSpace(cp); cp != "" {
			caps = append(caps, cp)
		}
	}
	labels := map[string]string{}
	var err error
	for _, kv := range strings.Split(form.Labels, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, val, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			err = models.Problems("invalid device", []models.Problem{{Path: "labels", Message: fmt.Sprintf("%q: write name=value", kv)}})
			break
		}
		labels[strings.TrimSpace(k)] = strings.TrimSpace(val)
	}
	var d *models.Device
	var plain string
	if err == nil {
		d, plain, err = s.registerDevice(c, form.Name, caps, labels)
	}
	v, verr := s.devicesView(c)
	if verr != nil {
		return verr
	}
	if err != nil {
		fields, status, ok := fieldProblems(err, "name")
		if !ok {
			return err
		}
		v.Form, v.Errors = form, fields
		return s.renderDevices(c, status, v)
	}
	v.New = &views.NewDevice{Name: d.Name, Token: plain}
	return s.renderDevices(c, http.StatusCreated, v)
}

func (s *server) devicesPageChange(verb string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		h, err := s.devices()
		if err != nil {
			return err
		}
		name := c.Params("name")
		actor := principalOf(c).user.Name
		switch verb {
		case "drain", "resume":
			err = h.SetDraining(c.UserContext(), name, verb == "drain")
		default:
			err = h.Revoke(c.UserContext(), name)
		}
		if err != nil {
			return err
		}
		action := map[string]string{"drain": auditDeviceDrained, "resume": auditDeviceResumed, "revoke": auditDeviceRevoked}[verb]
		s.audit(c, actor, action, "device:"+name, nil)
		v, err := s.devicesView(c)
		if err != nil {
			return err
		}
		v.Notice = fmt.Sprintf("Device %s: %s.", name, map[string]string{"drain": "draining (no new commands)", "resume": "resumed", "revoke": "revoked"}[verb])
		return s.renderDevices(c, http.StatusOK, v)
	}
}

func (s *server) devicePage(c *fiber.Ctx) error {
	h, err := s.devices()
	if err != nil {
		return err
	}
	name := c.Params("name")
	list, err := h.Devices(c.UserContext())
	if err != nil {
		return err
	}
	i := slices.IndexFunc(list, func(d models.DeviceState) bool { return d.Name == name })
	if i < 0 {
		return models.Errorf(models.NotFound, "device %q not found", name)
	}
	cmds, err := h.Commands(c.UserContext(), name, 100)
	if err != nil {
		return err
	}
	v := views.DeviceCommandsView{Device: deviceRowView(list[i])}
	for _, cmd := range cmds {
		v.Commands = append(v.Commands, commandRowView(cmd))
	}
	return s.page(c, http.StatusOK, "Device "+name, "devices", views.DeviceCommands(v))
}

func commandRowView(cmd models.DeviceCommand) views.DeviceCommandRow {
	r := views.DeviceCommandRow{
		RunID: cmd.RunID, StepID: cmd.StepID, Attempt: cmd.Attempt, Delivery: cmd.Delivery,
		Command: strings.Join(append([]string{cmd.Command}, cmd.Args...), " "), Status: cmd.Status,
		Late: cmd.Late, Error: cmd.Error, Created: views.FormatTime(cmd.CreatedAt), ExitCode: "—", Duration: "—",
	}
	if cmd.ExitCode != nil {
		r.ExitCode = strconv.Itoa(*cmd.ExitCode)
	}
	if cmd.FinishedAt != nil {
		r.Duration = strconv.FormatInt(cmd.DurationMs, 10) + " ms"
	}
	return r
}

// routingView reads the routing decision a device step keeps in its
// output; nil when the output has none.
func routingView(output any) *views.RoutingView {
	raw, err := json.Marshal(output)
	if err != nil {
		return nil
	}
	var out struct {
		Routing *models.Routing `json:"routing"`
	}
	if json.Unmarshal(raw, &out) != nil || out.Routing == nil || out.Routing.Strategy == "" {
		return nil
	}
	r := out.Routing
	v := &views.RoutingView{Strategy: r.Strategy, Chosen: r.Chosen, Why: r.Why, Deliveries: r.Deliveries}
	for _, c := range r.Candidates {
		v.Candidates = append(v.Candidates, views.RoutingCandidateView{
			Device: c.Device, Eligible: c.Eligible, Reason: c.Reason, Load: strconv.FormatFloat(c.Load*100, 'f', 0, 64) + "%"})
	}
	return v
}

// stepLiveOutput is the live output of a device step's running command,
// a fragment the run page polls while the step runs.
func (s *server) stepLiveOutput(c *fiber.Ctx) error {
	v := views.LiveOutputView{RunID: c.Params("id"), StepID: c.Params("step")}
	if s.deps.Devices != nil {
		if out, ok := s.deps.Devices.LiveOutput(v.RunID, v.StepID); ok {
			v.Running, v.Device, v.Stdout, v.Stderr = true, out.Device, out.Stdout, out.Stderr
		}
	}
	return s.render(c, http.StatusOK, views.LiveOutput(v))
}
