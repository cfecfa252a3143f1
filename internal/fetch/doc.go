// Package fetch is the fetcher's core: it turns what Plaid returns
// (internal/plaid) into the normalized CloudEvents of internal/events.
//
// Everything here is pure: no I/O, no clock (the observation
// time is a parameter), no randomness. The same inputs always give the same
// event ids and bodies, which is what lets a re-run after a crash re-publish
// exactly the ids JetStream's duplicate window and consumers already know.
//
//   - NormalizeTransaction, NormalizeRemovedTransaction and NormalizeStream
//     map Plaid's objects to the versioned payloads.
//   - BuildUpdateEvents turns one /transactions/sync update into its events:
//     posted pairs, added, modified, removed, then plaid.sync.completed.
//   - DiffRecurring compares /transactions/recurring/get with the owner's
//     last Snapshot and returns the stream events and the next Snapshot;
//     RecurringMessages re-derives the events between two stored snapshots.
//   - BuildItemEvent builds a plaid.item.<status> event.
//
// Every builder returns Messages: the NATS subject, the Nats-Msg-Id (the
// event id) and the encoded CloudEvent, ready to publish in order.
package fetch
