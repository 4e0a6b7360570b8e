package handlers_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/baton-run/baton/engine/agent"
	"github.com/baton-run/baton/handlers"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// deviceBundle is setup with a device hub.
func deviceBundle(t testing.TB, open func(testing.TB) *store.Store) *bundle {
	b, _ := deviceBundleHub(t, open)
	return b
}

func deviceBundleHub(t testing.TB, open func(testing.TB) *store.Store) (*bundle, *agent.Hub) {
	t.Helper()
	st := open(t)
	b := &bundle{store: st, clock: clockwork.NewFakeClockAt(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)), logs: &syncBuffer{}, reg: prometheus.NewRegistry()}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	hub := agent.New(st, agent.Config{})
	if err := hub.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hub.Close)
	b.app = handlers.New(handlers.Deps{
		Log:   slog.New(slog.NewJSONHandler(b.logs, nil)),
		Store: st, Registry: b.reg, Now: b.clock.Now, Devices: hub, Streams: ctx,
	})
	b.admin = b.user(t, "alice", models.RoleAdmin)
	b.viewer = b.user(t, "victor", models.RoleViewer)
	b.adminToken = b.token(t, b.admin)
	b.viewerToken = b.token(t, b.viewer)
	return b, hub
}

func TestDevicesAPI(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		b := deviceBundle(t, open)
		created := b.do(t, request{method: "POST", path: "/api/v1/devices", bearer: b.adminToken,
			body: `{"name":"pi-1","capabilities":["linux","usb"],"labels":{"site":"berlin"}}`})
		if created.status != 201 || !strings.Contains(created.body, `"token":"bt_`) {
			t.Fatalf("create: %d %s", created.status, created.body)
		}
		for _, sc := range []scenario{
			{name: "viewer may not register", req: request{method: "POST", path: "/api/v1/devices", bearer: b.viewerToken, body: `{"name":"x"}`}, status: 403},
			{name: "bad name", req: request{method: "POST", path: "/api/v1/devices", bearer: b.adminToken, body: `{"name":"Bad Name"}`}, status: 422, contains: []string{`"path":"name"`}},
			{name: "duplicate", req: request{method: "POST", path: "/api/v1/devices", bearer: b.adminToken, body: `{"name":"pi-1"}`}, status: 409},
			{name: "list hides the token hash", req: request{method: "GET", path: "/api/v1/devices", bearer: b.viewerToken}, status: 200,
				contains: []string{`"name":"pi-1"`, `"status":"offline"`, `"capabilities":["linux","usb"]`}, notContains: []string{"hash", "bt_"}},
			{name: "viewer may not drain", req: request{method: "POST", path: "/api/v1/devices/pi-1/drain", bearer: b.viewerToken}, status: 403},
			{name: "drain", req: request{method: "POST", path: "/api/v1/devices/pi-1/drain", bearer: b.adminToken}, status: 204},
			{name: "draining shows", req: request{method: "GET", path: "/api/v1/devices", bearer: b.viewerToken}, status: 200, contains: []string{`"status":"draining"`}},
			{name: "resume", req: request{method: "POST", path: "/api/v1/devices/pi-1/resume", bearer: b.adminToken}, status: 204},
			{name: "drain unknown", req: request{method: "POST", path: "/api/v1/devices/ghost/drain", bearer: b.adminToken}, status: 404},
			{name: "commands", req: request{method: "GET", path: "/api/v1/devices/pi-1/commands", bearer: b.viewerToken}, status: 200, contains: []string{`"commands":[]`}},
			{name: "commands of unknown", req: request{method: "GET", path: "/api/v1/devices/ghost/commands", bearer: b.viewerToken}, status: 404},
			{name: "commands bad limit", req: request{method: "GET", path: "/api/v1/devices/pi-1/commands?limit=0", bearer: b.viewerToken}, status: 400},
			{name: "connect needs a device token", req: request{method: "GET", path: "/api/v1/agents/connect"}, status: 401},
			{name: "a user token is no device token", req: request{method: "GET", path: "/api/v1/agents/connect", bearer: b.adminToken}, status: 401, contains: []string{"device token"}},
			{name: "viewer may not revoke", req: request{method: "DELETE", path: "/api/v1/devices/pi-1", bearer: b.viewerToken}, status: 403},
			{name: "revoke", req: request{method: "DELETE", path: "/api/v1/devices/pi-1", bearer: b.adminToken}, status: 204},
			{name: "revoke again", req: request{method: "DELETE", path: "/api/v1/devices/pi-1", bearer: b.adminToken}, status: 409},
			{name: "revoked shows", req: request{method: "GET", path: "/api/v1/devices", bearer: b.viewerToken}, status: 200, contains: []string{`"status":"revoked"`}},
		} {
			b.run(t, sc)
		}
	})
}

