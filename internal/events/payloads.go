package events

import (
	"encoding/json"
	"strings"
)

// SchemaVersion is the version of every data payload below. It changes only
// when a field changes meaning or disappears; new optional fields keep it.
const SchemaVersion = 1

// Direction of money, from Plaid's sign convention (positive = money out).
const (
	DirectionDebit  = "debit"  // amount > 0: money left the account
	DirectionCredit = "credit" // amount < 0: money came in
	DirectionNone   = "none"   // amount = 0
)

// DirectionOf returns the direction of a plain decimal amount string such as
// "12.34", "-0.5" or "0.00".
func DirectionOf(amount string) string {
	a := strings.TrimSpace(amount)
	neg := strings.HasPrefix(a, "-")
	a = strings.TrimLeft(a, "+-")
	if strings.Trim(strings.Replace(a, ".", "", 1), "0") == "" {
		return DirectionNone
	}
	if neg {
		return DirectionCredit
	}
	return DirectionDebit
}

// Transaction is the data of plaid.transaction.added, .modified and .posted
// events: a normalized Plaid transaction. Field names are Plaid's; Amount is
// Plaid's JSON number as exact plain decimal text with Plaid's sign, and
// Direction says which way the money went.
type Transaction struct {
	SchemaVersion        int     `json:"schema_version"`
	TransactionID        string  `json:"transaction_id"`
	AccountID            string  `json:"account_id"`
	ItemID               string  `json:"item_id,omitempty"` // absent for processor tokens
	PendingTransactionID *string `json:"pending_transaction_id"`
	Pending              bool    `json:"pending"`

	Amount                 string  `json:"amount"`
	Direction              string  `json:"direction"`
	ISOCurrencyCode        *string `json:"iso_currency_code"`
	UnofficialCurrencyCode *string `json:"unofficial_currency_code"`

	Date               string  `json:"date"`
	Datetime           *string `json:"datetime"`
	AuthorizedDate     *string `json:"authorized_date"`
	AuthorizedDatetime *string `json:"authorized_datetime"`

	Name                string  `json:"name"`
	MerchantName        *string `json:"merchant_name"`
	MerchantEntityID    *string `json:"merchant_entity_id"`
	OriginalDescription *string `json:"original_description,omitempty"`
	LogoURL             *string `json:"logo_url"`
	Website             *string `json:"website"`

	PaymentChannel  string  `json:"payment_channel"`
	TransactionCode *string `json:"transaction_code"`
	CheckNumber     *string `json:"check_number"`
	AccountOwner    *string `json:"account_owner"`

	PersonalFinanceCategory *PersonalFinanceCategory `json:"personal_finance_category"`
	Counterparties          []Counterparty           `json:"counterparties"`
	Location                Location                 `json:"location"`
	PaymentMeta             PaymentMeta              `json:"payment_meta"`

	// Raw is Plaid's complete transaction object as received, present when
	// the fetcher is configured to keep it: fields we do not normalize are
	// never silently lost.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// PersonalFinanceCategory is Plaid's category of a transaction or stream.
type PersonalFinanceCategory struct {
	Primary         string  `json:"primary"`
	Detailed        string  `json:"detailed"`
	ConfidenceLevel *string `json:"confidence_level,omitempty"`
	Version         string  `json:"version,omitempty"`
}

// Counterparty is a party to a transaction (merchant, payment app, ...).
type Counterparty struct {
	Name            string  `json:"name"`
	Type            string  `json:"type"`
	EntityID        *string `json:"entity_id,omitempty"`
	Website         *string `json:"website"`
	LogoURL         *string `json:"logo_url"`
	ConfidenceLevel *string `json:"confidence_level,omitempty"`
}

// Location is where a transaction happened; Lat and Lon are exact decimal
// text.
type Location struct {
	Address     *string `json:"address"`
	City        *string `json:"city"`
	Region      *string `json:"region"`
	PostalCode  *string `json:"postal_code"`
	Country     *string `json:"country"`
	Lat         *string `json:"lat"`
	Lon         *string `json:"lon"`
	StoreNumber *string `json:"store_number"`
}

// PaymentMeta is Plaid's payment metadata of a transaction.
type PaymentMeta struct {
	ReferenceNumber  *string `json:"reference_number"`
	PPDID            *string `json:"ppd_id"`
	Payee            *string `json:"payee"`
	ByOrderOf        *string `json:"by_order_of"`
	Payer            *string `json:"payer"`
	PaymentMethod    *string `json:"payment_method"`
	PaymentProcessor *string `json:"payment_processor"`
	Reason           *string `json:"reason"`
}

// RemovedTransaction is the data of plaid.transaction.removed.
type RemovedTransaction struct {
	SchemaVersion int    `json:"schema_version"`
	TransactionID string `json:"transaction_id"`
	AccountID     string `json:"account_id"`
	ItemID        string `json:"item_id,omitempty"`
}

// Stream directions of recurring streams.
const (
	StreamInflow  = "inflow"
	StreamOutflow = "outflow"
)

// RecurringStream is the data of plaid.recurring_stream.added and .modified:
// a normalized Plaid TransactionStream.
type RecurringStream struct {
	SchemaVersion     int           `json:"schema_version"`
	StreamID          string        `json:"stream_id"`
	AccountID         string        `json:"account_id"`
	ItemID            string        `json:"item_id,omitempty"`
	Flow              string        `json:"flow"` // inflow or outflow
	Description       string        `json:"description"`
	MerchantName      *string       `json:"merchant_name"`
	FirstDate         string        `json:"first_date"`
	LastDate          string        `json:"last_date"`
	PredictedNextDate *string       `json:"predicted_next_date"`
	Frequency         string        `json:"frequency"`
	TransactionIDs    []string      `json:"transaction_ids"`
	AverageAmount     *StreamAmount `json:"average_amount"`
	LastAmount        *StreamAmount `json:"last_amount"`
	IsActive          bool          `json:"is_active"`
	Status            string        `json:"status"`
	// IsUserModified says the user edited the stream in the app; then
	// LastUserModifiedDatetime (RFC 3339) says when, as Plaid sends it.
	IsUserModified           bool    `json:"is_user_modified"`
	LastUserModifiedDatetime *string `json:"last_user_modified_datetime,omitempty"`

	PersonalFinanceCategory *PersonalFinanceCategory `json:"personal_finance_category"`
	Raw                     json.RawMessage          `json:"raw,omitempty"`
}

// StreamAmount is an amount of a recurring stream, exact decimal text.
type StreamAmount struct {
	Amount                 *string `json:"amount"`
	ISOCurrencyCode        *string `json:"iso_currency_code"`
	UnofficialCurrencyCode *string `json:"unofficial_currency_code"`
}

// RemovedRecurringStream is the data of plaid.recurring_stream.removed (the
// stream disappeared or became TOMBSTONED).
type RemovedRecurringStream struct {
	SchemaVersion int    `json:"schema_version"`
	StreamID      string `json:"stream_id"`
	AccountID     string `json:"account_id"`
	ItemID        string `json:"item_id,omitempty"`
}

// ItemStatus is the data of plaid.item.<status> events.
type ItemStatus struct {
	SchemaVersion int    `json:"schema_version"`
	ItemID        string `json:"item_id,omitempty"`
	AccountID     string `json:"account_id,omitempty"`
	// Status is the lowercased webhook code or one of the Item* statuses.
	Status string `json:"status"`
	// Error is Plaid's error object (from the webhook or the failed call).
	Error json.RawMessage `json:"error,omitempty"`
	// Parked says whether the fetcher stopped syncing the owner (until
	// LOGIN_REPAIRED or an operator's forced sync).
	Parked bool `json:"parked"`
	// Webhook is the ITEM webhook body that caused the event, if any.
	Webhook json.RawMessage `json:"webhook,omitempty"`
}

// SyncCompleted is the data of plaid.sync.completed: it closes one
// consistent update. A consumer detects a gap when an update's StartCursor
// is not the previous update's EndCursor.
type SyncCompleted struct {
	SchemaVersion            int    `json:"schema_version"`
	ItemID                   string `json:"item_id,omitempty"`
	AccountID                string `json:"account_id,omitempty"`
	StartCursor              string `json:"start_cursor"`
	EndCursor                string `json:"end_cursor"`
	Added                    int    `json:"added"`
	Modified                 int    `json:"modified"`
	Removed                  int    `json:"removed"`
	Posted                   int    `json:"posted"`
	TransactionsUpdateStatus string `json:"transactions_update_status"`
}
