package plaid

import (
	"log/slog"
	"reflect"
	"strings"
)

const redacted = "[redacted]"

// AccessToken is an Item's access token (Plaid's AccessToken schema,
// "access-<environment>-<identifier>"). It is a credential: it marshals to
// JSON as the plain string, because request bodies must carry it, but every
// other rendering (fmt's %v, %s, %+v, %#v, slog) prints "[redacted]", so a
// request struct or a token logged by mistake does not leak it. Convert with
// string(token) where the real value is needed.
type AccessToken string

// String returns "[redacted]", never the token.
func (AccessToken) String() string { return redacted }

// GoString returns "[redacted]", for %#v.
func (AccessToken) GoString() string { return redacted }

// LogValue logs "[redacted]".
func (AccessToken) LogValue() slog.Value { return slog.StringValue(redacted) }

// ProcessorToken is a processor token (Plaid's ProcessorToken schema,
// "processor-<environment>-<identifier>"): like AccessToken, a credential
// that prints as "[redacted]" everywhere but in JSON.
type ProcessorToken string

// String returns "[redacted]", never the token.
func (ProcessorToken) String() string { return redacted }

// GoString returns "[redacted]", for %#v.
func (ProcessorToken) GoString() string { return redacted }

// LogValue logs "[redacted]".
func (ProcessorToken) LogValue() slog.Value { return slog.StringValue(redacted) }

// PublicToken is a public token from Link or /sandbox/public_token/create:
// short-lived and single-use, but exchangeable for an access token, so it is
// treated like one and prints as "[redacted]" everywhere but in JSON.
type PublicToken string

// String returns "[redacted]", never the token.
func (PublicToken) String() string { return redacted }

// GoString returns "[redacted]", for %#v.
func (PublicToken) GoString() string { return redacted }

// LogValue logs "[redacted]".
func (PublicToken) LogValue() slog.Value { return slog.StringValue(redacted) }

// redactedGroup renders v, a struct or pointer to one, as a slog group of its
// JSON fields. Token fields resolve to "[redacted]" through their own
// LogValue. The request and response types that carry tokens use it for
// their LogValue, because slog's JSON handler would otherwise marshal them,
// tokens included, with encoding/json.
func redactedGroup(v any) slog.Value {
	rv := reflect.Indirect(reflect.ValueOf(v))
	if rv.Kind() != reflect.Struct {
		return slog.StringValue(redacted)
	}
	rt := rv.Type()
	attrs := make([]slog.Attr, 0, rt.NumField())
	for i := range rt.NumField() {
		f := rt.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		attrs = append(attrs, slog.Any(name, rv.Field(i).Interface()))
	}
	return slog.GroupValue(attrs...)
}

// LogValue logs the request without its token.
func (r TransactionsSyncRequest) LogValue() slog.Value { return redactedGroup(r) }

// LogValue logs the request without its token.
func (r ProcessorTransactionsSyncRequest) LogValue() slog.Value { return redactedGroup(r) }

// LogValue logs the request without its token.
func (r TransactionsGetRequest) LogValue() slog.Value { return redactedGroup(r) }

// LogValue logs the request without its token.
func (r TransactionsRecurringGetRequest) LogValue() slog.Value { return redactedGroup(r) }

// LogValue logs the request without its token.
func (r ProcessorTransactionsRecurringGetRequest) LogValue() slog.Value { return redactedGroup(r) }

// LogValue logs the request without its token.
func (r TransactionsRefreshRequest) LogValue() slog.Value { return redactedGroup(r) }

// LogValue logs the request without its token.
func (r ProcessorTransactionsRefreshRequest) LogValue() slog.Value { return redactedGroup(r) }

// LogValue logs the request without its token.
func (r ItemGetRequest) LogValue() slog.Value { return redactedGroup(r) }

// LogValue logs the request without its token.
func (r ItemRemoveRequest) LogValue() slog.Value { return redactedGroup(r) }

// LogValue logs the request without its token.
func (r ItemPublicTokenExchangeRequest) LogValue() slog.Value { return redactedGroup(r) }

// LogValue logs the response without its token.
func (r ItemPublicTokenExchangeResponse) LogValue() slog.Value { return redactedGroup(r) }

// LogValue logs the request without its token.
func (r ProcessorTokenCreateRequest) LogValue() slog.Value { return redactedGroup(r) }

// LogValue logs the response without its token.
func (r ProcessorTokenCreateResponse) LogValue() slog.Value { return redactedGroup(r) }

// LogValue logs the response without its token.
func (r SandboxPublicTokenCreateResponse) LogValue() slog.Value { return redactedGroup(r) }

// LogValue logs the request without its token.
func (r SandboxItemFireWebhookRequest) LogValue() slog.Value { return redactedGroup(r) }

// LogValue logs the request without its token.
func (r SandboxTransactionsCreateRequest) LogValue() slog.Value { return redactedGroup(r) }
