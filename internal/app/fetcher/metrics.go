package fetcher

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/fetch"
	"github.com/plaidstream/plaidstream/internal/plaid"
)

// messageOutcomes are every fetch.Decision outcome, the outcome label of
// fetcher_messages_total.
var messageOutcomes = []string{
	fetch.OutcomeSynced, fetch.OutcomeCoalesced, fetch.OutcomeUnknownOwner, fetch.OutcomeParked,
	fetch.OutcomeIgnored, fetch.OutcomeLeaseConflict, fetch.OutcomeFollowUp, fetch.OutcomeRetry, fetch.OutcomeNeedsUser,
	fetch.OutcomeGone, fetch.OutcomeDeadLetter, fetch.OutcomeItemEvent, fetch.OutcomeRecurring, fetch.OutcomeHandedBack,
}

// syncOutcomes are the outcome label of fetcher_syncs_total: what became of
// a sync that was attempted (Plaid was, or was about to be, called).
var syncOutcomes = []string{fetch.OutcomeSynced, fetch.OutcomeRetry, fetch.OutcomeNeedsUser, fetch.OutcomeGone, fetch.OutcomeDeadLetter}

// itemEventType is the event type label for every plaid.item.<status>
// event: the statuses follow Plaid's webhook codes, an open set.
const itemEventType = "plaid.item"

var eventTypes = []string{
	events.TypeTransactionAdded, events.TypeTransactionModified, events.TypeTransactionRemoved, events.TypeTransactionPosted,
	events.TypeRecurringStreamAdded, events.TypeRecurringStreamModified, events.TypeRecurringStreamRemoved,
	events.TypeSyncCompleted, itemEventType,
}

// plaidEndpoints are the endpoints the fetcher calls, pre-created as labels.
var plaidEndpoints = []string{"/transactions/sync", "/processor/transactions/sync", "/transactions/recurring/get", "/processor/transactions/recurring/get"}

// metrics are the fetcher's Prometheus collectors, registered on the
// registry run creates (never the global one).
type metrics struct {
	messages         *prometheus.CounterVec
	syncs            *prometheus.CounterVec
	syncDuration     prometheus.Histogram
	syncPages        prometheus.Counter
	syncRestarts     prometheus.Counter
	eventsPublished  *prometheus.CounterVec
	plaidRequests    *prometheus.CounterVec
	plaidDuration    *prometheus.HistogramVec
	plaidRateLimited *prometheus.CounterVec
	deadLetters      prometheus.Counter
	leaseConflicts   prometheus.Counter
	parkedItems      prometheus.Gauge
	itemsOverdue     prometheus.Gauge
	sweepSyncs       prometheus.Counter
	refreshes        *prometheus.CounterVec
	adminRequests    *prometheus.CounterVec
}

// refreshOutcomes are the outcome label of fetcher_refreshes_total.
var refreshOutcomes = []string{"accepted", "limited", "plaid_rate_limited", "plaid_error", "error"}

