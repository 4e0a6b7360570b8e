package main

import (
	"context"
	"io"
	"net"
	"regexp"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/baton-run/baton/models/store/storetest"
)

// A server started on a database holding an old row of each kind removes
// them at its first housekeeping round: an expired session, a login
// failure of two days ago, a schedule-fire claim and a webhook delivery id
// of forty days ago.
func TestServeHousekeeps(t *testing.T) {
	t.Parallel()
	for name, newURL := range databaseURLs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			url := newURL(t)
			ctx := context.Background()
			st, err := store.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			ann := &models.User{Name: "ann", Roles: []models.Role{models.RoleViewer}}
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			must(st.CreateUser(ctx, ann))
			must(st.CreateSession(ctx, &models.Session{UserID: ann.ID, Hash: "expired", CSRFToken: "c", ExpiresAt: time.Now().Add(-time.Minute)}))
			must(st.RecordLoginFailure(ctx, "ann", "10.0.0.1", time.Now().Add(-48*time.Hour)))
			storetest.MustCreateTemplate(t, st, "orders", "dana")
			sc, err := st.CreateSchedule(ctx, "orders", models.Schedule{Cron: "@hourly", Enabled: true}, "dana")
			must(err)
			_, err = st.ClaimScheduleFire(ctx, sc.ID, time.Now().Truncate(time.Hour))
			must(err)
			wh, err := st.CreateWebhook(ctx, "orders", models.WebhookHMAC, "dana")
			must(err)
			_, err = st.ClaimDelivery(ctx, wh.ID, "d-1")
			must(err)
			old := time.Now().Add(-40 * 24 * time.Hour).UTC()
			_, err = st.SQLDB().ExecContext(ctx, "UPDATE schedule_fires SET claimed_at = $1", old)
			must(err)
			_, err = st.SQLDB().ExecContext(ctx, "UPDATE webhook_deliveries SET received_at = $1", old)
			must(err)
			must(st.Close())

			logs, logW := io.Pipe()
			watcher := watch(logs)
			e := &env{getenv: func(k string) string {
				if k == "BATON_ADMIN_PASSWORD" {
					return "a-long-enough-password"
				}
				return ""
			}, stdout: io.Discard, stderr: logW}
			log, cfg, err := parseServe(e, []string{"--addr", "127.0.0.1:0", "--db", url, "--housekeeping-interval", "1s", "--log-format", "json"})
			must(err)
			listening := make(chan net.Addr, 1)
			cfg.listening = func(a net.Addr) { listening <- a }
			sctx, stop := context.WithCancel(ctx)
			served := make(chan error, 1)
			go func() { served <- serve(sctx, log, cfg) }()
			t.Cleanup(func() {
				stop()
				if err := <-served; err != nil {
					t.Errorf("serve: %v", err)
				}
				_ = logW.Close()
			})
			<-listening
			watcher.waitFor(t, regexp.MustCompile(`"msg":"housekeeping done".*"sessions":(1)`), 20*time.Second)
			line := watcher.waitFor(t, regexp.MustCompile(`("msg":"housekeeping done".*)`), time.Second)
			for _, want := range []string{`"login_failures":1`, `"schedule_fires":1`, `"webhook_deliveries":1`} {
				if !regexp.MustCompile(regexp.QuoteMeta(want)).MatchString(line) {
					t.Errorf("the first round's log line lacks %s: %s", want, line)
				}
			}
		})
	}
}
