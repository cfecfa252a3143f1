// Package plaidsim is a stateful, in-memory simulator of the Plaid API, for
// tests, the local demo and cmd/plaidsim: faithful enough that passing
// against it means working against Plaid.
//
// It serves Plaid's transactions product (/transactions/sync,
// /transactions/get, /transactions/recurring/get, /transactions/refresh,
// /user/transactions/refresh and the processor variants), Items (/item/get,
// /item/remove), the Sandbox flow that creates them
// (/sandbox/public_token/create, /item/public_token/exchange,
// /processor/token/create, /sandbox/item/fire_webhook,
// /sandbox/transactions/create) and /webhook_verification_key/get, with
// Plaid's credential rules, request validation, error bodies, rate limits
// and webhooks (signed with ES256, retried on Plaid's schedule).
//
// Item content is generated deterministically from Options.Seed; sync
// follows Plaid's cursor rules (net changes since a cursor, count across
// added, modified and removed, TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION
// when data changes between pages). Beyond Plaid's API, a control API under
// /sim/ — and the same operations as methods of *Sim — creates users and
// items of any size, changes transactions and recurring streams, puts items
// in error states, injects faults and exposes the ground truth. The /sim/
// API and every deviation from Plaid are documented in docs/plaidsim.md.
//
// A Sim is an http.Handler; serve it with httptest.NewServer or any
// http.Server. All state lives in the Sim, guarded by one mutex. It starts
// goroutines for readiness timers and webhook deliveries; Close stops them.
package plaidsim