// TestAgentConnectUpgrades opens a real WebSocket with a device token: the
// hub welcomes it and the device shows online; a revoked token is refused
// with 401 before any upgrade.
func TestAgentConnectUpgrades(t *testing.T) {
	t.Parallel()
	b := deviceBundle(t, openSQLite)
	created := b.do(t, request{method: "POST", path: "/api/v1/devices", bearer: b.adminToken, body: `{"name":"pi-1"}`})
	tok := created.body[strings.Index(created.body, `"token":"`)+9:]
	tok = tok[:strings.IndexByte(tok, '"')]
	addr := b.listen(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp0, err := websocket.Dial(ctx, "ws://"+strings.TrimPrefix(addr, "http://")+"/api/v1/agents/connect",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}})
	if resp0 != nil && resp0.Body != nil {
		resp0.Body.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"hello","capabilities":["gpu"],"maxConcurrency":3}`)); err != nil {
		t.Fatal(err)
	}
	_, msg, err := c.Read(ctx)
	if err != nil || !strings.Contains(string(msg), `"type":"welcome"`) || !strings.Contains(string(msg), `"device":"pi-1"`) {
		t.Fatalf("welcome: %s %v", msg, err)
	}
	list := b.do(t, request{method: "GET", path: "/api/v1/devices", bearer: b.viewerToken})
	if !strings.Contains(list.body, `"status":"online"`) || !strings.Contains(list.body, `"maxConcurrency":3`) || !strings.Contains(list.body, `"gpu"`) {
		t.Fatalf("devices: %s", list.body)
	}
	b.do(t, request{method: "DELETE", path: "/api/v1/devices/pi-1", bearer: b.adminToken})
	// The open connection is closed…
	if _, _, err := c.Read(ctx); err == nil {
		t.Fatal("the connection of a revoked device stayed open")
	}
	// …and the token refused.
	_, resp, err := websocket.Dial(ctx, "ws://"+strings.TrimPrefix(addr, "http://")+"/api/v1/agents/connect",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("revoked token: %v %v", resp, err)
	}
}

func TestDevicesPage(t *testing.T) {
	t.Parallel()
	b := deviceBundle(t, openSQLite)
	admin := b.login(t, "alice", testPassword)
	viewer := b.login(t, "victor", testPassword)
	b.run(t, scenario{name: "empty", req: request{method: "GET", path: "/devices", browser: viewer}, status: 200,
		contains: []string{`data-testid="devices-empty"`, `aria-current="page"`}, notContains: []string{`id="device-create"`}})
	reg := b.do(t, request{method: "POST", path: "/devices", browser: admin, contentType: "application/x-www-form-urlencoded",
		body: "name=lab-pi&capabilities=linux,+usb&labels=site%3Dberlin", headers: map[string]string{"HX-Request": "true"}})
	if reg.status != 201 || !strings.Contains(reg.body, `data-testid="new-device-token">bt_`) || strings.Contains(reg.body, "<html") {
		t.Fatalf("register: %d %s", reg.status, reg.body)
	}
	b.run(t, scenario{name: "bad label", req: request{method: "POST", path: "/devices", browser: admin, contentType: "application/x-www-form-urlencoded",
		body: "name=x2&labels=oops"}, status: 422, contains: []string{`id="device-labels-error"`, "name=value", `value="x2"`}})
	b.run(t, scenario{name: "viewer may not register", req: request{method: "POST", path: "/devices", browser: viewer, contentType: "application/x-www-form-urlencoded",
		body: "name=x3"}, status: 403})
	b.run(t, scenario{name: "listed", req: request{method: "GET", path: "/devices", browser: viewer}, status: 200,
		contains: []string{`id="device-lab-pi"`, "linux, usb", "site=berlin", "offline", "1 offline"}, notContains: []string{"bt_", `data-testid="device-revoke"`}})
	b.run(t, scenario{name: "drain", req: request{method: "POST", path: "/devices/lab-pi/drain", browser: admin, contentType: "application/x-www-form-urlencoded",
		headers: map[string]string{"HX-Request": "true"}}, status: 200, contains: []string{"draining (no new commands)", `data-testid="device-resume"`}})
	b.run(t, scenario{name: "revoke", req: request{method: "POST", path: "/devices/lab-pi/revoke", browser: admin, contentType: "application/x-www-form-urlencoded"},
		status: 200, contains: []string{"revoked"}, notContains: []string{`data-testid="device-drain"`}})
	b.run(t, scenario{name: "device page", req: request{method: "GET", path: "/devices/lab-pi", browser: viewer}, status: 200,
		contains: []string{`data-testid="device-commands-empty"`, "revoked"}})
	b.run(t, scenario{name: "unknown device page", req: request{method: "GET", path: "/devices/ghost", browser: viewer}, status: 404})
}

// deviceToken registers a device through the API and returns its token.
func (b *bundle) deviceToken(t testing.TB, name string) string {
	t.Helper()
	created := b.do(t, request{method: "POST", path: "/api/v1/devices", bearer: b.adminToken, body: `{"name":"` + name + `"}`})
	tok := created.body[strings.Index(created.body, `"token":"`)+9:]
	return tok[:strings.IndexByte(tok, '"')]
}

