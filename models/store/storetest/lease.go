package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// Conformance cases of run ownership between instances (migration 00016).

var leaseT0 = time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)

func leaseRun(id, owner string, status models.RunStatus) models.RunRow {
	return models.RunRow{
		Run: models.Run{ID: id, Template: "t", Version: 1, Status: status, Trigger: models.TriggerAPI,
			CreatedAt: leaseT0, StartedAt: &leaseT0},
		Definition: json.RawMessage(`{"id":"t","steps":[]}`), Owner: owner,
	}
}

func mustInstance(t *testing.T, st *store.Store, id string, until time.Time) {
	t.Helper()
	err := st.RegisterInstance(context.Background(), models.Instance{ID: id, Host: "h", PID: 7, StartedAt: leaseT0, LeaseUntil: until})
	if err != nil {
		t.Fatal(err)
	}
}

func exerciseLeaseRenew(t *testing.T, st *store.Store) {
	ctx := context.Background()
	mustInstance(t, st, "i1", leaseT0.Add(10*time.Second))
	if err := st.RegisterInstance(ctx, models.Instance{ID: "i1", StartedAt: leaseT0, LeaseUntil: leaseT0}); err == nil {
		t.Error("registering an id twice succeeded")
	}
	ok, err := st.RenewLease(ctx, "i1", leaseT0.Add(5*time.Second), leaseT0.Add(15*time.Second))
	if err != nil || !ok {
		t.Fatalf("renew within the lease = %v, %v; want true", ok, err)
	}
	// Past the (renewed) lease: the renewal is refused.
	ok, err = st.RenewLease(ctx, "i1", leaseT0.Add(16*time.Second), leaseT0.Add(26*time.Second))
	if err != nil || ok {
		t.Fatalf("renew after expiry = %v, %v; want false", ok, err)
	}
	ins, err := st.Instances(ctx)
	if err != nil || len(ins) != 1 || ins[0].PID != 7 || ins[0].Host != "h" || !ins[0].LeaseUntil.Equal(leaseT0.Add(15*time.Second)) {
		t.Fatalf("Instances = %+v, %v", ins, err)
	}
	// Release: its unfinished runs lose their owner, finished ones keep it.
	err = st.ApplyRunWrites(ctx, &models.RunWrites{Runs: []models.RunRow{
		leaseRun("r1", "i1", models.RunRunning), leaseRun("r2", "i1", models.RunSucceeded)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.ReleaseInstance(ctx, "i1"); err != nil {
		t.Fatal(err)
	}
	owners, err := st.RunOwners(ctx, []string{"r1", "r2"})
	if err != nil || owners["r1"] != "" || owners["r2"] != "i1" {
		t.Fatalf("owners after release = %v, %v", owners, err)
	}
	if ok, _ := st.RenewLease(ctx, "i1", leaseT0, leaseT0.Add(time.Minute)); ok {
		t.Error("a released instance renewed its lease")
	}
}

func exerciseLeaseClaim(t *testing.T, st *store.Store) {
	ctx := context.Background()
	now := leaseT0.Add(time.Minute)
	mustInstance(t, st, "alive", now.Add(10*time.Second))
	mustInstance(t, st, "dead", now.Add(-time.Second))
	mustInstance(t, st, "me", now.Add(10*time.Second))
	err := st.ApplyRunWrites(ctx, &models.RunWrites{Runs: []models.RunRow{
		leaseRun("a1", "alive", models.RunRunning),
		leaseRun("d1", "dead", models.RunRunning),
		leaseRun("d2", "dead", models.RunWaiting),
		leaseRun("d3", "dead", models.RunFailed),  // finished: nobody needs it
		leaseRun("g1", "gone", models.RunRunning), // its instance row is gone
		leaseRun("n1", "", models.RunQueued),      // written before migration 00016
		leaseRun("m1", "me", models.RunRunning),
	}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.ClaimRuns(ctx, "me", now)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"d1", "d2", "g1", "n1"}; !slices.Equal(got, want) {
		t.Fatalf("claimed %v, want %v", got, want)
	}
	owners, _ := st.RunOwners(ctx, []string{"a1", "d1", "d3", "m1"})
	if owners["a1"] != "alive" || owners["d1"] != "me" || owners["d3"] != "dead" || owners["m1"] != "me" {
		t.Errorf("owners = %v", owners)
	}
	ins, _ := st.Instances(ctx)
	var ids []string
	for _, in := range ins {
		ids = append(ids, in.ID)
	}
	if !slices.Equal(ids, []string{"alive", "me"}) {
		t.Errorf("instances after the claim = %v, want the dead one deleted", ids)
	}
	// What me owns now, unfinished: what it claimed and its own run.
	if got, err := st.OwnedRunIDs(ctx, "me"); err != nil || !slices.Equal(got, []string{"d1", "d2", "g1", "m1", "n1"}) {
		t.Errorf("OwnedRunIDs(me) = %v, %v", got, err)
	}
	if got, err := st.OwnedRunIDs(ctx, "dead"); err != nil || len(got) != 0 {
		t.Errorf("OwnedRunIDs(dead) = %v, %v; want none (d3 is finished)", got, err)
	}
	// Nothing left to claim; a second survivor finds nothing either.
	if got, err := st.ClaimRuns(ctx, "alive", now); err != nil || len(got) != 0 {
		t.Errorf("second claim = %v, %v; want none", got, err)
	}
}

func exerciseLeaseFence(t *testing.T, st *store.Store) {
	ctx := context.Background()
	mustInstance(t, st, "old", leaseT0.Add(time.Second))
	mustInstance(t, st, "new", leaseT0.Add(time.Hour))
	if err := st.AdmitRun(ctx, ptr(leaseRun("r1", "old", models.RunRunning)), 0); err != nil {
		t.Fatal(err)
	}
	if err := st.ApplyRunWrites(ctx, &models.RunWrites{Owner: "old", Runs: []models.RunRow{leaseRun("r2", "old", models.RunRunning)}}); err != nil {
		t.Fatal(err)
	}
	step := func(run string) models.StepRunRow {
		return models.StepRunRow{StepRun: models.StepRun{RunID: run, StepID: "a", Attempt: 1, Status: models.StepSucceeded}, Item: -1}
	}
	// The owner commits.
	if err := st.ApplyRunWrites(ctx, &models.RunWrites{Owner: "old", StepRuns: []models.StepRunRow{step("r1")}}); err != nil {
		t.Fatalf("owner's commit: %v", err)
	}
	if got, err := st.ClaimRuns(ctx, "new", leaseT0.Add(2*time.Second)); err != nil || len(got) != 2 {
		t.Fatalf("claim = %v, %v", got, err)
	}
	// The old owner wakes up: its commit is fenced as a whole, naming the
	// lost runs, even a batch that writes only events of one of them.
	r1 := leaseRun("r1", "old", models.RunSucceeded)
	r1.Stored = true
	r3 := leaseRun("r3", "old", models.RunRunning) // a new run of its own
	err := st.ApplyRunWrites(ctx, &models.RunWrites{Owner: "old", Runs: []models.RunRow{r1, r3},
		Events: []models.Event{{RunID: "r2", Seq: 9, Type: models.EventRunStarted, At: leaseT0}}})
	var f *models.FencedError
	if !errors.As(err, &f) || !slices.Equal(f.RunIDs, []string{"r1", "r2"}) || f.Owner != "old" {
		t.Fatalf("fenced commit error = %v, want a FencedError for r1, r2", err)
	}
	snap, err := st.LoadRun(ctx, "r1")
	if err != nil || snap.Run.Status != models.RunRunning || snap.Run.Owner != "new" {
		t.Fatalf("r1 after the fenced commit = %+v, %v", snap.Run, err)
	}
	if _, err := st.LoadRun(ctx, "r3"); !models.IsCode(err, models.NotFound) {
		t.Errorf("r3 of the fenced batch was written: %v", err)
	}
	// Without the lost runs the batch commits; the new owner commits too.
	if err := st.ApplyRunWrites(ctx, &models.RunWrites{Owner: "old", Runs: []models.RunRow{r3}}); err != nil {
		t.Errorf("batch without the lost runs: %v", err)
	}
	r1.Owner = "new"
	if err := st.ApplyRunWrites(ctx, &models.RunWrites{Owner: "new", Runs: []models.RunRow{r1}}); err != nil {
		t.Errorf("new owner's commit: %v", err)
	}
	// An unfenced batch (single instance) writes whatever the owner.
	if err := st.ApplyRunWrites(ctx, &models.RunWrites{StepRuns: []models.StepRunRow{step("r2")}}); err != nil {
		t.Errorf("unfenced batch: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
