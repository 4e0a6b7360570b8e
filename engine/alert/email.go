package alert

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net"
	"net/url"
	"strconv"
	"strings"

	mail "github.com/wneessen/go-mail"

	"github.com/baton-run/baton/models"
)

// Email sends mail through the server's SMTP settings (--smtp-url,
// --smtp-from) with go-mail: plain text plus an HTML alternative. Its
// password is never logged: String shows the URL without it.
type Email struct {
	host     string
	port     int
	user     string
	password string
	tls      mail.TLSPolicy
	ssl      bool
	from     string
	// Dial connects to the server; tests and the egress policy may set it.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// ParseSMTP reads "smtp://user:pass@host:port" (STARTTLS when the server
// offers it; ?tls=required insists, ?tls=none never tries) or
// "smtps://user:pass@host:port" (TLS from the start) and the sender
// address. An empty URL returns nil: email is off.
func ParseSMTP(raw, from string) (*Email, error) {
	if raw == "" {
		return nil, nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "smtp" && u.Scheme != "smtps") {
		return nil, errors.New("want smtp://user:password@host:port or smtps://…")
	}
	e := &Email{host: u.Hostname(), from: from, tls: mail.TLSOpportunistic}
	if from == "" {
		return nil, errors.New("--smtp-from is required with --smtp-url")
	}
	if e.ssl = u.Scheme == "smtps"; e.ssl {
		e.port = 465
	} else {
		e.port = 587
	}
	if p := u.Port(); p != "" {
		if e.port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("port %q is not a number", p)
		}
	}
	switch u.Query().Get("tls") {
	case "", "opportunistic":
	case "required":
		e.tls = mail.TLSMandatory
	case "none":
		e.tls = mail.NoTLS
	default:
		return nil, errors.New("tls is opportunistic, required or none")
	}
	if u.User != nil {
		e.user = u.User.Username()
		e.password, _ = u.User.Password()
	}
	return e, nil
}

// String describes the settings without the password.
func (e *Email) String() string {
	if e == nil {
		return "off"
	}
	scheme := "smtp"
	if e.ssl {
		scheme = "smtps"
	}
	user := ""
	if e.user != "" {
		user = e.user + ":***@"
	}
	return fmt.Sprintf("%s://%s%s:%d from %s", scheme, user, e.host, e.port, e.from)
}

// Send mails one message to every address of to and returns the server's
// answer.
func (e *Email) Send(ctx context.Context, to []string, subject, text, htmlBody string) (string, error) {
	if e == nil {
		return "", errors.New("email is not configured on this server (--smtp-url)")
	}
	m := mail.NewMsg()
	if err := m.From(e.from); err != nil {
		return "", fmt.Errorf("--smtp-from: %w", err)
	}
	if err := m.To(to...); err != nil {
		return "", err
	}
	m.Subject(subject)
	m.SetBodyString(mail.TypeTextPlain, text)
	m.AddAlternativeString(mail.TypeTextHTML, htmlBody)
	opts := []mail.Option{mail.WithPort(e.port), mail.WithTLSPortPolicy(e.tls), mail.WithTimeout(sendTimeout)}
	if e.ssl {
		opts = append(opts, mail.WithSSLPort(false))
	}
	if e.user != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(e.user), mail.WithPassword(e.password))
	}
	if e.Dial != nil {
		opts = append(opts, mail.WithDialContextFunc(e.Dial))
	}
	c, err := mail.NewClient(e.host, opts...)
	if err != nil {
		return "", err
	}
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		return strings.TrimSpace(m.ServerResponse()), err
	}
	answer := strings.TrimSpace(m.ServerResponse())
	if answer == "" {
		answer = "accepted"
	}
	return fmt.Sprintf("%s:%d accepted for %d recipient(s): %s", e.host, e.port, len(to), answer), nil
}

// EmailNotifier sends email channels' messages.
type EmailNotifier struct{ Email *Email }

// Notify implements Notifier.
func (n EmailNotifier) Notify(ctx context.Context, ch models.AlertChannel, m Message) (string, error) {
	return n.Email.Send(ctx, ch.Config.To, m.Title(), m.Text(), htmlOf(m.Title(), m.Text()))
}

// htmlOf renders plain text as a small, escaped HTML document.
func htmlOf(title, text string) string {
	var b strings.Builder
	b.WriteString("<!doctype html><html><body><h1 style=\"font-size:1.1em\">" + html.EscapeString(title) + "</h1>")
	for _, line := range strings.Split(strings.TrimPrefix(text, title+"\n\n"), "\n") {
		if line == "" {
			continue
		}
		b.WriteString("<p>" + html.EscapeString(line) + "</p>")
	}
	b.WriteString("</body></html>")
	return b.String()
}
