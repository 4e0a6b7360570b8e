package handlers

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/handlers/auth"
	"github.com/baton-run/baton/models"
)

// agentConnectPath is where `baton agent` opens its WebSocket. The device
// token, not a user's, authenticates it (see agentConnect), so the
// authentication middleware leaves it alone.
const agentConnectPath = "/api/v1/agents/connect"

func (s *server) agentRoutes() []route {
	return []route{
		{fiber.MethodGet, agentConnectPath, anyone, s.agentConnect},
	}
}

// maxAgentMessage bounds one message from an agent: a result carries at
// most 1 MiB of stdout and 1 MiB of stderr, JSON-escaped.
const maxAgentMessage = 8 << 20

// agentConnect upgrades an agent's request to a WebSocket. fasthttp has no
// net/http Hijacker, so the request is checked here, the connection is
// hijacked from fasthttp and handed to coder/websocket's Accept through a
// minimal http.ResponseWriter over it (hijackWriter); the connection then
// lives in the hub's Serve until it ends.
func (s *server) agentConnect(c *fiber.Ctx) error {
	if s.deps.Devices == nil {
		return models.Errorf(models.Unavailable, "this server runs no device hub")
	}
	scheme, plain, _ := strings.Cut(c.Get(fiber.HeaderAuthorization), " ")
	plain = strings.TrimSpace(plain)
	if !strings.EqualFold(scheme, "Bearer") || plain == "" {
		return models.Errorf(models.Unauthenticated, `an agent authenticates with its device token: "Authorization: Bearer <token>"`)
	}
	invalid := models.Errorf(models.Unauthenticated, "invalid or revoked device token")
	if !auth.LooksLikeToken(plain) {
		return invalid
	}
	dev, err := s.deps.Devices.Authenticate(c.UserContext(), auth.HashToken(plain))
	if models.IsCode(err, models.NotFound) {
		s.logOf(c).Warn("agent refused: invalid or revoked device token", "ip", s.clientIP(c))
		return invalid
	}
	if err != nil {
		return err
	}
	if !headerHas(c.Get(fiber.HeaderConnection), "upgrade") || !headerHas(c.Get(fiber.HeaderUpgrade), "websocket") ||
		c.Get("Sec-WebSocket-Key") == "" {
		return models.Errorf(models.BadRequest, "expected a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket)")
	}
	req, err := http.NewRequest(http.MethodGet, "http://"+string(c.Request().Host())+agentConnectPath, nil)
	if err != nil {
		return models.Errorf(models.BadRequest, "bad request: %v", err)
	}
	req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/1.1", 1, 1
	for k, v := range c.Request().Header.All() {
		req.Header.Add(string(k), string(v))
	}
	log := s.logOf(c).With("device", dev.Name)
	base := s.deps.Streams
	fctx := c.Context()
	fctx.HijackSetNoResponse(true)
	fctx.Hijack(func(nc net.Conn) {
		_ = nc.SetDeadline(time.Time{})
		ws, err := websocket.Accept(&hijackWriter{conn: nc, header: http.Header{}}, req, nil)
		if err != nil {
			log.Warn("agent upgrade failed", "err", err)
			return
		}
		ws.SetReadLimit(maxAgentMessage)
		conn := &wsConn{ws: ws}
		if err := s.deps.Devices.Serve(base, dev, conn); err != nil {
			log.Warn("agent connection ended", "err", err)
		}
		// fasthttp frees the connection when this function returns: every
		// write to it must be over by then.
		_ = conn.Close("bye")
		conn.closing.Wait()
		_ = ws.CloseNow()
	})
	return nil
}

func headerHas(h, token string) bool {
	for _, p := range strings.Split(h, ",") {
		if strings.EqualFold(strings.TrimSpace(p), token) {
			return true
		}
	}
	return false
}

// hijackWriter is the http.ResponseWriter (and http.Hijacker) that
// websocket.Accept writes its 101 response to: straight onto the
// connection fasthttp handed over.
type hijackWriter struct {
	conn   net.Conn
	header http.Header
	wrote  bool
}

func (w *hijackWriter) Header() http.Header { return w.header }

func (w *hijackWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", code, http.StatusText(code))
	_ = w.header.Write(&b)
	b.WriteString("\r\n")
	_, _ = w.conn.Write([]byte(b.String()))
}

func (w *hijackWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.conn.Write(p)
}

func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.conn, bufio.NewReadWriter(bufio.NewReader(w.conn), bufio.NewWriter(w.conn)), nil
}

// wsConn is a models.AgentConn over a WebSocket, one JSON message per frame.
type wsConn struct {
	ws      *websocket.Conn
	once    sync.Once
	closing sync.WaitGroup
}

func (c *wsConn) Send(ctx context.Context, m *models.AgentMessage) error {
	return wsjson.Write(ctx, c.ws, m)
}

func (c *wsConn) Receive(ctx context.Context) (*models.AgentMessage, error) {
	var m models.AgentMessage
	if err := wsjson.Read(ctx, c.ws, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

func (c *wsConn) Close(reason string) error {
	c.once.Do(func() {
		// Close waits up to 5s for the peer's answer; the caller does not.
		c.closing.Add(1)
		go func() {
			defer c.closing.Done()
			_ = c.ws.Close(websocket.StatusNormalClosure, reason)
		}()
	})
	return nil
}
