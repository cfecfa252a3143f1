// Package asyncapitest checks docs/asyncapi.yaml, the AsyncAPI 3.0.0
// description of everything plaidstream publishes on NATS JetStream, against
// the code. It has no exported API: its tests are the point.
//
// The tests, all offline:
//
//   - validate the document against the official AsyncAPI 3.0.0 JSON Schema,
//     vendored in testdata/asyncapi-specs;
//   - resolve every $ref, in the document and in the schemas/ files it
//     reaches, and reach every schemas/*.schema.json;
//   - find every event type internal/events can emit (its Type* and
//     ItemStatus* constants, read with go/ast so a new one cannot be
//     forgotten) and require one message for each, whose payload accepts a
//     real event of that type and no other message's does;
//   - match every channel address against the subject builders of
//     internal/events and its x-jetstream extension against the stream
//     specs;
//   - validate headers built by internal/events, sync request bodies, the
//     golden events of internal/fetch and the document's own examples against
//     the message schemas.
//
// scripts/asyncapi/validate.sh runs the official JavaScript parser
// (@asyncapi/parser) on the same document.
package asyncapitest
