// Package plaid is plaidstream's client for the Plaid API.
//
// It speaks Plaid's wire protocol directly (POST, JSON bodies, the
// PLAID-CLIENT-ID, PLAID-SECRET and Plaid-Version headers) with the types this
// service needs, so Plaid's SDK never leaks into the rest of the code base.
// Every call is one HTTP request bound to the caller's context; failures come
// back either as a *Error (Plaid answered with something other than 200) or as
// an error wrapping ErrTransport (no usable answer: network failure, timeout,
// cancelled context, truncated body).
//
// The secret is sent only in the PLAID-SECRET header. It never appears in
// error text: Plaid's own messages are scrubbed of it, and bodies that are not
// Plaid errors are never quoted.
package plaid
