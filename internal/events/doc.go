// Package events is plaidstream's wire contract with other services: stream
// and subject names, message header names, message-id derivation and typed
// decoders for what we publish on NATS JetStream.
//
// It imports only the standard library, so every binary and any Go consumer
// can depend on it without pulling in a transport. docs/events.md describes
// the same contract for other languages.
package events
