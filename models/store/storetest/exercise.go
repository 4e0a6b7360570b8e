package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// A case is one test of the suite; it gets a fresh, empty, migrated store.
type suiteCase struct {
	name string
	fn   func(t *testing.T, st *store.Store)
}

// An area is the cases of one concern (one file of this package), run as
// one named subtest so that `-run 'TestStore/sqlite/Runs'` picks it.
type area struct {
	name  string
	cases []suiteCase
}

// suite lists every area and case: a new store method gets its case here,
// and every dialect runs it through Exercise.
var suite = []area{
	{"Store", []suiteCase{ // basics.go
		{"Basics", exerciseBasics},
		{"TimePrecision", exerciseTimePrecision},
		{"JSONRoundTrip", exerciseJSON},
		{"CancelledContext", exerciseCancelledContext},
		{"Closed", exerciseClosed},
		{"Backup", exerciseBackup}, // backup.go
	}},
	{"Accounts", []suiteCase{ // accounts.go, tokens.go, sessions.go
		{"Users", exerciseUsers},
		{"LoginFailures", exerciseLoginFailures},
		{"Tokens", exerciseTokens},
		{"Sessions", exerciseSessions},
	}},
	{"Audit", []suiteCase{ // audit.go
		{"Paging", exerciseAudit},
		{"ConcurrentWrites", exerciseConcurrentWrites},
		{"ConcurrentConflicts", exerciseConcurrentConflicts},
	}},
	{"Runs", []suiteCase{ // runs.go
		{"Lifecycle", exerciseRuns},
		{"ScheduleRoundTrip", exerciseRunScheduleRoundTrip},
		{"BatchAllOrNothing", exerciseApplyRunWritesAllOrNothing},
		{"BatchEncoded", exerciseApplyRunWritesEncoded},
		{"BatchRepeatedKeys", exerciseApplyRunWritesRepeatedKeys},
		{"ListFilters", exerciseListRunFilters},
		{"ListPages", exerciseListRunPages},
		{"EventsReplay", exerciseRunEventsReplay},
		{"Steps", exerciseRunSteps},
		{"RecentProductionRuns", exerciseRecentProductionRuns}, // evidence.go
	}},
	{"Lease", []suiteCase{ // lease.go
		{"RenewAndRelease", exerciseLeaseRenew},
		{"Claim", exerciseLeaseClaim},
		{"Fence", exerciseLeaseFence},
	}},
	{"Templates", []suiteCase{ // templates.go
		{"Create", exerciseCreateTemplate},
		{"List", exerciseListTemplates},
		{"SearchLetterCase", exerciseSearchLetterCase},
		{"Settings", exerciseTemplateSettings},
		{"Events", exerciseTemplateEvents},
	}},
	{"Versions", []suiteCase{ // versions.go, reviews.go
		{"SaveDraft", exerciseSaveDraft},
		{"Restore", exerciseRestoreVersion},
		{"ImmutableAfterSubmit", exerciseImmutableAfterSubmit},
		{"ConcurrentSaves", exerciseConcurrentSaves},
		{"Discard", exerciseDiscardDraft},
		{"NumbersNeverReused", exerciseVersionNumbersNeverReused},
		{"NumbersMigration", exerciseVersionNumbersMigration},
		{"ReviewFlow", exerciseReviewFlow},
		{"QuorumAndWithdraw", exerciseQuorumAndWithdraw},
		{"ConcurrentApprovals", exerciseConcurrentApprovals},
	}},
	{"Schedules", []suiteCase{ // schedules.go
		{"CRUD", exerciseSchedules},
		{"ClaimFire", exerciseClaimScheduleFire},
		{"CatchUpPolicy", exerciseScheduleCatchUpPolicy},
		{"SkippedFires", exerciseSkippedScheduleFires},
	}},
	{"Webhooks", []suiteCase{ // webhooks.go
		{"CRUD", exerciseWebhooks},
		{"ClaimDelivery", exerciseClaimDelivery},
	}},
	{"Housekeeping", []suiteCase{ // housekeeping.go
		{"Housekeep", exerciseHousekeep},
		{"Claim", exerciseClaimHousekeeping},
	}},
	{"Alerts", []suiteCase{ // alerts.go
		{"Channels", exerciseAlertChannels},
		{"RulesAndPolicies", exerciseAlertRulesAndPolicies},
		{"OneOpenPerSubject", exerciseAlertDedupe},
		{"Escalation", exerciseAlertEscalation},
		{"Notifications", exerciseNotifications},
		{"VersionsWaitingReview", exerciseVersionsWaitingReview},
	}},
	{"Insight", []suiteCase{ // insight.go
		{"Figures", exerciseInsightFigures},
		{"PruneCountsFirst", exerciseInsightPruneCountsFirst},
		{"DecisionRecords", exerciseDecisionRecords},
		{"Reports", exerciseReports},
		{"RunCounts", exerciseRunCounts},
		{"Approvals", exerciseInsightApprovals},
		{"RetriedRun", exerciseInsightRetriedRun},
	}},
	{"Devices", []suiteCase{ // devices.go
		{"Registry", exerciseDevices},
		{"Commands", exerciseDeviceCommands},
	}},
	{"Locks", []suiteCase{ // locks.go
		{"DraftLock", exerciseDraftLocks},
		{"Race", exerciseDraftLockRace},
		{"DiscardDraft", exerciseDiscardDraftLock},
	}},
}