// newMetrics registers the collectors. consumerPending, if set, is read on
// each scrape for fetcher_consumer_pending.
func newMetrics(reg prometheus.Registerer, consumerPending func() float64) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		messages: f.NewCounterVec(prometheus.CounterOpts{
			Name: "fetcher_messages_total",
			Help: "PLAID_WEBHOOKS messages handled, by outcome.",
		}, []string{"outcome"}),
		syncs: f.NewCounterVec(prometheus.CounterOpts{
			Name: "fetcher_syncs_total",
			Help: "Transaction syncs attempted, by outcome (synced, retry, needs_user, gone, dead_letter).",
		}, []string{"outcome"}),
		syncDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "fetcher_sync_duration_seconds",
			Help:    "Time of a successful sync, from lease to saved cursor.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}),
		syncPages: f.NewCounter(prometheus.CounterOpts{
			Name: "fetcher_sync_pages_total",
			Help: "/transactions/sync pages fetched by successful syncs.",
		}),
		syncRestarts: f.NewCounter(prometheus.CounterOpts{
			Name: "fetcher_sync_restarts_total",
			Help: "Syncs restarted from their first cursor after a mutation during pagination.",
		}),
		eventsPublished: f.NewCounterVec(prometheus.CounterOpts{
			Name: "fetcher_events_published_total",
			Help: "Events stored in PLAID_EVENTS, by type (plaid.item for every plaid.item.<status>); re-publications after a crash count again.",
		}, []string{"type"}),
		plaidRequests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "fetcher_plaid_requests_total",
			Help: "HTTP attempts to Plaid, by endpoint and status class (error: no answer).",
		}, []string{"endpoint", "status_class"}),
		plaidDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "fetcher_plaid_request_duration_seconds",
			Help:    "Time of one HTTP attempt to Plaid, by endpoint.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"endpoint"}),
		plaidRateLimited: f.NewCounterVec(prometheus.CounterOpts{
			Name: "fetcher_plaid_rate_limited_total",
			Help: "Plaid answers with HTTP 429, by endpoint.",
		}, []string{"endpoint"}),
		deadLetters: f.NewCounter(prometheus.CounterOpts{
			Name: "fetcher_dead_letters_total",
			Help: "Messages dead-lettered to PLAID_DLQ and terminated.",
		}),
		leaseConflicts: f.NewCounter(prometheus.CounterOpts{
			Name: "fetcher_lease_conflicts_total",
			Help: "Messages put back because another worker held the item's sync lease.",
		}),
		parkedItems: f.NewGauge(prometheus.GaugeOpts{
			Name: "fetcher_parked_items",
			Help: "Items and processor accounts parked (no syncs until repaired), refreshed every minute from PLAID_ITEMS.",
		}),
	}
	m.itemsOverdue = f.NewGauge(prometheus.GaugeOpts{
		Name: "fetcher_items_overdue",
		Help: "Registered, unparked items and processor accounts that are overdue: a trigger ran out of deliveries, they never synced, or their last successful sync is older than the reconciliation threshold.",
	})
	m.sweepSyncs = f.NewCounter(prometheus.CounterOpts{
		Name: "fetcher_sweep_syncs_total",
		Help: "Syncs the reconciliation sweep requested for overdue items.",
	})
	m.refreshes = f.NewCounterVec(prometheus.CounterOpts{
		Name: "fetcher_refreshes_total",
		Help: "Refresh requests through the admin API or CLI, by kind (item, user) and outcome.",
	}, []string{"kind", "outcome"})
	m.adminRequests = f.NewCounterVec(prometheus.CounterOpts{
		Name: "fetcher_admin_requests_total",
		Help: "Admin API (/v1/) requests by HTTP status code.",
	}, []string{"code"})
	for _, kind := range []string{"item", "user"} {
		for _, o := range refreshOutcomes {
			m.refreshes.WithLabelValues(kind, o)
		}
	}
	if consumerPending != nil {
		f.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "fetcher_consumer_pending",
			Help: "PLAID_WEBHOOKS messages not yet delivered to the fetcher consumer (NaN if NATS did not answer).",
		}, consumerPending)
	}
	// Pre-create the known label values so dashboards show zeros.
	for _, o := range messageOutcomes {
		m.messages.WithLabelValues(o)
	}
	for _, o := range syncOutcomes {
		m.syncs.WithLabelValues(o)
	}
	for _, t := range eventTypes {
		m.eventsPublished.WithLabelValues(t)
	}
	for _, ep := range plaidEndpoints {
		for _, c := range []string{"2xx", "4xx", "5xx", "error"} {
			m.plaidRequests.WithLabelValues(ep, c)
		}
		m.plaidDuration.WithLabelValues(ep)
		m.plaidRateLimited.WithLabelValues(ep)
	}
	return m
}

// newRegistry returns a fresh registry with the Go and process collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// handled records one message's decision (fetchjs.ConsumerOptions.Observe).
func (m *metrics) handled(t fetch.Trigger, d fetch.Decision) {
	m.messages.WithLabelValues(d.Outcome).Inc()
	switch d.Outcome {
	case fetch.OutcomeLeaseConflict, fetch.OutcomeFollowUp:
		m.leaseConflicts.Inc()
	case fetch.OutcomeItemEvent, fetch.OutcomeNeedsUser, fetch.OutcomeGone:
		m.eventsPublished.WithLabelValues(itemEventType).Inc()
	}
	if d.Verdict == fetch.DeadLetter {
		m.deadLetters.Inc()
	}
	switch d.Outcome {
	case fetch.OutcomeSynced, fetch.OutcomeNeedsUser, fetch.OutcomeGone:
		m.syncs.WithLabelValues(d.Outcome).Inc()
	case fetch.OutcomeRetry, fetch.OutcomeDeadLetter:
		if isSyncTrigger(t) {
			m.syncs.WithLabelValues(d.Outcome).Inc()
		}
	}
	if d.Sync == nil {
		return
	}
	if d.Outcome == fetch.OutcomeSynced {
		m.syncDuration.Observe(d.Sync.Duration.Seconds())
		m.syncPages.Add(float64(d.Sync.Pages))
		m.syncRestarts.Add(float64(d.Sync.Restarts))
	}
	for typ, n := range d.Sync.Events {
		if strings.HasPrefix(typ, events.TypeItemPrefix) {
			typ = itemEventType
		}
		m.eventsPublished.WithLabelValues(typ).Add(float64(n))
	}
}

// isSyncTrigger reports whether a message asks for a transactions sync.
func isSyncTrigger(t fetch.Trigger) bool {
	switch t.Webhook.WebhookType {
	case events.SyncRequestType:
		return true
	case "TRANSACTIONS":
		return t.Webhook.WebhookCode != "RECURRING_TRANSACTIONS_UPDATE"
	}
	return false
}

// plaidRequest records one HTTP attempt (plaid.Config.OnRequest).
func (m *metrics) plaidRequest(r plaid.RequestInfo) {
	m.plaidRequests.WithLabelValues(r.Endpoint, r.StatusClass()).Inc()
	m.plaidDuration.WithLabelValues(r.Endpoint).Observe(r.Duration.Seconds())
	if r.Status == 429 {
		m.plaidRateLimited.WithLabelValues(r.Endpoint).Inc()
	}
}
