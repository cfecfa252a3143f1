package plaid

import (
	"context"
	"errors"
	"net/http"
)

// Class says what a caller should do about an error from the client. The
// fetcher branches on it; String gives a stable name for logs and metric
// labels.
type Class int

const (
	// ClassNone is the class of a nil error.
	ClassNone Class = iota
	// ClassRetry: transient; try the same thing again later (back off, or
	// wait for the next webhook). Rate limits (HTTP 429), Plaid's 5xx,
	// institutions that are down or not responding, planned maintenance,
	// PRODUCT_NOT_READY, and failures with no complete answer (network
	// errors, timeouts, a cancelled context).
	ClassRetry
	// ClassRestartSync: TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION. The
	// data changed while an update was being paged; restart the whole sync
	// loop from the cursor it started with. The pager already does this a
	// bounded number of times, so the fetcher sees this class only when
	// those restarts ran out; retrying later is then the right move.
	ClassRestartSync
	// ClassNeedsUser: the Item works again only after its user acts, usually
	// through Link's update mode (ITEM_LOGIN_REQUIRED, consent or
	// permissions missing or expiring). Stop polling it and tell the user;
	// resume on LOGIN_REPAIRED or after update mode.
	ClassNeedsUser
	// ClassGone: the Item, token or institution no longer exists for us
	// (removed Item, unknown or revoked token, institution no longer
	// supported). Terminal: drop the Item's cursor and stop syncing it.
	// USER_PERMISSION_REVOKED is here, not in ClassNeedsUser: Plaid's advice
	// is to remove the Item, and the user re-links, creating a new Item.
	ClassGone
	// ClassBug: our request or configuration is wrong (the INVALID_REQUEST
	// family, rejected API keys, a product or environment not enabled for
	// our client id, Limited Production credits exhausted), or Plaid's
	// answer could not be understood. Retrying the same request cannot
	// help; an operator must act.
	ClassBug
	// ClassUnknown: a Plaid error this package does not recognise, with a
	// 4xx status (new error codes appear without a version change). Do not
	// retry the same request automatically; dead-letter and alert. An
	// unrecognised code with a 5xx or 429 status is ClassRetry instead.
	ClassUnknown
)

var classNames = [...]string{
	ClassNone:        "none",
	ClassRetry:       "retry",
	ClassRestartSync: "restart_sync",
	ClassNeedsUser:   "needs_user",
	ClassGone:        "gone",
	ClassBug:         "bug",
	ClassUnknown:     "unknown",
}

// String returns the class's snake_case name, e.g. "needs_user".
func (c Class) String() string {
	if c < 0 || int(c) >= len(classNames) {
		return "unknown"
	}
	return classNames[c]
}

// ErrorCodeSyncMutation is Plaid's error code for data that changed between
// the pages of one /transactions/sync update.
const ErrorCodeSyncMutation = "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION"

