package handlers

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/models"
)

// Headers of webhook calls.
const (
	headerSignature = "X-Baton-Signature" // "v1=<hex of HMAC-SHA256(secret, timestamp.delivery.body)>"
	headerTimestamp = "X-Baton-Timestamp" // Unix seconds when the sender signed
	headerDelivery  = "X-Baton-Delivery"  // the sender's unique id of this delivery
	headerHookToken = "X-Baton-Token"     // the secret itself, for token mode
)

// hooksPrefix is where webhook calls arrive; they authenticate with the
// webhook's secret, not with a user's token or session.
const hooksPrefix = "/hooks/"

func (s *server) hookRoutes() []route {
	return []route{
		{fiber.MethodPost, "/hooks/:key", anyone, s.receiveHook},
		{fiber.MethodPost, "/api/v1/templates/:key/webhook", models.RoleOperator, s.createHook},
		{fiber.MethodGet, "/api/v1/templates/:key/webhook", models.RoleViewer, s.getHook},
		{fiber.MethodPatch, "/api/v1/templates/:key/webhook", models.RoleOperator, s.updateHook},
		{fiber.MethodPost, "/api/v1/templates/:key/webhook/rotate", models.RoleOperator, s.rotateHook},
		{fiber.MethodDelete, "/api/v1/templates/:key/webhook", models.RoleOperator, s.deleteHook},
	}
}

// hookView is a webhook as the API shows it; Secret is set only when it
// was just created or rotated, the one time it is shown.
type hookView struct {
	*models.Webhook
	URL    string `json:"url"`
	Secret string `json:"secret,omitempty"`
}

func newHookView(wh *models.Webhook, withSecret bool) hookView {
	v := hookView{Webhook: wh, URL: hooksPrefix + wh.Key}
	if withSecret {
		v.Secret = wh.Secret.Reveal()
	}
	return v
}

func (s *server) createHook(c *fiber.Ctx) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	var in struct {
		Mode models.WebhookMode `json:"mode"`
	}
	if len(bytes.TrimSpace(c.Body())) > 0 {
		if err := decodeJSON(c, &in); err != nil {
			return err
		}
	}
	if in.Mode == "" {
		in.Mode = models.WebhookHMAC
	}
	wh, err := ts.CreateWebhook(c.UserContext(), c.Params("key"), in.Mode, principalOf(c).user.Name)
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(newHookView(wh, true))
}

func (s *server) getHook(c *fiber.Ctx) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	wh, err := ts.TemplateWebhook(c.UserContext(), c.Params("key"))
	if err != nil {
		return err
	}
	return c.JSON(newHookView(wh, false))
}

func (s *server) updateHook(c *fiber.Ctx) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	var upd models.WebhookUpdate
	if err := decodeJSON(c, &upd); err != nil {
		return err
	}
	wh, err := ts.UpdateWebhook(c.UserContext(), c.Params("key"), upd)
	if err != nil {
		return err
	}
	return c.JSON(newHookView(wh, false))
}

func (s *server) rotateHook(c *fiber.Ctx) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	wh, err := ts.RotateWebhookSecret(c.UserContext(), c.Params("key"), principalOf(c).user.Name)
	if err != nil {
		return err
	}
	return c.JSON(newHookView(wh, true))
}

func (s *server) deleteHook(c *fiber.Ctx) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	if err := ts.DeleteWebhook(c.UserContext(), c.Params("key")); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// receiveHook is POST /hooks/{key}: an outside system starts a run of the
// template's latest approved version, with the JSON body as its inputs.
// The call proves it knows the secret (HMAC of the body, or the secret as a
// token), and names its delivery so a replay starts nothing. A delivery
// that was received but did not start a run (bad inputs, say) is still
// spent: the sender fixes the call and sends it under a new id.
func (s *server) receiveHook(c *fiber.Ctx) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	rs, err := s.runs()
	if err != nil {
		return err
	}
	body := c.Body()
	if len(body) > s.deps.WebhookBodyLimit {
		return models.Errorf(models.TooLarge, "the webhook body is larger than the limit of %d bytes", s.deps.WebhookBodyLimit)
	}
	ctx := c.UserContext()
	wh, err := ts.WebhookByKey(ctx, c.Params("key"))
	if err != nil {
		return err
	}
	if err := s.verifyHook(c, wh, body); err != nil {
		return err
	}
	if !wh.Enabled {
		return models.Errorf(models.Conflict, "this webhook is disabled")
	}
	delivery := strings.TrimSpace(c.Get(headerDelivery))
	if delivery == "" {
		return models.Errorf(models.BadRequest, "the %s header is required: a unique id per delivery, so that a replay starts no second run", headerDelivery)
	}
	inputs, err := hookInputs(c, body)
	if err != nil {
		return err
	}
	fresh, err := ts.ClaimDelivery(ctx, wh.ID, delivery)
	if err != nil {
		return err
	}
	if !fresh {
		return models.Errorf(models.Conflict, "delivery %q was received before; it starts no second run", delivery)
	}
	run, err := rs.Start(ctx, models.RunRequest{
		Template: wh.Template, Inputs: inputs, Trigger: models.TriggerWebhook,
		StartedBy: fmt.Sprintf("webhook:%d", wh.ID), AllowApproved: true,
	})
	if err != nil {
		return err
	}
	if err := ts.SetDeliveryRun(ctx, wh.ID, delivery, run.ID); err != nil {
		s.logOf(c).Warn("record the run of a webhook delivery", "webhook", wh.ID, "run", run.ID, "err", err)
	}
	return c.Status(http.StatusCreated).JSON(run)
}

