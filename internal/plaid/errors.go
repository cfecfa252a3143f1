package plaid

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// ErrTransport is wrapped by every error that means no complete answer came
// back from Plaid: connection failures, timeouts, a cancelled context, a
// truncated body. Such failures are transient from Plaid's side; callers that
// cancelled ctx themselves can tell by errors.Is(err, context.Canceled).
//
//	if errors.Is(err, plaid.ErrTransport) { /* retry later */ }
var ErrTransport = errors.New("transport failure")

// ErrorCodeUnexpectedResponse is the ErrorCode of an *Error built from a
// non-200 response whose body is not a PlaidError (for example an HTML page
// from a load balancer). It is plaidstream's code, not Plaid's.
const ErrorCodeUnexpectedResponse = "UNEXPECTED_RESPONSE"

// Plaid error codes the helpers below recognise.
const (
	errorCodeInvalidAPIKeys                  = "INVALID_API_KEYS"
	errorCodeInvalidWebhookVerificationKeyID = "INVALID_WEBHOOK_VERIFICATION_KEY_ID"
)

// Error is a Plaid error response (Plaid's PlaidError schema) together with
// the HTTP status it came with. The client returns one for every non-200
// answer; see ErrorCodeUnexpectedResponse for answers that are not PlaidErrors.
//
// Plaid asks clients to branch on ErrorType and ErrorCode, not on HTTPStatus,
// and to quote RequestID to its support.
type Error struct {
	ErrorType       string  `json:"error_type"`
	ErrorCode       string  `json:"error_code"`
	ErrorCodeReason *string `json:"error_code_reason,omitempty"`
	// ErrorMessage is Plaid's developer-facing text; not for matching.
	ErrorMessage string `json:"error_message"`
	// DisplayMessage is user-facing text, nil for most errors.
	DisplayMessage   *string `json:"display_message"`
	RequestID        string  `json:"request_id,omitempty"`
	DocumentationURL string  `json:"documentation_url,omitempty"`
	SuggestedAction  *string `json:"suggested_action,omitempty"`
	// Causes is set for some report errors; kept raw.
	Causes json.RawMessage `json:"causes,omitempty"`
	// Status is the HTTP status Plaid embeds when the error arrives inside a
	// webhook; nil in API responses (use HTTPStatus there).
	Status                  *int     `json:"status,omitempty"`
	RequiredAccountSubtypes []string `json:"required_account_subtypes,omitempty"`
	ProvidedAccountSubtypes []string `json:"provided_account_subtypes,omitempty"`

	// HTTPStatus is the status of the response that carried the error; 0
	// for an error embedded in a webhook or another response.
	HTTPStatus int `json:"-"`
	// Endpoint is the API path that was called, e.g. "/transactions/sync".
	Endpoint string `json:"-"`
	// RetryAfter is the delay the response's Retry-After header asked for,
	// 0 if it had none. Plaid does not document sending one; the client
	// honours it when it does (see Config.MaxBackoff).
	RetryAfter time.Duration `json:"-"`
}

// Error reports endpoint, status, type, code, message and request id, e.g.
//
//	plaid /webhook_verification_key/get: HTTP 400 INVALID_INPUT/INVALID_API_KEYS: invalid client_id or secret provided (request_id RZ6Omi1bzzwDaLo)
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("plaid")
	if e.Endpoint != "" {
		b.WriteString(" " + e.Endpoint)
	}
	fmt.Fprintf(&b, ": HTTP %d ", e.HTTPStatus)
	if e.ErrorType != "" {
		b.WriteString(e.ErrorType + "/")
	}
	b.WriteString(e.ErrorCode)
	if e.ErrorMessage != "" {
		b.WriteString(": " + e.ErrorMessage)
	}
	if e.RequestID != "" {
		b.WriteString(" (request_id " + e.RequestID + ")")
	}
	return b.String()
}

// IsUnknownWebhookKey reports whether err is Plaid's answer to
// /webhook_verification_key/get for a key id it does not know (HTTP 400
// INVALID_WEBHOOK_VERIFICATION_KEY_ID). Key ids are specific to an
// environment, so this also means "asked the wrong environment".
func IsUnknownWebhookKey(err error) bool {
	var e *Error
	return errors.As(err, &e) &&
		e.HTTPStatus == http.StatusBadRequest &&
		e.ErrorCode == errorCodeInvalidWebhookVerificationKeyID
}

// IsInvalidAPIKeys reports whether Plaid rejected the client_id or secret
// (INVALID_API_KEYS): a configuration error, not worth retrying.
func IsInvalidAPIKeys(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.ErrorCode == errorCodeInvalidAPIKeys
}
