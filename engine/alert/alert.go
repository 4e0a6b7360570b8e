// Package alert finds trouble and tells people until someone answers: it
// evaluates alert rules against the engine's event stream (run failures,
// failure rates, durations, stuck steps, anomalies against a template's own
// baseline) and against stored state on a slow tick (reviews waiting, the
// backlog, the database), raises alerts through the store (one open alert
// per rule and subject), takes the escalation steps that are due and sends
// the deliveries they owe through notifiers (webhook, Slack, email, in-app),
// retrying with backoff. Everything that must survive a restart (alerts,
// their escalation timers, pending deliveries) lives in the store; the
// Service keeps only what it can rebuild (recent samples of runs).
//
// It knows the engine only through the events handed to it and a few
// functions (Config.Healthy, Config.Backlog), and storage only through Store.
package alert

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/baton-run/baton/models"
)

// Store is what alerting needs from persistence; *store.Store satisfies it.
type Store interface {
	ListAlertRules(ctx context.Context) ([]models.AlertRule, error)
	RaiseAlert(ctx context.Context, in models.AlertRaise) (models.Alert, bool, error)
	ResolveOpenAlert(ctx context.Context, rule int64, subject string, at time.Time) (bool, error)
	OpenAlertSubjects(ctx context.Context, rule int64) ([]string, error)
	Alert(ctx context.Context, id int64) (models.Alert, error)
	EscalateDue(ctx context.Context, at time.Time) (int, error)
	ClaimDeliveries(ctx context.Context, at time.Time, lease time.Duration, limit int) ([]models.AlertDelivery, error)
	FinishDeliveryAttempt(ctx context.Context, d models.AlertDelivery, status, answer string, at, next time.Time) error
	AlertChannelForSending(ctx context.Context, id int64) (models.AlertChannel, error)
	VersionsWaitingReview(ctx context.Context) ([]models.InboxItem, error)
	// ListRuns reads stored runs (newest first), to seed the baselines on start.
	ListRuns(ctx context.Context, f models.RunFilter) ([]models.Run, error)
	Recipients
}

// Recipients finds the people behind in-app channels and approver notices.
type Recipients interface {
	ListUsers(ctx context.Context) ([]models.User, error)
	NotifySettings(ctx context.Context, user string) (models.NotifySettings, error)
	AddNotifications(ctx context.Context, ns []models.Notification) error
}

// Config wires a Service.
type Config struct {
	Store Store
	// Notifiers send by channel kind (models.ChannelWebhook…); a kind
	// without one fails its deliveries with a message saying so.
	Notifiers map[string]Notifier
	// Email sends approver notices to users with an address; optional.
	Email *Email
	Log   *slog.Logger
	// Clock drives escalation and the periodic rules; default the wall clock.
	Clock clockwork.Clock
	// Healthy reports the engine's database health (database_unavailable);
	// optional.
	Healthy func() error
	// Backlog counts queued work (backlog); optional.
	Backlog func() int
	// Devices lists the registered devices with their live state
	// (device_offline); optional (*agent.Hub.Devices in baton serve).
	Devices func(ctx context.Context) ([]models.DeviceState, error)
	// BaseURL prefixes links in messages ("http://127.0.0.1:8080").
	BaseURL string
	// Tick is how often due escalation steps and deliveries are looked
	// for; default 5s.
	Tick time.Duration
	// Evaluate is how often rules on stored state run; default 30s.
	Evaluate time.Duration
}

// Delivery retries: a failed attempt is tried again after these pauses;
// after the last, the delivery is given up (status failed), logged.
var retryBackoff = []time.Duration{10 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute}

// deliveryLease is how long a claimed delivery is held by one instance.
const deliveryLease = 2 * time.Minute

// sendTimeout bounds one attempt.
const sendTimeout = 15 * time.Second

// Service evaluates rules and escalates alerts.
type Service struct {
	cfg   Config
	store Store
	log   *slog.Logger
	clock clockwork.Clock

	mu   sync.Mutex // guards eval, known and pending
	eval *evaluator
	// known holds the open alerts (by openKey) this service has seen
	// stored; a repeat of one is counted in pending and written on the
	// next tick, so a burst of failures costs one write per alert and tick
	// rather than one per failure. A crash loses at most a tick's count.
	known   map[alertKey]bool
	pending map[alertKey]*models.AlertRaise
	kick    chan struct{}
	rules   chan struct{}
}

