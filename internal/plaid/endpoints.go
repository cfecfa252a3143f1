package plaid

import "time"

// endpoint is what the client knows about one Plaid API path.
type endpoint struct {
	path string
	// timeout is the default bound of one attempt (Config.Timeouts
	// overrides it).
	timeout time.Duration
	// idempotent: sending the request twice does no harm, so it may be
	// retried after a 5xx or a lost answer. Billed or state-changing calls
	// are not (see Client).
	idempotent bool
}

// Attempt timeouts. Refresh: Plaid says it "typically" answers in under 10 s
// but "occasionally up to 30 seconds or more". Sync, get and recurring pages
// can be large, and a first historical sync is up to 8× slower than
// /transactions/get [MIG]. Everything else is a small lookup.
const (
	timeoutRefresh = 60 * time.Second
	timeoutData    = 30 * time.Second
	timeoutLookup  = 15 * time.Second
)

var (
	epTransactionsSync                  = endpoint{"/transactions/sync", timeoutData, true}
	epProcessorTransactionsSync         = endpoint{"/processor/transactions/sync", timeoutData, true}
	epTransactionsGet                   = endpoint{"/transactions/get", timeoutData, true}
	epTransactionsRecurringGet          = endpoint{"/transactions/recurring/get", timeoutData, true}
	epProcessorTransactionsRecurringGet = endpoint{"/processor/transactions/recurring/get", timeoutData, true}
	epTransactionsRefresh               = endpoint{"/transactions/refresh", timeoutRefresh, false}
	epProcessorTransactionsRefresh      = endpoint{"/processor/transactions/refresh", timeoutRefresh, false}
	epUserTransactionsRefresh           = endpoint{"/user/transactions/refresh", timeoutRefresh, false}
	epWebhookVerificationKeyGet         = endpoint{"/webhook_verification_key/get", timeoutLookup, true}
	epItemGet                           = endpoint{"/item/get", timeoutLookup, true}
	epItemRemove                        = endpoint{"/item/remove", timeoutLookup, false}
	epItemPublicTokenExchange           = endpoint{"/item/public_token/exchange", timeoutLookup, false}
	epProcessorTokenCreate              = endpoint{"/processor/token/create", timeoutLookup, false}
	epSandboxPublicTokenCreate          = endpoint{"/sandbox/public_token/create", timeoutData, false}
	// Firing a sandbox webhook twice only delivers it twice, which
	// receivers must tolerate anyway.
	epSandboxItemFireWebhook    = endpoint{"/sandbox/item/fire_webhook", timeoutLookup, true}
	epSandboxTransactionsCreate = endpoint{"/sandbox/transactions/create", timeoutData, false}
)

// endpoints indexes every endpoint by path.
var endpoints = func() map[string]endpoint {
	m := make(map[string]endpoint)
	for _, ep := range []endpoint{
		epTransactionsSync, epProcessorTransactionsSync, epTransactionsGet,
		epTransactionsRecurringGet, epProcessorTransactionsRecurringGet,
		epTransactionsRefresh, epProcessorTransactionsRefresh, epUserTransactionsRefresh,
		epWebhookVerificationKeyGet, epItemGet, epItemRemove, epItemPublicTokenExchange,
		epProcessorTokenCreate, epSandboxPublicTokenCreate, epSandboxItemFireWebhook,
		epSandboxTransactionsCreate,
	} {
		m[ep.path] = ep
	}
	return m
}()
