package plaidspec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// Spec is the loaded, validated document with a router over its paths. It is
// safe for concurrent use; load it once per test binary (Load parses ~110 KB
// of YAML).
type Spec struct {
	doc    *openapi3.T
	router routers.Router
}

// Load parses and validates the embedded document, examples included.
//
// The full upstream document needs openapi3.DisableExamplesValidation (its
// ConnectedApplication example has a malformed date-time); the reduced copy
// does not, so examples stay checked: every example a test borrows is known
// to match its schema.
//
// The servers list (https://production.plaid.com, https://sandbox.plaid.com)
// is dropped after validation, so routes match on the path alone and an
// httptest server on 127.0.0.1 is routed like Plaid.
func Load() (*Spec, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(document)
	if err != nil {
		return nil, fmt.Errorf("plaidspec: load: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("plaidspec: validate document: %w", err)
	}
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("plaidspec: router: %w", err)
	}
	return &Spec{doc: doc, router: router}, nil
}

// Doc returns the parsed document, for checks this package does not offer.
// Callers must not modify it.
func (s *Spec) Doc() *openapi3.T { return s.doc }

// options is shared by request and response validation. Plaid's security
// schemes are three header API keys (PLAID-CLIENT-ID, PLAID-SECRET,
// Plaid-Version); Plaid also accepts the credentials in the body, so
// presence is not enforced here — tests check the headers themselves.
func options() *openapi3filter.Options {
	return &openapi3filter.Options{
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		// Plaid answers only with statuses the spec covers via "default".
		IncludeResponseStatus: true,
	}
}

// input routes req and prepares a validation input that reads body. req is
// not modified.
func (s *Spec) input(ctx context.Context, req *http.Request, body []byte) (*openapi3filter.RequestValidationInput, error) {
	r := req.Clone(ctx)
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	route, params, err := s.router.FindRoute(r)
	if err != nil {
		return nil, fmt.Errorf("plaidspec: %s %s: %w", req.Method, req.URL.Path, err)
	}
	return &openapi3filter.RequestValidationInput{
		Request:    r,
		PathParams: params,
		Route:      route,
		Options:    options(),
	}, nil
}

// ValidateRequest checks that req, with body as its body, is a request the
// spec defines: a known path and method, and a body matching the
// operation's request schema. req's own Body is not read.
func (s *Spec) ValidateRequest(ctx context.Context, req *http.Request, body []byte) error {
	in, err := s.input(ctx, req, body)
	if err != nil {
		return err
	}
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
		return fmt.Errorf("plaidspec: request %s %s: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

// ValidateResponse checks a response to req against the spec: its status
// must be declared (Plaid's operations declare 200 and "default"), and its
// Content-Type and body must match that response's schema — the operation's
// response type for 200, PlaidError otherwise. The request itself is only
// routed, not validated, so deliberately malformed requests can have their
// answers checked.
func (s *Spec) ValidateResponse(ctx context.Context, req *http.Request, reqBody []byte, status int, header http.Header, body []byte) error {
	in, err := s.input(ctx, req, reqBody)
	if err != nil {
		return err
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 header,
		Options:                in.Options,
	}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Errorf("plaidspec: response %d to %s %s: %w", status, req.Method, req.URL.Path, err)
	}
	return nil
}

// ValidateExchange is ValidateRequest followed by ValidateResponse; it
// returns both failures if both fail.
func (s *Spec) ValidateExchange(ctx context.Context, req *http.Request, reqBody []byte, status int, respHeader http.Header, respBody []byte) error {
	return errors.Join(
		s.ValidateRequest(ctx, req, reqBody),
		s.ValidateResponse(ctx, req, reqBody, status, respHeader, respBody),
	)
}

// ValidateSchema checks a JSON document against the component schema name,
// e.g. "PlaidError" or "SyncUpdatesAvailableWebhook".
func (s *Spec) ValidateSchema(name string, data []byte) error {
	ref := s.doc.Components.Schemas[name]
	if ref == nil || ref.Value == nil {
		return fmt.Errorf("plaidspec: no component schema %q", name)
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("plaidspec: %s: %w", name, err)
	}
	if err := s.doc.ValidateSchemaJSON(ref.Value, v); err != nil {
		return fmt.Errorf("plaidspec: %s: %w", name, err)
	}
	return nil
}

// ResponseExample returns, as JSON, the named example of the application/json
// response with the given status of POST path, e.g.
// ResponseExample("/webhook_verification_key/get", 200, "example-1").
func (s *Spec) ResponseExample(path string, status int, name string) ([]byte, error) {
	item := s.doc.Paths.Value(path)
	if item == nil || item.Post == nil {
		return nil, fmt.Errorf("plaidspec: no operation POST %s", path)
	}
	resp := item.Post.Responses.Value(strconv.Itoa(status))
	if resp == nil || resp.Value == nil {
		return nil, fmt.Errorf("plaidspec: POST %s has no %d response", path, status)
	}
	media := resp.Value.Content.Get("application/json")
	if media == nil {
		return nil, fmt.Errorf("plaidspec: POST %s %d has no application/json content", path, status)
	}
	ex := media.Examples[name]
	if ex == nil || ex.Value == nil {
		return nil, fmt.Errorf("plaidspec: POST %s %d has no example %q", path, status, name)
	}
	return json.Marshal(ex.Value.Value)
}

// SchemaExample returns, as JSON, the named entry of a component schema's
// x-examples, e.g. SchemaExample("SyncUpdatesAvailableWebhook", "example-1").
// Examples are values, not wire bytes: Plaid's webhook bodies are
// 2-space-indented, which callers must produce themselves.
func (s *Spec) SchemaExample(schema, name string) ([]byte, error) {
	ref := s.doc.Components.Schemas[schema]
	if ref == nil || ref.Value == nil {
		return nil, fmt.Errorf("plaidspec: no component schema %q", schema)
	}
	examples, ok := ref.Value.Extensions["x-examples"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("plaidspec: schema %s has no x-examples", schema)
	}
	ex, ok := examples[name]
	if !ok {
		return nil, fmt.Errorf("plaidspec: schema %s has no example %q", schema, name)
	}
	return json.Marshal(ex)
}