// New returns a Service; Run starts it.
func New(cfg Config) *Service {
	cfg.Log = cmp.Or(cfg.Log, slog.Default())
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	cfg.Tick = cmp.Or(cfg.Tick, 5*time.Second)
	cfg.Evaluate = cmp.Or(cfg.Evaluate, 30*time.Second)
	if cfg.Notifiers == nil {
		cfg.Notifiers = map[string]Notifier{}
	}
	return &Service{cfg: cfg, store: cfg.Store, log: cfg.Log, clock: cfg.Clock, eval: newEvaluator(),
		known: map[alertKey]bool{}, pending: map[alertKey]*models.AlertRaise{},
		kick: make(chan struct{}, 1), rules: make(chan struct{}, 1)}
}

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.clock.Now().UTC() }

// Events is a source of the engine's events in batches (engine.Launcher's
// SubscribeBatches("", n) has this shape).
type Events func() (batches <-chan []models.Event, dropped func() bool, stop func())

// Run follows events and the clock until ctx ends.
func (s *Service) Run(ctx context.Context, events Events) {
	if err := s.ReloadRules(ctx); err != nil {
		s.log.Warn("alert rules not loaded", "err", err)
	}
	s.Seed(ctx)
	var batches <-chan []models.Event
	stop := func() {}
	var dropped func() bool
	if events != nil {
		batches, dropped, stop = events()
	}
	defer func() { stop() }()
	tick := s.clock.NewTicker(s.cfg.Tick)
	defer tick.Stop()
	lastEval := time.Time{}
	s.Tick(ctx)
	for {
		select {
		case <-ctx.Done():
			// Write the counted repeats before leaving (a clean stop loses none).
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			s.flush(fctx)
			cancel()
			return
		case batch, ok := <-batches:
			if !ok {
				if dropped != nil && dropped() {
					s.log.Warn("alert rules fell behind the engine's events; resubscribing")
					batches, dropped, stop = events()
					continue
				}
				batches = nil
				continue
			}
			if s.Observe(ctx, batch) {
				s.Tick(ctx)
			}
		case <-s.kick:
			s.Tick(ctx)
		case <-s.rules:
			if err := s.ReloadRules(ctx); err != nil {
				s.log.Warn("alert rules not loaded", "err", err)
			}
		case <-tick.Chan():
			if now := s.Now(); now.Sub(lastEval) >= s.cfg.Evaluate {
				lastEval = now
				s.EvaluatePeriodic(ctx)
			}
			s.Tick(ctx)
		}
	}
}

// Kick asks Run to look for due steps and deliveries now.
func (s *Service) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// RulesChanged asks Run to reload the rules (after an edit).
func (s *Service) RulesChanged() {
	select {
	case s.rules <- struct{}{}:
	default:
	}
}

// ReloadRules reads the enabled rules and the open alerts' subjects.
func (s *Service) ReloadRules(ctx context.Context) error {
	rules, err := s.store.ListAlertRules(ctx)
	if err != nil {
		return err
	}
	open := map[alertKey]bool{}
	for _, r := range rules {
		subs, err := s.store.OpenAlertSubjects(ctx, r.ID)
		if err != nil {
			return err
		}
		for _, sub := range subs {
			open[openKey(r.ID, sub)] = true
		}
	}
	s.mu.Lock()
	s.known = make(map[alertKey]bool, len(open))
	for k := range open {
		s.known[k] = true
	}
	s.eval.setRules(rules, open)
	s.mu.Unlock()
	return nil
}

// Seed fills the failure-rate windows and anomaly baselines of the
// templates that rules name from their latest stored runs (up to 500 each),
// so a restart does not start them empty. Templates with samples already
// are left alone.
func (s *Service) Seed(ctx context.Context) {
	s.mu.Lock()
	var templates []string
	for t := range s.eval.statsFor {
		if t != "" && s.eval.stats[t] == nil {
			templates = append(templates, t)
		}
	}
	s.mu.Unlock()
	final := []models.RunStatus{models.RunSucceeded, models.RunFailed, models.RunTimedOut, models.RunRolledBack}
	for _, t := range templates {
		runs, err := s.store.ListRuns(ctx, models.RunFilter{Template: t, Statuses: final, Limit: 500})
		if err != nil {
			s.log.Warn("alert baselines not seeded", "template", t, "err", err)
			continue
		}
		s.mu.Lock()
		s.eval.seed(t, runs)
		s.mu.Unlock()
	}
}

