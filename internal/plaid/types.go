package plaid

import (
	"bytes"
	"encoding/json"
)

// The types below mirror Plaid's component schemas of the same names
// (REFERENCE §C.9). Conventions, applied throughout:
//
//   - JSON names are Plaid's.
//   - Amounts and coordinates are Decimal: exact text, never float64.
//   - Dates ("2023-09-24") and date-times ("2023-09-24T11:01:01Z") stay
//     strings as sent, so nothing is reformatted on the way to the events.
//   - Fields Plaid marks nullable are pointers (or nil slices); fields it
//     marks optional have omitempty, so a decoded value marshals back to
//     JSON that still matches Plaid's schema. Null and absent both decode to
//     nil; where the difference matters, the Raw field keeps the original.
//   - Enumerations are plain strings: Plaid adds values without a version
//     change, and an unknown value must not fail a decode.

// Transaction is Plaid's Transaction schema (TransactionBase plus its
// extension), as /transactions/sync and /transactions/get return it.
//
// Raw is the transaction's complete JSON object exactly as Plaid sent it,
// including fields this type does not model; it is filled by UnmarshalJSON
// and ignored by MarshalJSON. The fetcher publishes from it so no field Plaid
// adds is lost.
type Transaction struct {
	TransactionID string `json:"transaction_id"`
	AccountID     string `json:"account_id"`
	// Amount is positive when money moves out of the account and negative
	// when it moves in.
	Amount Decimal `json:"amount"`
	// ISOCurrencyCode is nil exactly when UnofficialCurrencyCode is set.
	ISOCurrencyCode        *string `json:"iso_currency_code"`
	UnofficialCurrencyCode *string `json:"unofficial_currency_code"`
	// Date is the posted date, or for a pending transaction the date it
	// occurred (YYYY-MM-DD).
	Date               string  `json:"date"`
	Datetime           *string `json:"datetime"`
	AuthorizedDate     *string `json:"authorized_date"`
	AuthorizedDatetime *string `json:"authorized_datetime"`
	Pending            bool    `json:"pending"`
	// PendingTransactionID is, on a posted transaction, the id of the
	// pending transaction it replaces.
	PendingTransactionID *string `json:"pending_transaction_id"`
	// Name is the legacy description (deprecated by Plaid, still required).
	Name                string  `json:"name"`
	MerchantName        *string `json:"merchant_name,omitempty"`
	OriginalDescription *string `json:"original_description,omitempty"`
	AccountOwner        *string `json:"account_owner"`
	// PaymentChannel is "online", "in store" or "other".
	PaymentChannel string      `json:"payment_channel"`
	PaymentMeta    PaymentMeta `json:"payment_meta"`
	Location       Location    `json:"location"`
	// TransactionCode is e.g. "purchase", "transfer"; nil for most
	// institutions.
	TransactionCode                *string                   `json:"transaction_code"`
	PersonalFinanceCategory        *PersonalFinanceCategory  `json:"personal_finance_category,omitempty"`
	BusinessFinanceCategory        *BusinessFinanceCategory  `json:"business_finance_category,omitempty"`
	PersonalFinanceCategoryIconURL string                    `json:"personal_finance_category_icon_url,omitempty"`
	Counterparties                 []TransactionCounterparty `json:"counterparties,omitempty"`
	MerchantEntityID               *string                   `json:"merchant_entity_id,omitempty"`
	LogoURL                        *string                   `json:"logo_url,omitempty"`
	Website                        *string                   `json:"website,omitempty"`
	CheckNumber                    *string                   `json:"check_number,omitempty"`
	ClientCustomization            *ClientCustomization      `json:"client_customization,omitempty"`
	// TransactionType is deprecated: "digital", "place", "special" or
	// "unresolved".
	TransactionType string `json:"transaction_type,omitempty"`
	// Category and CategoryID are deprecated (personal_finance_category
	// replaces them) and absent from Plaid's examples.
	Category   []string `json:"category,omitempty"`
	CategoryID *string  `json:"category_id,omitempty"`

	// Raw is the complete JSON object as received; see the type comment.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes Plaid's Transaction and keeps a copy of the whole
// object in Raw.
func (t *Transaction) UnmarshalJSON(b []byte) error {
	type plain Transaction // no methods: no recursion
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*t = Transaction(p)
	t.Raw = bytes.Clone(b)
	return nil
}

// PaymentMeta is Plaid's PaymentMeta schema: transfer details, each nil
// unless the institution supplies it.
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

// Location is Plaid's Location schema ("Transaction Location").
type Location struct {
	Address     *string  `json:"address"`
	City        *string  `json:"city"`
	Region      *string  `json:"region"`
	PostalCode  *string  `json:"postal_code"`
	Country     *string  `json:"country"`
	Lat         *Decimal `json:"lat"`
	Lon         *Decimal `json:"lon"`
	StoreNumber *string  `json:"store_number"`
}

// PersonalFinanceCategory is Plaid's PersonalFinanceCategory schema, e.g.
// primary FOOD_AND_DRINK, detailed FOOD_AND_DRINK_FAST_FOOD.
type PersonalFinanceCategory struct {
	Primary  string `json:"primary"`
	Detailed string `json:"detailed"`
	// ConfidenceLevel is VERY_HIGH, HIGH, MEDIUM, LOW or UNKNOWN.
	ConfidenceLevel *string `json:"confidence_level,omitempty"`
	// Version is "v1" or "v2".
	Version string `json:"version,omitempty"`
}

// BusinessFinanceCategory is Plaid's BusinessFinanceCategory schema.
type BusinessFinanceCategory struct {
	Primary         string  `json:"primary"`
	Detailed        string  `json:"detailed"`
	ConfidenceLevel *string `json:"confidence_level,omitempty"`
}

// TransactionCounterparty is Plaid's TransactionCounterparty schema: a
// merchant, marketplace, payment app … involved in a transaction.
type TransactionCounterparty struct {
	Name string `json:"name"`
	// Type is merchant, financial_institution, payment_app, marketplace,
	// payment_terminal or income_source.
	Type            string               `json:"type"`
	Website         *string              `json:"website"`
	LogoURL         *string              `json:"logo_url"`
	EntityID        *string              `json:"entity_id,omitempty"`
	ConfidenceLevel *string              `json:"confidence_level,omitempty"`
	AccountNumbers  *CounterpartyNumbers `json:"account_numbers,omitempty"`
}

// CounterpartyNumbers is Plaid's CounterpartyNumbers schema. These are
// account numbers: never log them.
type CounterpartyNumbers struct {
	BACS          *CounterpartyNumbersBACS          `json:"bacs,omitempty"`
	International *CounterpartyNumbersInternational `json:"international,omitempty"`
}

// CounterpartyNumbersBACS is Plaid's CounterpartyNumbersBACS schema.
type CounterpartyNumbersBACS struct {
	Account  *string `json:"account,omitempty"`
	SortCode *string `json:"sort_code,omitempty"`
}

// CounterpartyNumbersInternational is Plaid's
// CounterpartyNumbersInternational schema.
type CounterpartyNumbersInternational struct {
	IBAN *string `json:"iban,omitempty"`
	BIC  *string `json:"bic,omitempty"`
}

// ClientCustomization is Plaid's ClientCustomization schema.
type ClientCustomization struct {
	CustomEntityID string `json:"custom_entity_id,omitempty"`
}

// RemovedTransaction is Plaid's RemovedTransaction schema: a transaction to
// delete, e.g. a pending transaction that posted under a new id.
type RemovedTransaction struct {
	TransactionID string `json:"transaction_id"`
	AccountID     string `json:"account_id"`
}

// AccountBase is Plaid's AccountBase schema ("Account").
type AccountBase struct {
	AccountID string         `json:"account_id"`
	Balances  AccountBalance `json:"balances"`
	// Mask is the last 2–4 characters of the account number.
	Mask         *string `json:"mask"`
	Name         string  `json:"name"`
	OfficialName *string `json:"official_name"`
	// Type is investment, credit, depository, loan, brokerage or other.
	Type string `json:"type"`
	// Subtype is e.g. "checking", "credit card"; nil if unknown.
	Subtype             *string `json:"subtype"`
	VerificationStatus  string  `json:"verification_status,omitempty"`
	VerificationName    string  `json:"verification_name,omitempty"`
	PersistentAccountID string  `json:"persistent_account_id,omitempty"`
	// HolderCategory is business, personal or unrecognized.
	HolderCategory *string `json:"holder_category,omitempty"`
	// VerificationInsights is kept as sent (Auth only).
	VerificationInsights json.RawMessage `json:"verification_insights,omitempty"`
}

// AccountBalance is Plaid's AccountBalance schema. Amounts are nil when the
// institution does not report them.
type AccountBalance struct {
	Available              *Decimal `json:"available"`
	Current                *Decimal `json:"current"`
	Limit                  *Decimal `json:"limit"`
	ISOCurrencyCode        *string  `json:"iso_currency_code"`
	UnofficialCurrencyCode *string  `json:"unofficial_currency_code"`
	// LastUpdatedDatetime is set only by some institutions (Capital One).
	LastUpdatedDatetime *string `json:"last_updated_datetime,omitempty"`
}

// TransactionStream is Plaid's TransactionStream schema: a recurring inflow
// or outflow from /transactions/recurring/get. Raw keeps the whole object as
// received, like Transaction.Raw.
type TransactionStream struct {
	AccountID string `json:"account_id"`
	StreamID  string `json:"stream_id"`
	// Category and CategoryID are deprecated and usually null.
	Category          []string `json:"category"`
	CategoryID        *string  `json:"category_id"`
	Description       string   `json:"description"`
	MerchantName      *string  `json:"merchant_name"`
	FirstDate         string   `json:"first_date"`
	LastDate          string   `json:"last_date"`
	PredictedNextDate *string  `json:"predicted_next_date,omitempty"`
	// Frequency is UNKNOWN, WEEKLY, BIWEEKLY, SEMI_MONTHLY, MONTHLY or
	// ANNUALLY.
	Frequency      string                  `json:"frequency"`
	TransactionIDs []string                `json:"transaction_ids"`
	AverageAmount  TransactionStreamAmount `json:"average_amount"`
	LastAmount     TransactionStreamAmount `json:"last_amount"`
	IsActive       bool                    `json:"is_active"`
	// Status is UNKNOWN, MATURE, EARLY_DETECTION or TOMBSTONED.
	Status                   string                   `json:"status"`
	PersonalFinanceCategory  *PersonalFinanceCategory `json:"personal_finance_category,omitempty"`
	IsUserModified           bool                     `json:"is_user_modified"`
	LastUserModifiedDatetime string                   `json:"last_user_modified_datetime,omitempty"`

	// Raw is the complete JSON object as received.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes Plaid's TransactionStream and keeps a copy of the
// whole object in Raw.
func (s *TransactionStream) UnmarshalJSON(b []byte) error {
	type plain TransactionStream
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*s = TransactionStream(p)
	s.Raw = bytes.Clone(b)
	return nil
}

// TransactionStreamAmount is Plaid's TransactionStreamAmount schema.
type TransactionStreamAmount struct {
	Amount                 *Decimal `json:"amount,omitempty"`
	ISOCurrencyCode        *string  `json:"iso_currency_code,omitempty"`
	UnofficialCurrencyCode *string  `json:"unofficial_currency_code,omitempty"`
}

// Item is Plaid's ItemWithConsentFields schema (Item plus the consent
// fields), as /item/get and /transactions/get return it.
type Item struct {
	ItemID          string  `json:"item_id"`
	InstitutionID   *string `json:"institution_id,omitempty"`
	InstitutionName *string `json:"institution_name,omitempty"`
	Webhook         *string `json:"webhook"`
	AuthMethod      *string `json:"auth_method,omitempty"`
	// Error is the Item's current error, e.g. ITEM_LOGIN_REQUIRED; nil when
	// healthy. Its HTTPStatus is 0: it did not come with a response of its
	// own.
	Error                 *Error   `json:"error"`
	AvailableProducts     []string `json:"available_products"`
	BilledProducts        []string `json:"billed_products"`
	Products              []string `json:"products,omitempty"`
	ConsentedProducts     []string `json:"consented_products,omitempty"`
	ConsentExpirationTime *string  `json:"consent_expiration_time"`
	// UpdateType is "background" or "user_present_required".
	UpdateType          string   `json:"update_type"`
	CreatedAt           string   `json:"created_at,omitempty"`
	ConsentedUseCases   []string `json:"consented_use_cases,omitempty"`
	ConsentedDataScopes []string `json:"consented_data_scopes,omitempty"`
}

// ItemStatus is Plaid's ItemStatus schema.
type ItemStatus struct {
	Transactions *ItemStatusTransactions `json:"transactions,omitempty"`
	Investments  *ItemStatusInvestments  `json:"investments,omitempty"`
	LastWebhook  *ItemStatusLastWebhook  `json:"last_webhook,omitempty"`
}

// ItemStatusTransactions is Plaid's ItemStatusTransactions schema: when Plaid
// last reached the institution for transactions, successfully or not.
type ItemStatusTransactions struct {
	LastSuccessfulUpdate *string `json:"last_successful_update,omitempty"`
	LastFailedUpdate     *string `json:"last_failed_update,omitempty"`
}

// ItemStatusInvestments is Plaid's ItemStatusInvestments schema.
type ItemStatusInvestments struct {
	LastSuccessfulUpdate *string `json:"last_successful_update,omitempty"`
	LastFailedUpdate     *string `json:"last_failed_update,omitempty"`
}

// ItemStatusLastWebhook is Plaid's ItemStatusLastWebhook schema.
type ItemStatusLastWebhook struct {
	SentAt   *string `json:"sent_at,omitempty"`
	CodeSent string  `json:"code_sent,omitempty"`
}

// RefreshResult is Plaid's RefreshResult schema: one Item's outcome of
// /user/transactions/refresh.
type RefreshResult struct {
	ItemID  string `json:"item_id,omitempty"`
	Product string `json:"product,omitempty"`
	// Error is set when the refresh failed for this Item; classify it with
	// its Class method. Its HTTPStatus is 0.
	Error *Error `json:"error,omitempty"`
}
