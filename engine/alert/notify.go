package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/baton-run/baton/models"
)

// Notifier sends one message on one channel and returns what the far end
// answered (a status line and the start of its body, an SMTP reply, the
// users reached); an error means the attempt failed and may be retried.
type Notifier interface {
	Notify(ctx context.Context, ch models.AlertChannel, m Message) (answer string, err error)
}

// Message is one notification: an alert at a level, under a delivery id.
type Message struct {
	Delivery string
	Alert    models.Alert
	Level    int
	Test     bool
	BaseURL  string
}

// Title is the message's one-line headline.
func (m Message) Title() string {
	if m.Test {
		return "[Baton] Test message"
	}
	state := strings.ToUpper(string(m.Alert.Severity))
	return fmt.Sprintf("[Baton %s] %s: %s", state, m.Alert.RuleName, m.Alert.Subject)
}

// Text is the message as plain text.
func (m Message) Text() string {
	var b strings.Builder
	b.WriteString(m.Title() + "\n\n")
	b.WriteString(m.Alert.Summary + "\n")
	if !m.Test {
		fmt.Fprintf(&b, "\nSeverity: %s\nState: %s\nFirst: %s\nCount: %d\nEscalation level: %d\n",
			m.Alert.Severity, m.Alert.State, m.Alert.FirstAt.Format(time.RFC3339), m.Alert.Count, m.Level)
		if m.Alert.Links.Run != "" && m.BaseURL != "" {
			fmt.Fprintf(&b, "Run: %s/runs/%s\n", m.BaseURL, m.Alert.Links.Run)
		}
		if m.BaseURL != "" {
			fmt.Fprintf(&b, "Acknowledge: %s/alerts\n", m.BaseURL)
		}
	}
	return b.String()
}

// HTTPDoer sends requests; *http.Client satisfies it.
type HTTPDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// NewHTTPClient returns a client for webhook and Slack channels that dials
// through dial (the egress policy's DialContext; nil for a plain dialer)
// and follows no redirects: a channel names its endpoint exactly.
func NewHTTPClient(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	if dial != nil {
		tr.DialContext = dial
	}
	return &http.Client{Transport: tr, Timeout: sendTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Webhook posts the alert as JSON, signed: X-Baton-Signature is
// "sha256=" and the hex HMAC-SHA256 of the body with the channel's secret,
// X-Baton-Delivery the delivery id (the same on every retry, so the
// receiver can drop a repeat).
type Webhook struct{ Client HTTPDoer }

// Notify implements Notifier.
func (w Webhook) Notify(ctx context.Context, ch models.AlertChannel, m Message) (string, error) {
	payload := struct {
		models.Alert
		Delivery string `json:"delivery"`
		Test     bool   `json:"test,omitempty"`
	}{m.Alert, m.Delivery, m.Test}
	payload.Level = max(payload.Level, m.Level)
	body, err := json.Marshal(payload)
	if err != nil {
		return "", err
	}
	h := map[string]string{
		"Content-Type":      "application/json",
		"X-Baton-Delivery":  m.Delivery,
		"X-Baton-Signature": Sign(ch.Config.Secret, body),
		"X-Baton-Event":     "alert",
	}
	return post(ctx, w.Client, ch.Config.URL, body, h)
}

// Sign returns the X-Baton-Signature of body under secret.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Slack posts a Slack-compatible incoming-webhook message ({"text": …}),
// which Mattermost, Rocket.Chat and others accept too.
type Slack struct{ Client HTTPDoer }

// Notify implements Notifier.
func (s Slack) Notify(ctx context.Context, ch models.AlertChannel, m Message) (string, error) {
	text := "*" + m.Title() + "*\n" + m.Alert.Summary
	if !m.Test && m.BaseURL != "" {
		text += fmt.Sprintf("\n<%s/alerts|Open alerts> (count %d, level %d)", m.BaseURL, m.Alert.Count, m.Level)
	}
	body, _ := json.Marshal(map[string]string{"text": text})
	return post(ctx, s.Client, ch.Config.URL, body, map[string]string{"Content-Type": "application/json"})
}

// post sends body and describes the answer; a status outside 2xx is an error.
func post(ctx context.Context, client HTTPDoer, url string, body []byte, headers map[string]string) (string, error) {
	if client == nil {
		client = NewHTTPClient(nil)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("bad URL: %w", err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("User-Agent", "Baton-Alerts/1")
	resp, err := client.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap() // drop the "Post URL:" prefix, which would repeat a URL that may carry a token
		}
		return "", fmt.Errorf("no answer: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
	answer := "HTTP " + resp.Status
	if s := strings.TrimSpace(string(snippet)); s != "" {
		answer += ": " + s
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return answer, fmt.Errorf("the endpoint answered %s", resp.Status)
	}
	return answer, nil
}

// InApp puts the message in the bell of the channel's users and of every
// user holding one of its roles.
type InApp struct{ Users Recipients }

// Notify implements Notifier.
func (n InApp) Notify(ctx context.Context, ch models.AlertChannel, m Message) (string, error) {
	names, err := n.recipients(ctx, ch.Config)
	if err != nil {
		return "", err
	}
	if len(names) == 0 {
		return "", errors.New("no user matches the channel's users and roles")
	}
	var alertID *int64
	if m.Alert.ID != 0 {
		id := m.Alert.ID
		alertID = &id
	}
	ns := make([]models.Notification, len(names))
	for i, u := range names {
		ns[i] = models.Notification{User: u, Alert: alertID, Title: m.Title(), Body: m.Alert.Summary, Link: "/alerts"}
	}
	if err := n.Users.AddNotifications(ctx, ns); err != nil {
		return "", err
	}
	return fmt.Sprintf("shown to %d user(s): %s", len(names), strings.Join(names, ", ")), nil
}

func (n InApp) recipients(ctx context.Context, cfg models.ChannelConfig) ([]string, error) {
	users, err := n.Users.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, u := range users {
		if u.Disabled {
			continue
		}
		hit := slices.Contains(cfg.Users, u.Name)
		for _, r := range u.Roles {
			hit = hit || slices.Contains(cfg.Roles, string(r))
		}
		if hit {
			out = append(out, u.Name)
		}
	}
	return out, nil
}
