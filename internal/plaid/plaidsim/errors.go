package plaidsim

import (
	"fmt"
	"net/http"
	"strings"
)

// PlaidError is Plaid's error body. The Sim fills RequestID and
// DocumentationURL when it sends one.
//
// The JSON field order is alphabetical, as in bodies captured from Plaid;
// display_message and suggested_action are always present, null when unset.
// Status is sent only where Plaid sends it (the examples of
// /sandbox/transactions/create, per-Item results of
// /user/transactions/refresh).
type PlaidError struct {
	DisplayMessage   *string `json:"display_message"`
	DocumentationURL string  `json:"documentation_url"`
	ErrorCode        string  `json:"error_code"`
	ErrorCodeReason  *string `json:"error_code_reason,omitempty"`
	ErrorMessage     string  `json:"error_message"`
	ErrorType        string  `json:"error_type"`
	RequestID        string  `json:"request_id"`
	Status           *int    `json:"status,omitempty"`
	SuggestedAction  *string `json:"suggested_action"`
}

// Error is a refused call: the HTTP status and the PlaidError body the Sim
// answers. The exported Go API returns it (as an error) where the matching
// HTTP endpoint would answer an error.
type Error struct {
	Status int
	Body   PlaidError
}

// Error describes the refusal: status, type, code and message.
func (e *Error) Error() string {
	return fmt.Sprintf("plaidsim: %d %s/%s: %s", e.Status, e.Body.ErrorType, e.Body.ErrorCode, e.Body.ErrorMessage)
}

