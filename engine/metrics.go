package engine

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the engine's Prometheus metrics. Build them with NewMetrics,
// register them where /metrics is served, and pass them in Config.Metrics.
// A nil *Metrics records nothing.
type Metrics struct {
	runsStarted   prometheus.Counter
	runsFinished  *prometheus.CounterVec
	runDuration   prometheus.Histogram
	stepsStarted  prometheus.Counter
	stepsFinished *prometheus.CounterVec
	stepDuration  prometheus.Histogram
	retries       prometheus.Counter
	activeRuns    prometheus.Gauge
	queueDepth    prometheus.Gauge
	batchSize     prometheus.Histogram
	commitTime    prometheus.Histogram

	commitFailures prometheus.Counter
	suspendedRuns  prometheus.Gauge

	instanceInfo *prometheus.GaugeVec
	leaseExpiry  prometheus.Gauge
	takenOver    prometheus.Counter
	fencedRuns   prometheus.Counter
	repaired     prometheus.Counter
}

// NewMetrics creates the engine's metrics and registers them with reg (when
// reg is not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		runsStarted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "baton_runs_started_total", Help: "Runs started."}),
		runsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "baton_runs_finished_total", Help: "Runs finished, by final status."}, []string{"status"}),
		runDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "baton_run_duration_seconds", Help: "Run durations from start to finish.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 12)}),
		stepsStarted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "baton_steps_started_total", Help: "Step attempts started."}),
		stepsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "baton_steps_finished_total", Help: "Steps finished, by status."}, []string{"status"}),
		stepDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "baton_step_duration_seconds", Help: "Step attempt durations.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 12)}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "baton_step_retries_total", Help: "Step attempts retried after a failure."}),
		activeRuns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "baton_active_runs", Help: "Runs not finished, held by this engine."}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "baton_action_queue_depth", Help: "Actions waiting for a process-wide slot."}),
		commitFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "baton_commit_failures_total", Help: "Commits of run changes that failed after retries."}),
		suspendedRuns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "baton_suspended_runs", Help: "Runs stopped because a change could not be committed, waiting to resume from the store."}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "baton_commit_batch_size", Help: "Write requests committed per transaction (group commit).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12)}),
		commitTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "baton_commit_duration_seconds", Help: "Time to commit one batch of run changes (group commit), successful commits.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
		instanceInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "baton_instance_info", Help: "This instance's id in the database (several instances on one PostgreSQL database); 1 for the current id."}, []string{"instance"}),
		leaseExpiry: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "baton_lease_expiry_timestamp_seconds", Help: "When this instance's lease on its runs ends unless renewed (Unix time)."}),
		takenOver: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "baton_runs_taken_over_total", Help: "Runs claimed from instances whose lease expired, or without an owner."}),
		fencedRuns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "baton_runs_fenced_total", Help: "Runs dropped because another instance took them over (or this instance lost its lease)."}),
		repaired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "baton_runs_ownership_repaired_total", Help: "Runs this instance owned in the database but did not hold, found by its self-check and resumed."}),
	}
	if reg != nil {
		reg.MustRegister(m.runsStarted, m.runsFinished, m.runDuration, m.stepsStarted, m.stepsFinished,
			m.stepDuration, m.retries, m.activeRuns, m.queueDepth, m.batchSize, m.commitTime, m.commitFailures, m.suspendedRuns,
			m.instanceInfo, m.leaseExpiry, m.takenOver, m.fencedRuns, m.repaired)
	}
	return m
}

func (m *Metrics) runStarted() {
	if m != nil {
		m.runsStarted.Inc()
		m.activeRuns.Inc()
	}
}

func (m *Metrics) runFinished(status string, d time.Duration) {
	if m != nil {
		m.runsFinished.WithLabelValues(status).Inc()
		m.runDuration.Observe(d.Seconds())
		m.activeRuns.Dec()
	}
}

func (m *Metrics) stepStarted() {
	if m != nil {
		m.stepsStarted.Inc()
	}
}

func (m *Metrics) stepFinished(status string, d time.Duration) {
	if m != nil {
		m.stepsFinished.WithLabelValues(status).Inc()
		if d > 0 {
			m.stepDuration.Observe(d.Seconds())
		}
	}
}

func (m *Metrics) retried() {
	if m != nil {
		m.retries.Inc()
	}
}

func (m *Metrics) queue(n int) {
	if m != nil {
		m.queueDepth.Set(float64(n))
	}
}

func (m *Metrics) batch(n int) {
	if m != nil {
		m.batchSize.Observe(float64(n))
	}
}

func (m *Metrics) committed(d time.Duration) {
	if m != nil {
		m.commitTime.Observe(d.Seconds())
	}
}

func (m *Metrics) commitFailed() {
	if m != nil {
		m.commitFailures.Inc()
	}
}

func (m *Metrics) suspended(n int) {
	if m != nil {
		m.suspendedRuns.Set(float64(n))
	}
}

// instance records the current instance id and its lease's end.
func (m *Metrics) instance(id string, until time.Time) {
	if m != nil {
		m.instanceInfo.Reset() // an instance that registered again has a new id
		m.instanceInfo.WithLabelValues(id).Set(1)
		m.leaseExpiry.Set(float64(until.UnixNano()) / 1e9)
	}
}

func (m *Metrics) tookOver(n int) {
	if m != nil && n > 0 {
		m.takenOver.Add(float64(n))
	}
}

func (m *Metrics) repairedOwnership(n int) {
	if m != nil && n > 0 {
		m.repaired.Add(float64(n))
	}
}

// runDropped counts a run that left this engine unfinished, to another
// instance.
func (m *Metrics) runDropped() {
	if m != nil {
		m.fencedRuns.Inc()
		m.activeRuns.Dec()
	}
}