// HookTolerance is how far a signed webhook's timestamp may be from the
// server's clock: a captured delivery replays for at most this long, and
// within it only under its own delivery id, which is spent once.
const HookTolerance = 5 * time.Minute

// verifyHook checks the caller knows the webhook's secret. In hmac mode the
// signature covers the timestamp, the delivery id and the body, so a
// captured call cannot be replayed under a new delivery id or later than
// HookTolerance. The old body-only form ("sha256=") is accepted only with
// Deps.WebhookLegacySignatures, for senders still being migrated.
func (s *server) verifyHook(c *fiber.Ctx, wh *models.Webhook, body []byte) error {
	secret := wh.Secret.Reveal()
	switch wh.Mode {
	case models.WebhookToken:
		got := c.Get(headerHookToken)
		if got == "" {
			if scheme, tok, ok := strings.Cut(c.Get(fiber.HeaderAuthorization), " "); ok && strings.EqualFold(scheme, "Bearer") {
				got = strings.TrimSpace(tok)
			}
		}
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(secret)) != 1 {
			return models.Errorf(models.Unauthenticated, "missing or wrong webhook token: send the secret as %s or Authorization: Bearer", headerHookToken)
		}
		return nil
	}
	header := c.Get(headerSignature)
	if legacy, ok := strings.CutPrefix(header, "sha256="); ok {
		if !s.deps.WebhookLegacySignatures {
			return models.Errorf(models.Unauthenticated, "body-only signatures (sha256=) are turned off: sign %s + \".\" + %s + \".\" + body and send v1=<hex> with %s", headerTimestamp, headerDelivery, headerTimestamp)
		}
		got, err := hex.DecodeString(legacy)
		if err != nil || !hmac.Equal(got, HookSignature(secret, body)) {
			return models.Errorf(models.Unauthenticated, "the %s does not match the body", headerSignature)
		}
		return nil
	}
	sig, ok := strings.CutPrefix(header, "v1=")
	got, err := hex.DecodeString(sig)
	if !ok || err != nil {
		return models.Errorf(models.Unauthenticated, "missing or malformed %s: send v1=<hex HMAC-SHA256 under the secret of %s + \".\" + %s + \".\" + body>", headerSignature, headerTimestamp, headerDelivery)
	}
	ts := strings.TrimSpace(c.Get(headerTimestamp))
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return models.Errorf(models.Unauthenticated, "missing or malformed %s: send the signing time in Unix seconds", headerTimestamp)
	}
	if d := s.now().Sub(time.Unix(sec, 0)); d > HookTolerance || d < -HookTolerance {
		return models.Errorf(models.Unauthenticated, "the %s is more than %s from the server's clock: sign each delivery when sending it", headerTimestamp, HookTolerance)
	}
	if !hmac.Equal(got, HookSignatureV1(secret, ts, strings.TrimSpace(c.Get(headerDelivery)), body)) {
		return models.Errorf(models.Unauthenticated, "the %s does not match the timestamp, delivery id and body", headerSignature)
	}
	return nil
}

// HookSignature is the legacy signature, HMAC-SHA256 of body under secret,
// accepted only with Deps.WebhookLegacySignatures.
func HookSignature(secret string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}

// HookSignatureV1 is what a webhook caller sends, hex-encoded after "v1=",
// in X-Baton-Signature: HMAC-SHA256 under secret of timestamp (Unix seconds,
// as sent in X-Baton-Timestamp), ".", the delivery id (X-Baton-Delivery),
// ".", and the body.
func HookSignatureV1(secret, timestamp, delivery string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp + "." + delivery + "."))
	m.Write(body)
	return m.Sum(nil)
}

// hookInputs reads the body as the run's inputs: a JSON object, or nothing.
func hookInputs(c *fiber.Ctx, body []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]any{}, nil
	}
	if ct := mediaType(c.Get(fiber.HeaderContentType)); ct != "" && ct != fiber.MIMEApplicationJSON {
		return nil, models.Errorf(models.BadRequest, "the webhook body must be JSON (Content-Type: application/json), not %s", ct)
	}
	var inputs map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&inputs); err != nil || dec.More() || inputs == nil {
		return nil, models.Errorf(models.BadRequest, "the webhook body must be one JSON object: its fields are the run's inputs")
	}
	return inputs, nil
}
