package plaidsim

import (
	"net/http"
	"strings"
)

// PlaidError is Plaid's error body. The Sim fills RequestID and
// DocumentationURL when it sends one.
//
// The JSON field order is alphabetical, as in bodies captured from Plaid;
// display_message and suggested_action are always present, null when unset.
type PlaidError struct {
	DisplayMessage   *string `json:"display_message"`
	DocumentationURL string  `json:"documentation_url"`
	ErrorCode        string  `json:"error_code"`
	ErrorCodeReason  *string `json:"error_code_reason,omitempty"`
	ErrorMessage     string  `json:"error_message"`
	ErrorType        string  `json:"error_type"`
	RequestID        string  `json:"request_id"`
	SuggestedAction  *string `json:"suggested_action"`
}

// writeError answers status with e, completed with a fresh request_id and
// the documentation_url Plaid uses for e's type.
func writeError(w http.ResponseWriter, status int, e *PlaidError) {
	out := *e
	out.RequestID = newRequestID()
	if out.DocumentationURL == "" {
		out.DocumentationURL = documentationURL(out.ErrorType)
	}
	if rec, ok := w.(*statusRecorder); ok {
		rec.requestID = out.RequestID
	}
	writeJSON(w, status, &out)
}

// documentationURL follows the pattern of Plaid's answers, e.g.
// https://plaid.com/docs/?ref=error#invalid-request-errors.
func documentationURL(errorType string) string {
	if errorType == "" {
		return ""
	}
	anchor := strings.ToLower(strings.ReplaceAll(errorType, "_", "-"))
	anchor = strings.TrimSuffix(anchor, "-error")
	return "https://plaid.com/docs/?ref=error#" + anchor + "-errors"
}

func errNotFound() *PlaidError {
	return &PlaidError{ErrorType: "INVALID_REQUEST", ErrorCode: "NOT_FOUND", ErrorMessage: "not found"}
}

func errInvalidBody() *PlaidError {
	return &PlaidError{ErrorType: "INVALID_REQUEST", ErrorCode: "INVALID_BODY", ErrorMessage: "body could not be parsed as JSON"}
}