// rawAgent connects a WebSocket agent that answers every command at once
// with exit code 0.
func rawAgent(t testing.TB, addr, token string) *websocket.Conn {
	t.Helper()
	ctx := context.Background()
	c, resp, err := websocket.Dial(ctx, "ws://"+strings.TrimPrefix(addr, "http://")+"/api/v1/agents/connect",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := wsjson.Write(ctx, c, &models.AgentMessage{Type: models.MsgHello, MaxConcurrency: 1}); err != nil {
		t.Fatal(err)
	}
	var welcome models.AgentMessage
	if err := wsjson.Read(ctx, c, &welcome); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			var m models.AgentMessage
			if err := wsjson.Read(ctx, c, &m); err != nil {
				return
			}
			if m.Type == models.MsgCommand {
				_ = wsjson.Write(ctx, c, &models.AgentMessage{Type: models.MsgResult, Result: &models.AgentResult{ID: m.Command.ID}})
			}
		}
	}()
	return c
}

// BenchmarkDispatchOverWebSocket is one command to a connected idle agent
// through the real server: routing, the stored delivery, the WebSocket
// both ways (the agent answers at once). It reports p50 and p99.
func BenchmarkDispatchOverWebSocket(b *testing.B) {
	bb, hub := deviceBundleHub(b, openSQLite)
	addr := bb.listenTB(b)
	c := rawAgent(b, addr, bb.deviceToken(b, "bench"))
	defer c.CloseNow()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		_, err := hub.Dispatch(context.Background(), models.CommandRequest{RunID: "r", StepID: "s", Attempt: 1,
			IdempotencyKey: "r/s" + strconv.Itoa(i), Command: "true"})
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkMemoryPerAgent connects 200 agents and reports the server's
// heap per connection (both ends of each WebSocket live in this process,
// so the figure is an upper bound for the server's side).
func BenchmarkMemoryPerAgent(b *testing.B) {
	for n := 0; n < b.N; n++ {
		bb, _ := deviceBundleHub(b, openSQLite)
		addr := bb.listenTB(b)
		const agents = 200
		tokens := make([]string, agents)
		for i := range tokens {
			tokens[i] = bb.deviceToken(b, "m"+strconv.Itoa(i))
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		conns := make([]*websocket.Conn, agents)
		for i := range conns {
			conns[i] = rawAgent(b, addr, tokens[i])
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/agents/1024, "KiB/agent")
		for _, c := range conns {
			c.CloseNow()
		}
	}
}

// listenTB is listen for benchmarks too.
func (b *bundle) listenTB(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	go func() { _ = b.app.Listener(ln) }()
	t.Cleanup(func() { _ = b.app.ShutdownWithTimeout(5 * time.Second) })
	return "http://" + ln.Addr().String()
}
