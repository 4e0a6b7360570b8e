package storetest

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// Conformance cases of devices and their command queue.

func exerciseDevices(t *testing.T, st *store.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	wantErr(t, st.CreateDevice(ctx, &models.Device{Name: "Bad Name", TokenHash: "h"}), models.Invalid, "bad name", "name")
	wantErr(t, st.CreateDevice(ctx, &models.Device{Name: "ok"}), models.Invalid, "no hash")

	pi := &models.Device{Name: "pi-1", TokenHash: "hash-pi", Capabilities: []string{"linux", "usb"},
		Labels: map[string]string{"site": "berlin"}, CreatedAt: t0}
	must(t, st.CreateDevice(ctx, pi), "create device")
	if pi.ID == 0 {
		t.Fatal("CreateDevice did not set ID")
	}
	bare := &models.Device{Name: "bare", TokenHash: "hash-bare"}
	must(t, st.CreateDevice(ctx, bare), "create device without capabilities")
	if bare.CreatedAt.IsZero() || bare.Capabilities == nil || bare.Labels == nil {
		t.Errorf("CreateDevice left zero fields: %+v", bare)
	}
	wantErr(t, st.CreateDevice(ctx, &models.Device{Name: "pi-1", TokenHash: "other"}), models.Conflict, "duplicate name")
	wantErr(t, st.CreateDevice(ctx, &models.Device{Name: "pi-2", TokenHash: "hash-pi"}), models.Conflict, "duplicate token")

	got, err := st.DeviceByTokenHash(ctx, "hash-pi")
	must(t, err, "device by token")
	if !reflect.DeepEqual(got, pi) {
		t.Errorf("DeviceByTokenHash = %+v, want %+v", got, pi)
	}
	_, err = st.DeviceByTokenHash(ctx, "nope")
	wantErr(t, err, models.NotFound, "unknown token")

	must(t, st.SetDeviceDraining(ctx, "pi-1", true), "drain")
	seen := t0.Add(time.Minute)
	must(t, st.TouchDevice(ctx, "pi-1", seen), "touch")
	wantErr(t, st.TouchDevice(ctx, "ghost", seen), models.NotFound, "touch unknown")
	got, err = st.DeviceByName(ctx, "pi-1")
	must(t, err, "device by name")
	if !got.Draining || got.LastSeenAt == nil || !got.LastSeenAt.Equal(seen) {
		t.Errorf("after drain and touch: %+v", got)
	}
	must(t, st.SetDeviceDraining(ctx, "pi-1", false), "resume")
	wantErr(t, st.SetDeviceDraining(ctx, "ghost", true), models.NotFound, "drain unknown")

	list, err := st.ListDevices(ctx)
	must(t, err, "list")
	if len(list) != 2 || list[0].Name != "bare" || list[1].Name != "pi-1" || list[1].Draining {
		t.Errorf("ListDevices = %+v", list)
	}

	must(t, st.RevokeDevice(ctx, "pi-1", t0.Add(time.Hour)), "revoke")
	wantErr(t, st.RevokeDevice(ctx, "pi-1", t0.Add(time.Hour)), models.Conflict, "revoke twice", "revoked")
	wantErr(t, st.RevokeDevice(ctx, "ghost", t0), models.NotFound, "revoke unknown")
	wantErr(t, st.SetDeviceDraining(ctx, "pi-1", true), models.Conflict, "drain revoked")
	_, err = st.DeviceByTokenHash(ctx, "hash-pi")
	wantErr(t, err, models.NotFound, "revoked token")
	got, err = st.DeviceByName(ctx, "pi-1")
	must(t, err, "revoked device by name")
	if got.RevokedAt == nil || !got.RevokedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("revoked device: %+v", got)
	}
}

func exerciseDeviceCommands(t *testing.T, st *store.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	wantErr(t, st.CreateCommand(ctx, &models.DeviceCommand{ID: "c"}), models.Invalid, "incomplete command")
	var cmds []*models.DeviceCommand
	for i := range 3 {
		c := &models.DeviceCommand{ID: fmt.Sprintf("c%d", i), RunID: "run-1", StepID: "flash", Attempt: 1, Delivery: i + 1,
			IdempotencyKey: "run-1/flash", Command: "flash-tool", Args: []string{"--image", "x"}, Status: models.CommandQueued,
			CreatedAt: t0.Add(time.Duration(i) * time.Second)}
		must(t, st.CreateCommand(ctx, c), "create command")
		cmds = append(cmds, c)
	}
	wantErr(t, st.CreateCommand(ctx, cmds[0]), models.Conflict, "duplicate id")
	other := &models.DeviceCommand{ID: "o1", RunID: "run-2", StepID: "s", Attempt: 1, Delivery: 1, IdempotencyKey: "k", Command: "true", Status: models.CommandQueued, CreatedAt: t0}
	must(t, st.CreateCommand(ctx, other), "create other")

	sent := t0.Add(time.Minute)
	c := cmds[0]
	c.Device, c.Status, c.SentAt = "pi-1", models.CommandSent, &sent
	must(t, st.UpdateCommand(ctx, c), "mark sent")
	c.Status = models.CommandLost
	must(t, st.UpdateCommand(ctx, c), "mark lost")
	c2 := cmds[1]
	exit, done := 0, sent.Add(time.Second)
	c2.Device, c2.Status, c2.SentAt, c2.ExitCode, c2.DurationMs, c2.FinishedAt = "pi-1", models.CommandSucceeded, &sent, &exit, 1234, &done
	must(t, st.UpdateCommand(ctx, c2), "mark succeeded")
	wantErr(t, st.UpdateCommand(ctx, &models.DeviceCommand{ID: "ghost", Status: models.CommandSent}), models.NotFound, "update unknown")

	got, err := st.CommandByID(ctx, "c1")
	must(t, err, "command by id")
	if !reflect.DeepEqual(got, c2) {
		t.Errorf("CommandByID = %+v, want %+v", got, c2)
	}
	// A late result on a lost delivery: recorded, still lost.
	late := 3
	c.ExitCode, c.Late, c.FinishedAt = &late, true, &done
	must(t, st.UpdateCommand(ctx, c), "late result")
	got, err = st.CommandByID(ctx, "c0")
	must(t, err, "late command")
	if got.Status != models.CommandLost || !got.Late || got.ExitCode == nil || *got.ExitCode != 3 {
		t.Errorf("late result = %+v", got)
	}

	byDevice, err := st.ListCommands(ctx, "pi-1", "", 10)
	must(t, err, "list by device")
	if len(byDevice) != 2 || byDevice[0].ID != "c1" || byDevice[1].ID != "c0" {
		t.Errorf("ListCommands(pi-1) = %+v", byDevice)
	}
	byRun, err := st.ListCommands(ctx, "", "run-1", 2)
	must(t, err, "list by run")
	if len(byRun) != 2 || byRun[0].ID != "c2" {
		t.Errorf("ListCommands(run-1, 2) = %+v", byRun)
	}
	open, err := st.UnfinishedCommands(ctx)
	must(t, err, "unfinished")
	if len(open) != 2 || open[0].ID != "o1" || open[1].ID != "c2" {
		t.Errorf("UnfinishedCommands = %+v", open)
	}
}
