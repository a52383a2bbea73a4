package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/reddot-dev/reddot"
)

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReady fails while the store or the bus cannot be reached.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.eng.Ready(ctx); err != nil {
		s.log.Warn("not ready", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: errorDetail{Code: reddot.EUNAVAILABLE, Message: err.Error()}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// handleStats reports this node's connections per transport, topics and
// event rates. It needs an API key.
func (s *Server) handleStats(w http.ResponseWriter, r *http.Request) {
	if err := s.publisher(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.rates.snapshot(s.eng.Stats()))
}

func (s *Server) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(&statsCollector{s: s})
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

var (
	descConns      = prometheus.NewDesc("reddot_connections", "Open subscriber connections by transport.", []string{"transport"}, nil)
	descTopics     = prometheus.NewDesc("reddot_topics", "Topics with local subscribers.", nil, nil)
	descPublished  = prometheus.NewDesc("reddot_events_published_total", "Events fanned out on this node.", nil, nil)
	descDeliveries = prometheus.NewDesc("reddot_deliveries_total", "Events queued to local connections.", nil, nil)
)

type statsCollector struct{ s *Server }

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descConns
	ch <- descTopics
	ch <- descPublished
	ch <- descDeliveries
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.eng.Stats()
	for t, n := range st.Connections {
		ch <- prometheus.MustNewConstMetric(descConns, prometheus.GaugeValue, float64(n), t)
	}
	ch <- prometheus.MustNewConstMetric(descTopics, prometheus.GaugeValue, float64(st.Topics))
	ch <- prometheus.MustNewConstMetric(descPublished, prometheus.CounterValue, float64(st.Published))
	ch <- prometheus.MustNewConstMetric(descDeliveries, prometheus.CounterValue, float64(st.Deliveries))
}