// newError builds an *Error.
func newError(status int, errorType, code, message string) *Error {
	return &Error{Status: status, Body: PlaidError{ErrorType: errorType, ErrorCode: code, ErrorMessage: message}}
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

// writeErr answers err.
func writeErr(w http.ResponseWriter, err *Error) {
	writeError(w, err.Status, &err.Body)
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

// knownError is one entry of the catalogue of Plaid error codes the Sim can
// answer, with the status, type and messages Plaid's error pages show.
type knownError struct {
	errorType string
	status    int
	message   string
	display   string // "" means null
}

const rateLimitMessage = "rate limit exceeded for attempts to access this item. please try again later"

// plaidErrors is the catalogue: errors the Sim produces itself, and those
// tests can inject (faults, sticky Item errors) by code alone. Messages are
// Plaid's (plaid.com/docs/errors, 2026-03).
var plaidErrors = map[string]knownError{
	// ITEM_ERROR
	"ITEM_LOGIN_REQUIRED":       {"ITEM_ERROR", 400, "the login details of this item have changed (credentials, MFA, or required user action) and a user login is required to update this information. use Link's update mode to restore the item to a good state", ""},
	"ITEM_NOT_FOUND":            {"ITEM_ERROR", 400, "The Item you requested cannot be found. This Item does not exist, has been previously removed via /item/remove, or has had access removed by the user.", ""},
	"PRODUCT_NOT_READY":         {"ITEM_ERROR", 400, "the requested product is not yet ready. please provide a webhook or try the request again later", ""},
	"ACCESS_NOT_GRANTED":        {"ITEM_ERROR", 400, "access to this product was not granted for the account", "The user did not grant the necessary permissions for this product on their account."},
	"NO_ACCOUNTS":               {"ITEM_ERROR", 400, "no valid accounts were found for this item", "No valid accounts were found at the financial institution. Please visit your financial institution's website to confirm accounts are available."},
	"ITEM_LOCKED":               {"ITEM_ERROR", 400, "the account is locked. prompt the user to visit the institution's site and unlock their account", "The given account has been locked by the financial institution. Please visit your financial institution's website to unlock your account."},
	"ITEM_NOT_SUPPORTED":        {"ITEM_ERROR", 400, "this account is currently not supported", "The given account is not currently supported for this financial institution. We apologize for the inconvenience."},
	"ITEM_CONCURRENTLY_DELETED": {"ITEM_ERROR", 400, "This item was deleted while the operation was in progress", ""},
	"INVALID_CREDENTIALS":       {"ITEM_ERROR", 400, "the provided credentials were not correct", "The provided credentials were not correct. Please try again."},
	"MFA_NOT_SUPPORTED":         {"ITEM_ERROR", 400, "this account requires a MFA type that we do not currently support for the institution", "The multi-factor security features enabled on this account are not currently supported for this financial institution. We apologize for the inconvenience."},
	// INVALID_INPUT
	"INVALID_ACCESS_TOKEN":        {"INVALID_INPUT", 400, "could not find matching access token", ""},
	"INVALID_PROCESSOR_TOKEN":     {"INVALID_INPUT", 400, "could not find matching processor token", ""},
	"INVALID_PUBLIC_TOKEN":        {"INVALID_INPUT", 400, "could not find matching public token", ""},
	"INVALID_ACCOUNT_ID":          {"INVALID_INPUT", 400, "failed to find requested account ID for requested item", ""},
	"INVALID_API_KEYS":            {"INVALID_INPUT", 400, "invalid client_id or secret provided", ""},
	"INVALID_INSTITUTION":         {"INVALID_INPUT", 400, "invalid institution_id provided", ""},
	"INVALID_USER_ID":             {"INVALID_INPUT", 400, "could not find matching user_id", ""},
	"USER_PERMISSION_REVOKED":     {"INVALID_INPUT", 400, "the holder of this account has revoked their permission for your application to access it", ""},
	"ADDITIONAL_CONSENT_REQUIRED": {"INVALID_INPUT", 400, "client does not have user consent to access the PRODUCT_TRANSACTIONS product", ""},
	// INSTITUTION_ERROR
	"INSTITUTION_DOWN":           {"INSTITUTION_ERROR", 400, "this institution is not currently responding to this request. please try again soon", "This financial institution is not currently responding to requests. We apologize for the inconvenience."},
	"INSTITUTION_NOT_RESPONDING": {"INSTITUTION_ERROR", 400, "this institution is not currently responding to this request. please try again soon", "This financial institution is not currently responding to requests. We apologize for the inconvenience."},
	"INSTITUTION_NOT_AVAILABLE":  {"INSTITUTION_ERROR", 400, "this institution is not currently responding to this request. please try again soon", "This financial institution is not currently responding to requests. We apologize for the inconvenience."},
	// API_ERROR
	"INTERNAL_SERVER_ERROR": {"API_ERROR", 500, "an unexpected error occurred", ""},
	"PLANNED_MAINTENANCE":   {"API_ERROR", 503, "the Plaid API is temporarily unavailable due to planned maintenance. visit https://status.plaid.com/ for more information", ""},
	// RATE_LIMIT_EXCEEDED
	"RATE_LIMIT":                 {"RATE_LIMIT_EXCEEDED", 429, rateLimitMessage, ""},
	"TRANSACTIONS_SYNC_LIMIT":    {"RATE_LIMIT_EXCEEDED", 429, rateLimitMessage, ""},
	"TRANSACTIONS_LIMIT":         {"RATE_LIMIT_EXCEEDED", 429, rateLimitMessage, ""},
	"TRANSACTIONS_REFRESH_LIMIT": {"RATE_LIMIT_EXCEEDED", 429, rateLimitMessage, ""},
	"ITEM_GET_LIMIT":             {"RATE_LIMIT_EXCEEDED", 429, rateLimitMessage, ""},
	"INSTITUTION_RATE_LIMIT":     {"RATE_LIMIT_EXCEEDED", 429, "The institution is currently receiving too many requests. Please try again later.", ""},
	// TRANSACTIONS_ERROR
	"TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION": {"TRANSACTIONS_ERROR", 400, "Underlying transaction data changed since last page was fetched. Please restart pagination from last update.", ""},
	// SANDBOX_ERROR
	"SANDBOX_WEBHOOK_INVALID":     {"SANDBOX_ERROR", 400, "Webhook for this item is either not set up, or invalid. Please update the item's webhook and try again.", ""},
	"SANDBOX_PRODUCT_NOT_ENABLED": {"SANDBOX_ERROR", 400, "The transactions product is not enabled on this item", ""},
}

// plaidError returns the catalogue's error for code; ok is false for a code
// the catalogue does not know.
func plaidError(code string) (*Error, bool) {
	k, ok := plaidErrors[code]
	if !ok {
		return nil, false
	}
	e := &Error{Status: k.status, Body: PlaidError{ErrorType: k.errorType, ErrorCode: code, ErrorMessage: k.message}}
	if k.display != "" {
		d := k.display
		e.Body.DisplayMessage = &d
	}
	return e, true
}

// errCode returns the catalogue's error for code, which must be known.
func errCode(code string) *Error {
	e, ok := plaidError(code)
	if !ok {
		panic("plaidsim: error code missing from the catalogue: " + code)
	}
	return e
}

// errInvalidField is Plaid's INVALID_REQUEST/INVALID_FIELD.
func errInvalidField(message string) *Error {
	return newError(http.StatusBadRequest, "INVALID_REQUEST", "INVALID_FIELD", message)
}

// webhookError is a PlaidError the way webhooks embed it: no request_id nor
// documentation_url, the HTTP status in status.
type webhookError struct {
	DisplayMessage  *string `json:"display_message"`
	ErrorCode       string  `json:"error_code"`
	ErrorCodeReason *string `json:"error_code_reason,omitempty"`
	ErrorMessage    string  `json:"error_message"`
	ErrorType       string  `json:"error_type"`
	Status          int     `json:"status"`
}

func (e *Error) forWebhook() *webhookError {
	return &webhookError{
		DisplayMessage:  e.Body.DisplayMessage,
		ErrorCode:       e.Body.ErrorCode,
		ErrorCodeReason: e.Body.ErrorCodeReason,
		ErrorMessage:    e.Body.ErrorMessage,
		ErrorType:       e.Body.ErrorType,
		Status:          e.Status,
	}
}
