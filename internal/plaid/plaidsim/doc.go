// Package plaidsim is an in-process simulator of the Plaid API, for tests and
// the local demo.
//
// For now it serves what webhook verification needs:
// POST /webhook_verification_key/get with Plaid's authentication, error
// bodies and status codes, signing-key rotation and expiry, fault injection,
// and a simulator-only control endpoint, POST /sim/webhooks/send, that signs a
// webhook body the way Plaid does and delivers it to a URL.
//
// A Sim is an http.Handler; serve it with httptest.NewServer or any
// http.Server. All state lives in the Sim, guarded by a mutex; it starts no
// goroutines of its own.
package plaidsim