// codeClasses maps Plaid error codes ([ERR] pages) to classes. Codes not
// listed fall back to their error type and then to the HTTP status (see
// Classify).
var codeClasses = map[string]Class{
	// Transient on Plaid's or the institution's side. Institution errors
	// come with HTTP 400 but Plaid says to retry them later.
	"INSTITUTION_DOWN":           ClassRetry,
	"INSTITUTION_NOT_RESPONDING": ClassRetry,
	"INSTITUTION_NOT_AVAILABLE":  ClassRetry,
	"INSTITUTION_RATE_LIMIT":     ClassRetry,
	"PLANNED_MAINTENANCE":        ClassRetry,
	"INTERNAL_SERVER_ERROR":      ClassRetry,
	"plaid-internal-error":       ClassRetry,
	// /transactions/get before the initial pull; sync never returns it.
	"PRODUCT_NOT_READY": ClassRetry,
	// Rate limits (also covered by their type and status).
	"RATE_LIMIT":                 ClassRetry,
	"TRANSACTIONS_LIMIT":         ClassRetry,
	"TRANSACTIONS_SYNC_LIMIT":    ClassRetry,
	"TRANSACTIONS_REFRESH_LIMIT": ClassRetry,
	"ITEM_GET_LIMIT":             ClassRetry,

	ErrorCodeSyncMutation: ClassRestartSync,

	// The user must act (update mode).
	"ITEM_LOGIN_REQUIRED":         ClassNeedsUser,
	"ADDITIONAL_CONSENT_REQUIRED": ClassNeedsUser,
	"ACCESS_NOT_GRANTED":          ClassNeedsUser,
	"NO_ACCOUNTS":                 ClassNeedsUser,
	"ITEM_LOCKED":                 ClassNeedsUser,
	"USER_SETUP_REQUIRED":         ClassNeedsUser,
	"PASSWORD_RESET_REQUIRED":     ClassNeedsUser,
	"INVALID_CREDENTIALS":         ClassNeedsUser,
	"INVALID_MFA":                 ClassNeedsUser,
	// PENDING_EXPIRATION and PENDING_DISCONNECT are ITEM webhook codes, not
	// API error codes; they are here so one table serves a fetcher that
	// turns those webhooks into an *Error.
	"PENDING_EXPIRATION": ClassNeedsUser,
	"PENDING_DISCONNECT": ClassNeedsUser,

	// Terminal for the Item or token.
	"ITEM_NOT_FOUND":                  ClassGone,
	"INVALID_ACCESS_TOKEN":            ClassGone,
	"INVALID_PROCESSOR_TOKEN":         ClassGone,
	"ITEM_CONCURRENTLY_DELETED":       ClassGone,
	"INSTITUTION_NO_LONGER_SUPPORTED": ClassGone,
	"USER_PERMISSION_REVOKED":         ClassGone,
	// The account behind a processor token or an account_id stream is gone
	// (closed or churned): drop that (account, cursor) stream (REFERENCE §D.2).
	"INVALID_ACCOUNT_ID": ClassGone,

	// Our configuration.
	"INVALID_API_KEYS":          ClassBug,
	"UNAUTHORIZED_ENVIRONMENT":  ClassBug,
	"UNAUTHORIZED_ROUTE_ACCESS": ClassBug,
	"INVALID_PRODUCT":           ClassBug,
	"CREDITS_EXHAUSTED":         ClassBug, // a 429, but waiting does not refill Limited Production credits
	ErrorCodeUnexpectedResponse: ClassBug, // 4xx only: a 5xx is retried first (see Classify)
}

// typeClasses is the fallback for codes not in codeClasses.
var typeClasses = map[string]Class{
	"INVALID_REQUEST":     ClassBug,
	"RATE_LIMIT_EXCEEDED": ClassRetry,
	"API_ERROR":           ClassRetry,
}

// Classify says what to do about err, an error returned by this package
// (possibly wrapped):
//
//   - nil: ClassNone.
//   - an *Error: by its error code (see the Class constants for the lists),
//     else by its error type (INVALID_REQUEST → ClassBug; RATE_LIMIT_EXCEEDED
//     and API_ERROR → ClassRetry), else by its HTTP status (429 and 5xx →
//     ClassRetry, anything else → ClassUnknown). A 5xx or 429 whose body is
//     not a Plaid error is ClassRetry; a 4xx one is ClassBug.
//   - an error wrapping ErrTransport, context.DeadlineExceeded or
//     context.Canceled: ClassRetry.
//   - anything else (a request the client refused to send, a 200 answer it
//     could not decode): ClassBug.
func Classify(err error) Class {
	if err == nil {
		return ClassNone
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Class()
	}
	if errors.Is(err, ErrTransport) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return ClassRetry
	}
	return ClassBug
}

// Class classifies e; see Classify.
func (e *Error) Class() Class {
	transientStatus := e.HTTPStatus == http.StatusTooManyRequests || e.HTTPStatus >= 500
	if e.ErrorCode == ErrorCodeUnexpectedResponse && transientStatus {
		return ClassRetry
	}
	if c, ok := codeClasses[e.ErrorCode]; ok {
		return c
	}
	if c, ok := typeClasses[e.ErrorType]; ok {
		return c
	}
	if transientStatus {
		return ClassRetry
	}
	return ClassUnknown
}