// Tick takes the escalation steps that are due and sends the deliveries
// that are due. Errors are logged: the next tick tries again.
func (s *Service) Tick(ctx context.Context) {
	now := s.Now()
	s.flush(ctx)
	if _, err := s.store.EscalateDue(ctx, now); err != nil {
		s.log.Warn("alert escalation", "err", err)
	}
	for range 10 { // at most 10 × 20 deliveries a tick
		ds, err := s.store.ClaimDeliveries(ctx, now, deliveryLease, 20)
		if err != nil {
			s.log.Warn("alert deliveries", "err", err)
			return
		}
		for _, d := range ds {
			s.deliver(ctx, d)
		}
		if len(ds) < 20 {
			return
		}
	}
}

// deliver makes one attempt of a delivery and records it.
func (s *Service) deliver(ctx context.Context, d models.AlertDelivery) {
	status, answer := models.DeliverySent, ""
	a, err := s.store.Alert(ctx, d.Alert)
	var ch models.AlertChannel
	if err == nil {
		ch, err = s.store.AlertChannelForSending(ctx, d.Channel)
	}
	if err == nil {
		answer, err = s.send(ctx, ch, Message{Delivery: d.ID, Alert: a, Level: d.Level})
	}
	next := s.Now()
	if err != nil {
		answer = joinAnswer(answer, err)
		status = models.DeliveryFailed
		if d.Attempts < len(retryBackoff) {
			status = models.DeliveryPending
			next = next.Add(retryBackoff[d.Attempts])
		}
		s.log.Warn("alert delivery failed", "delivery", d.ID, "alert", d.Alert, "channel", d.Channel,
			"attempt", d.Attempts+1, "willRetry", status == models.DeliveryPending, "err", err)
	}
	if err := s.store.FinishDeliveryAttempt(context.WithoutCancel(ctx), d, status, answer, s.Now(), next); err != nil {
		s.log.Warn("alert delivery not recorded", "delivery", d.ID, "err", err)
	}
}

func joinAnswer(answer string, err error) string {
	if answer == "" {
		return err.Error()
	}
	return answer + " (" + err.Error() + ")"
}

// send hands a message to the channel's notifier.
func (s *Service) send(ctx context.Context, ch models.AlertChannel, m Message) (string, error) {
	n := s.cfg.Notifiers[ch.Kind]
	if n == nil {
		return "", fmt.Errorf("no %s sender is configured on this server", ch.Kind)
	}
	m.BaseURL = s.cfg.BaseURL
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	return n.Notify(ctx, ch, m)
}

// SendTest sends a test message on a channel and returns what the far end
// answered, or why it could not be reached.
func (s *Service) SendTest(ctx context.Context, id int64, by string) (answer string, err error) {
	ch, err := s.store.AlertChannelForSending(ctx, id)
	if err != nil {
		return "", err
	}
	now := s.Now()
	m := Message{Delivery: "test-" + fmt.Sprint(now.UnixNano()), Test: true, Alert: models.Alert{
		RuleName: "Test message", Severity: models.SeverityInfo, State: models.AlertFiring, Subject: ch.Name,
		Summary: fmt.Sprintf("A test of channel %q sent by %s. No action is needed.", ch.Name, by), FirstAt: now, LastAt: now, Count: 1, Level: 1}}
	return s.send(ctx, ch, m)
}

// flush writes the counted repeats of open alerts.
func (s *Service) flush(ctx context.Context) {
	s.mu.Lock()
	pending := s.pending
	s.pending = map[alertKey]*models.AlertRaise{}
	s.mu.Unlock()
	for _, in := range pending {
		s.raise(ctx, *in)
	}
}

// raise records an observation and wakes the escalation.
func (s *Service) raise(ctx context.Context, in models.AlertRaise) bool {
	_, _, err := s.store.RaiseAlert(ctx, in)
	if err != nil {
		var me *models.Error
		if errors.As(err, &me) && me.Code == models.NotFound {
			return false // the rule was deleted meanwhile
		}
		s.log.Warn("alert not raised", "rule", in.Rule, "subject", in.Subject, "err", err)
		return false
	}
	s.mu.Lock()
	s.known[openKey(in.Rule, in.Subject)] = true
	s.mu.Unlock()
	return true
}
