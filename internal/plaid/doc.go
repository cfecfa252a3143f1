// Package plaid is plaidstream's client for the Plaid API: the transactions
// product (sync, get, recurring, refresh), Items, webhook verification keys,
// and Plaid's Sandbox flow for tests and demos.
//
// It speaks Plaid's wire protocol directly (POST, JSON bodies, the
// PLAID-CLIENT-ID, PLAID-SECRET and Plaid-Version headers) with types named
// after Plaid's schemas and carrying Plaid's JSON field names, so Plaid's SDK
// never leaks into the rest of the code base. Every request and response the
// tests exercise is checked against Plaid's official OpenAPI document
// (package plaidspec).
//
// # Calls, timeouts and retries
//
// Each method is one API call bound to the caller's context. A call makes up
// to Config.MaxAttempts HTTP attempts, each bounded by the endpoint's timeout
// (Config.Timeouts), with a capped, jittered exponential pause between them.
// Only failures a retry can fix are retried, and billed or state-changing
// calls only when Plaid certainly did not act on them; see Client.
//
// # Errors
//
// Failures come back as a *Error (Plaid answered with something other than
// 200; it carries Plaid's error_type, error_code, messages and request_id), as
// an error wrapping ErrTransport (no usable answer: network failure, timeout,
// cancelled context, truncated body), or as a plain error for requests the
// client refuses to send. Classify maps any of them to a Class the caller can
// act on: retry later, restart the sync loop, the Item needs its user, the
// Item is gone, or our bug.
//
// # Syncing
//
// SyncTransactions and SyncProcessorTransactions page through
// /transactions/sync from a cursor and return one complete, consistent
// update, restarting from the start cursor when Plaid reports that the data
// changed during pagination. They persist nothing: the caller applies the
// update, then stores its NextCursor.
//
// # Money and fidelity
//
// Amounts are Decimal, the exact text of Plaid's JSON numbers, never float64.
// Transaction.Raw and TransactionStream.Raw keep each object exactly as
// Plaid sent it, fields this package does not model included.
//
// # Secrets
//
// The secret is sent only in the PLAID-SECRET header; access, processor and
// public tokens only in request bodies. None of them appears in error text:
// Plaid's own messages are scrubbed of them, and bodies that are not Plaid
// errors are never quoted. AccessToken and ProcessorToken print as
// "[redacted]" with fmt and slog.
package plaid
