// Package verify checks Plaid's Plaid-Verification webhook JWT over the raw
// request body, following Plaid's published procedure: the token must be
// ES256, signed by the key Plaid publishes for its kid at
// /webhook_verification_key/get, issued within the last five minutes, and
// carry the SHA-256 of the exact body bytes in request_body_sha256.
package verify