// Exercise is the store's conformance suite: every dialect must pass it.
// open returns a fresh, empty, migrated store for each case. The cases run
// as subtests <area>/<case>, in parallel.
func Exercise(t *testing.T, open func(t testing.TB) *store.Store) {
	t.Helper()
	for _, a := range suite {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range a.cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.fn(t, open(t))
				})
			}
		})
	}
}

func must(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantErr fails t unless err carries code and its message holds every
// fragment.
func wantErr(t testing.TB, err error, code models.Code, what string, fragments ...string) {
	t.Helper()
	if got := models.ErrorCode(err); err == nil || got != code {
		t.Fatalf("%s: got error %v (code %q), want code %q", what, err, got, code)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("%s: error %q does not mention %q", what, err, f)
		}
	}
}

func mustUser(t testing.TB, st *store.Store, name string, roles ...models.Role) *models.User {
	t.Helper()
	u := &models.User{Name: name, PasswordHash: "hash-of-" + name, Roles: roles}
	must(t, st.CreateUser(context.Background(), u), "create user "+name)
	return u
}

// Def is a small valid definition with key and name; its steps (named by
// steps, "hello" when none) are log steps.
func Def(key, name string, steps ...string) models.Definition {
	if len(steps) == 0 {
		steps = []string{"hello"}
	}
	d := models.Definition{ID: key, Name: name}
	for _, s := range steps {
		d.Steps = append(d.Steps, models.Step{ID: s, Type: models.StepCommand, Action: models.Action{Kind: models.KindLog, Message: "hi from " + s}})
	}
	return d
}

// MustCreateTemplate creates template key (named "Template <key>", with
// Def's steps) by author, and returns its draft version 1.
func MustCreateTemplate(t testing.TB, st *store.Store, key, author string, steps ...string) *models.Version {
	t.Helper()
	_, v, err := st.CreateTemplate(context.Background(), Def(key, "Template "+key, steps...), author)
	must(t, err, "create template "+key)
	return v
}

// MustApprove submits version n (by submitter) and approves it (by
// approver).
func MustApprove(t testing.TB, st *store.Store, key string, n int, submitter, approver string) *models.VersionDetail {
	t.Helper()
	ctx := context.Background()
	_, err := st.SubmitVersion(ctx, key, n, submitter)
	must(t, err, fmt.Sprintf("submit %s v%d", key, n))
	d, err := st.ApproveVersion(ctx, key, n, approver, "")
	must(t, err, fmt.Sprintf("approve %s v%d", key, n))
	return d
}

func setTags(t testing.TB, st *store.Store, key string, tags ...string) {
	t.Helper()
	_, err := st.UpdateTemplateSettings(context.Background(), key, models.TemplateSettings{Tags: &tags}, "admin")
	must(t, err, "tag "+key)
}
