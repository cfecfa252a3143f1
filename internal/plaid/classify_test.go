package plaid_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/plaidstream/plaidstream/internal/plaid"
)

// TestClassify covers every Plaid error code the fetcher must act on, with
// the error type and HTTP status Plaid documents for it (REFERENCE §D.2), and
// the fallbacks for codes and errors the table does not list.
func TestClassify(t *testing.T) {
	plaidErr := func(status int, errorType, code string) error {
		return &plaid.Error{HTTPStatus: status, ErrorType: errorType, ErrorCode: code, RequestID: "req-1"}
	}
	mutation := plaidErr(400, "TRANSACTIONS_ERROR", "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION")
	tests := []struct {
		name string
		err  error
		want plaid.Class
	}{
		{name: "nil", err: nil, want: plaid.ClassNone},

		// Retry later.
		{name: "RATE_LIMIT", err: plaidErr(429, "RATE_LIMIT_EXCEEDED", "RATE_LIMIT"), want: plaid.ClassRetry},
		{name: "TRANSACTIONS_SYNC_LIMIT", err: plaidErr(429, "RATE_LIMIT_EXCEEDED", "TRANSACTIONS_SYNC_LIMIT"), want: plaid.ClassRetry},
		{name: "TRANSACTIONS_LIMIT", err: plaidErr(429, "RATE_LIMIT_EXCEEDED", "TRANSACTIONS_LIMIT"), want: plaid.ClassRetry},
		{name: "TRANSACTIONS_REFRESH_LIMIT", err: plaidErr(429, "RATE_LIMIT_EXCEEDED", "TRANSACTIONS_REFRESH_LIMIT"), want: plaid.ClassRetry},
		{name: "ITEM_GET_LIMIT", err: plaidErr(429, "RATE_LIMIT_EXCEEDED", "ITEM_GET_LIMIT"), want: plaid.ClassRetry},
		{name: "INSTITUTION_RATE_LIMIT", err: plaidErr(429, "RATE_LIMIT_EXCEEDED", "INSTITUTION_RATE_LIMIT"), want: plaid.ClassRetry},
		{name: "unknown rate limit code", err: plaidErr(429, "RATE_LIMIT_EXCEEDED", "SOME_NEW_LIMIT"), want: plaid.ClassRetry},
		{name: "INSTITUTION_DOWN", err: plaidErr(400, "INSTITUTION_ERROR", "INSTITUTION_DOWN"), want: plaid.ClassRetry},
		{name: "INSTITUTION_NOT_RESPONDING", err: plaidErr(400, "INSTITUTION_ERROR", "INSTITUTION_NOT_RESPONDING"), want: plaid.ClassRetry},
		{name: "INSTITUTION_NOT_AVAILABLE", err: plaidErr(400, "INSTITUTION_ERROR", "INSTITUTION_NOT_AVAILABLE"), want: plaid.ClassRetry},
		{name: "PLANNED_MAINTENANCE", err: plaidErr(503, "API_ERROR", "PLANNED_MAINTENANCE"), want: plaid.ClassRetry},
		{name: "INTERNAL_SERVER_ERROR", err: plaidErr(500, "API_ERROR", "INTERNAL_SERVER_ERROR"), want: plaid.ClassRetry},
		{name: "plaid-internal-error", err: plaidErr(500, "API_ERROR", "plaid-internal-error"), want: plaid.ClassRetry},
		{name: "PRODUCT_NOT_READY", err: plaidErr(400, "ITEM_ERROR", "PRODUCT_NOT_READY"), want: plaid.ClassRetry},
		{name: "unknown API_ERROR code", err: plaidErr(500, "API_ERROR", "SOMETHING_BROKE"), want: plaid.ClassRetry},
		{name: "unknown code with 502", err: plaidErr(502, "NEW_ERROR_TYPE", "NEW_CODE"), want: plaid.ClassRetry},
		{name: "non-Plaid body with 503", err: plaidErr(503, "", plaid.ErrorCodeUnexpectedResponse), want: plaid.ClassRetry},
		{name: "transport", err: fmt.Errorf("plaid /transactions/sync: %w: connection reset", plaid.ErrTransport), want: plaid.ClassRetry},
		{name: "deadline", err: fmt.Errorf("x: %w", context.DeadlineExceeded), want: plaid.ClassRetry},
		{name: "cancelled", err: context.Canceled, want: plaid.ClassRetry},

		// Restart the sync loop.
		{name: "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION", err: mutation, want: plaid.ClassRestartSync},
		{name: "mutation, restarts exhausted", err: fmt.Errorf("plaid /transactions/sync: gave up after 3 restarts: %w", mutation), want: plaid.ClassRestartSync},

		// The user must act.
		{name: "ITEM_LOGIN_REQUIRED", err: plaidErr(400, "ITEM_ERROR", "ITEM_LOGIN_REQUIRED"), want: plaid.ClassNeedsUser},
		{name: "ADDITIONAL_CONSENT_REQUIRED", err: plaidErr(400, "INVALID_INPUT", "ADDITIONAL_CONSENT_REQUIRED"), want: plaid.ClassNeedsUser},
		{name: "ACCESS_NOT_GRANTED", err: plaidErr(400, "ITEM_ERROR", "ACCESS_NOT_GRANTED"), want: plaid.ClassNeedsUser},
		{name: "NO_ACCOUNTS", err: plaidErr(400, "ITEM_ERROR", "NO_ACCOUNTS"), want: plaid.ClassNeedsUser},
		{name: "ITEM_LOCKED", err: plaidErr(400, "ITEM_ERROR", "ITEM_LOCKED"), want: plaid.ClassNeedsUser},
		{name: "USER_SETUP_REQUIRED", err: plaidErr(400, "ITEM_ERROR", "USER_SETUP_REQUIRED"), want: plaid.ClassNeedsUser},
		{name: "PASSWORD_RESET_REQUIRED", err: plaidErr(400, "ITEM_ERROR", "PASSWORD_RESET_REQUIRED"), want: plaid.ClassNeedsUser},
		{name: "INVALID_CREDENTIALS", err: plaidErr(400, "ITEM_ERROR", "INVALID_CREDENTIALS"), want: plaid.ClassNeedsUser},
		{name: "INVALID_MFA", err: plaidErr(400, "ITEM_ERROR", "INVALID_MFA"), want: plaid.ClassNeedsUser},
		{name: "PENDING_EXPIRATION (webhook code)", err: &plaid.Error{ErrorCode: "PENDING_EXPIRATION"}, want: plaid.ClassNeedsUser},
		{name: "PENDING_DISCONNECT (webhook code)", err: &plaid.Error{ErrorCode: "PENDING_DISCONNECT"}, want: plaid.ClassNeedsUser},
		{name: "ITEM_LOGIN_REQUIRED in a webhook (no HTTP status)", err: &plaid.Error{ErrorType: "ITEM_ERROR", ErrorCode: "ITEM_LOGIN_REQUIRED"}, want: plaid.ClassNeedsUser},

		// Gone.
		{name: "ITEM_NOT_FOUND", err: plaidErr(400, "ITEM_ERROR", "ITEM_NOT_FOUND"), want: plaid.ClassGone},
		{name: "INVALID_ACCOUNT_ID", err: plaidErr(400, "INVALID_INPUT", "INVALID_ACCOUNT_ID"), want: plaid.ClassGone},
		{name: "INVALID_ACCESS_TOKEN", err: plaidErr(400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN"), want: plaid.ClassGone},
		{name: "INVALID_PROCESSOR_TOKEN", err: plaidErr(400, "INVALID_INPUT", "INVALID_PROCESSOR_TOKEN"), want: plaid.ClassGone},
		{name: "ITEM_CONCURRENTLY_DELETED", err: plaidErr(400, "ITEM_ERROR", "ITEM_CONCURRENTLY_DELETED"), want: plaid.ClassGone},
		{name: "INSTITUTION_NO_LONGER_SUPPORTED", err: plaidErr(400, "INSTITUTION_ERROR", "INSTITUTION_NO_LONGER_SUPPORTED"), want: plaid.ClassGone},
		{name: "USER_PERMISSION_REVOKED", err: plaidErr(400, "INVALID_INPUT", "USER_PERMISSION_REVOKED"), want: plaid.ClassGone},

		// Our bug or configuration.
		{name: "INVALID_FIELD", err: plaidErr(400, "INVALID_REQUEST", "INVALID_FIELD"), want: plaid.ClassBug},
		{name: "MISSING_FIELDS", err: plaidErr(400, "INVALID_REQUEST", "MISSING_FIELDS"), want: plaid.ClassBug},
		{name: "UNKNOWN_FIELDS", err: plaidErr(400, "INVALID_REQUEST", "UNKNOWN_FIELDS"), want: plaid.ClassBug},
		{name: "INVALID_BODY", err: plaidErr(400, "INVALID_REQUEST", "INVALID_BODY"), want: plaid.ClassBug},
		{name: "INVALID_HEADERS", err: plaidErr(400, "INVALID_REQUEST", "INVALID_HEADERS"), want: plaid.ClassBug},
		{name: "NOT_FOUND", err: plaidErr(404, "INVALID_REQUEST", "NOT_FOUND"), want: plaid.ClassBug},
		{name: "NO_LONGER_AVAILABLE", err: plaidErr(404, "INVALID_REQUEST", "NO_LONGER_AVAILABLE"), want: plaid.ClassBug},
		{name: "INVALID_API_KEYS", err: plaidErr(400, "INVALID_INPUT", "INVALID_API_KEYS"), want: plaid.ClassBug},
		{name: "UNAUTHORIZED_ENVIRONMENT", err: plaidErr(400, "INVALID_INPUT", "UNAUTHORIZED_ENVIRONMENT"), want: plaid.ClassBug},
		{name: "UNAUTHORIZED_ROUTE_ACCESS", err: plaidErr(400, "INVALID_INPUT", "UNAUTHORIZED_ROUTE_ACCESS"), want: plaid.ClassBug},
		{name: "INVALID_PRODUCT", err: plaidErr(400, "INVALID_INPUT", "INVALID_PRODUCT"), want: plaid.ClassBug},
		{name: "CREDITS_EXHAUSTED", err: plaidErr(429, "RATE_LIMIT_EXCEEDED", "CREDITS_EXHAUSTED"), want: plaid.ClassBug},
		{name: "non-Plaid body with 400", err: plaidErr(400, "", plaid.ErrorCodeUnexpectedResponse), want: plaid.ClassBug},
		{name: "request not sent", err: errors.New("plaid /transactions/sync: access_token is required"), want: plaid.ClassBug},

		// Unknown.
		{name: "PRODUCTS_NOT_SUPPORTED", err: plaidErr(400, "ITEM_ERROR", "PRODUCTS_NOT_SUPPORTED"), want: plaid.ClassUnknown},
		{name: "unknown code with 400", err: plaidErr(400, "NEW_ERROR_TYPE", "NEW_CODE"), want: plaid.ClassUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := plaid.Classify(tc.err); got != tc.want {
				t.Errorf("Classify(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestClassString(t *testing.T) {
	tests := []struct {
		class plaid.Class
		want  string
	}{
		{plaid.ClassNone, "none"},
		{plaid.ClassRetry, "retry"},
		{plaid.ClassRestartSync, "restart_sync"},
		{plaid.ClassNeedsUser, "needs_user"},
		{plaid.ClassGone, "gone"},
		{plaid.ClassBug, "bug"},
		{plaid.ClassUnknown, "unknown"},
		{plaid.Class(99), "unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.class.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}
