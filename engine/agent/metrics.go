package agent

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the hub's Prometheus metrics; nil-safe when no registry is
// configured.
type metrics struct {
	dispatch *prometheus.HistogramVec
	commands *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, h *Hub) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		dispatch: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "baton_device_dispatch_seconds",
			Help:    "Time from a device step's dispatch to its command being sent to a device, by whether it had to wait for one.",
			Buckets: []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30},
		}, []string{"queued"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "baton_device_commands_total",
			Help: "Device command deliveries by final status (succeeded, failed, lost, cancelled).",
		}, []string{"status"}),
	}
	reg.MustRegister(m.dispatch, m.commands, loadCollector{h})
	return m
}

func (m *metrics) dispatched(start time.Time, queued bool) {
	if m == nil {
		return
	}
	q := "false"
	if queued {
		q = "true"
	}
	m.dispatch.WithLabelValues(q).Observe(time.Since(start).Seconds())
}

func (m *metrics) finished(status string) {
	if m == nil {
		return
	}
	m.commands.WithLabelValues(status).Inc()
}

var (
	inFlightDesc = prometheus.NewDesc("baton_device_in_flight", "Commands running on each connected device.", []string{"device"}, nil)
	slotsDesc    = prometheus.NewDesc("baton_device_slots", "Each connected device's --max-concurrency.", []string{"device"}, nil)
)

// loadCollector reports each connected device's load when scraped.
type loadCollector struct{ h *Hub }

func (loadCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- inFlightDesc
	ch <- slotsDesc
}

func (c loadCollector) Collect(ch chan<- prometheus.Metric) {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	for name, d := range c.h.devices {
		if d.sess == nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(d.inFlight), name)
		ch <- prometheus.MustNewConstMetric(slotsDesc, prometheus.GaugeValue, float64(d.maxConc), name)
	}
}
