package webhookd

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Outcomes of one webhook request, the outcome label of
// webhookd_webhooks_total. A small fixed set.
const (
	outcomeAccepted       = "accepted"        // stored, 200
	outcomeDuplicate      = "duplicate"       // already stored (same signed request), 200
	outcomeTooLarge       = "too_large"       // 413
	outcomeUnreadable     = "unreadable"      // body could not be read, 400
	outcomeUnverified     = "unverified"      // verification failed, 401
	outcomeKeyUnavailable = "key_unavailable" // verification key could not be fetched, 503
	outcomeMalformed      = "malformed"       // not JSON, or no type/code, 400
	outcomeUnsafeName     = "unsafe_name"     // a name that must not shape a subject, 400
	outcomePublishFailed  = "publish_failed"  // JetStream did not acknowledge, 503
)

// metrics are webhookd's Prometheus collectors, registered on the registry
// run creates (never the global one).
type metrics struct {
	webhooks        *prometheus.CounterVec
	verifyFailures  *prometheus.CounterVec
	keyFetches      *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	publishDuration *prometheus.HistogramVec

	// Children bound once, so a request does not hash its label values
	// into the vectors: by outcome, by verification failure reason, and the
	// two publish results. Values outside these sets go to the vectors.
	durationByOutcome map[string]prometheus.Observer
	failuresByReason  map[string]prometheus.Counter
	publishOK         prometheus.Observer
	publishError      prometheus.Observer
	// handled caches webhooks_total children by (type, code, outcome).
	// Type and code are set only for verified bodies (Plaid's small set of
	// names), so it holds what the vector holds.
	handledMu sync.RWMutex
	handled   map[webhookKey]prometheus.Counter
}

// webhookKey is the label values of one webhookd_webhooks_total child.
type webhookKey struct{ webhookType, webhookCode, outcome string }

func newMetrics(reg prometheus.Registerer, cachedKeys func() int) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		webhooks: f.NewCounterVec(prometheus.CounterOpts{
			Name: "webhookd_webhooks_total",
			Help: "Webhook requests by Plaid webhook_type, webhook_code (empty until the body is verified and decoded) and outcome.",
		}, []string{"webhook_type", "webhook_code", "outcome"}),
		verifyFailures: f.NewCounterVec(prometheus.CounterOpts{
			Name: "webhookd_verify_failures_total",
			Help: "Plaid-Verification failures by reason.",
		}, []string{"reason"}),
		keyFetches: f.NewCounterVec(prometheus.CounterOpts{
			Name: "webhookd_key_fetches_total",
			Help: "Verification key fetches from /webhook_verification_key/get by result (throttled: not sent, over the fetch rate).",
		}, []string{"result"}),
		requestDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "webhookd_request_duration_seconds",
			Help:    "Time from request start to response for POST /plaid/webhook, by outcome. Plaid gives up after 10 s.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"outcome"}),
		publishDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "webhookd_publish_duration_seconds",
			Help:    "Time to publish a webhook to JetStream and receive its PubAck, by result.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 3},
		}, []string{"result"}),
	}
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "webhookd_key_cache_keys",
		Help: "Live Plaid verification keys in the cache.",
	}, func() float64 { return float64(cachedKeys()) })
	// Pre-create the known label values so dashboards show zeros.
	verifyReasons := []string{"missing_header", "malformed", "bad_alg", "unknown_key", "expired_key", "bad_signature", "stale", "future", "body_mismatch", "key_fetch_failed"}
	keyFetchResults := []string{"ok", "unknown", "expired", "error", "throttled"}
	requestOutcomes := []string{outcomeAccepted, outcomeDuplicate, outcomeTooLarge, outcomeUnreadable, outcomeUnverified, outcomeKeyUnavailable, outcomeMalformed, outcomeUnsafeName, outcomePublishFailed}
	m.failuresByReason = make(map[string]prometheus.Counter, len(verifyReasons))
	for _, r := range verifyReasons {
		m.failuresByReason[r] = m.verifyFailures.WithLabelValues(r)
	}
	for _, r := range keyFetchResults {
		m.keyFetches.WithLabelValues(r)
	}
	m.durationByOutcome = make(map[string]prometheus.Observer, len(requestOutcomes))
	for _, o := range requestOutcomes {
		m.durationByOutcome[o] = m.requestDuration.WithLabelValues(o)
	}
	m.handled = make(map[webhookKey]prometheus.Counter)
	m.publishOK = m.publishDuration.WithLabelValues("ok")
	m.publishError = m.publishDuration.WithLabelValues("error")
	return m
}

// newRegistry returns a fresh registry with the Go and process collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func (m *metrics) webhookHandled(webhookType, webhookCode, outcome string, took time.Duration) {
	key := webhookKey{webhookType, webhookCode, outcome}
	m.handledMu.RLock()
	c, ok := m.handled[key]
	m.handledMu.RUnlock()
	if !ok {
		c = m.webhooks.WithLabelValues(webhookType, webhookCode, outcome)
		m.handledMu.Lock()
		m.handled[key] = c
		m.handledMu.Unlock()
	}
	c.Inc()
	if o, ok := m.durationByOutcome[outcome]; ok {
		o.Observe(took.Seconds())
	} else {
		m.requestDuration.WithLabelValues(outcome).Observe(took.Seconds())
	}
}

func (m *metrics) verifyFailed(reason string) {
	if c, ok := m.failuresByReason[reason]; ok {
		c.Inc()
		return
	}
	m.verifyFailures.WithLabelValues(reason).Inc()
}

func (m *metrics) keyFetched(result string) { m.keyFetches.WithLabelValues(result).Inc() }

func (m *metrics) published(err error, took time.Duration) {
	if err != nil {
		m.publishError.Observe(took.Seconds())
		return
	}
	m.publishOK.Observe(took.Seconds())
}
