package plaidsim

// Plaid's wire objects, as this simulator sends them. They are the Sim's
// own types, checked against Plaid's OpenAPI document by the tests, and
// independent of the client in package plaid.

// Transaction is Plaid's Transaction object (TransactionBase plus its
// extension). Every field Plaid's schema requires is always sent, null
// where Plaid would send null.
type Transaction struct {
	AccountID                      string                   `json:"account_id"`
	AccountOwner                   *string                  `json:"account_owner"`
	Amount                         Amount                   `json:"amount"`
	AuthorizedDate                 *string                  `json:"authorized_date"`
	AuthorizedDatetime             *string                  `json:"authorized_datetime"`
	CheckNumber                    *string                  `json:"check_number"`
	Counterparties                 []Counterparty           `json:"counterparties"`
	Date                           string                   `json:"date"`
	Datetime                       *string                  `json:"datetime"`
	IsoCurrencyCode                *string                  `json:"iso_currency_code"`
	Location                       Location                 `json:"location"`
	LogoURL                        *string                  `json:"logo_url"`
	MerchantEntityID               *string                  `json:"merchant_entity_id"`
	MerchantName                   *string                  `json:"merchant_name"`
	Name                           string                   `json:"name"`
	OriginalDescription            *string                  `json:"original_description"`
	PaymentChannel                 string                   `json:"payment_channel"`
	PaymentMeta                    PaymentMeta              `json:"payment_meta"`
	Pending                        bool                     `json:"pending"`
	PendingTransactionID           *string                  `json:"pending_transaction_id"`
	PersonalFinanceCategory        *PersonalFinanceCategory `json:"personal_finance_category"`
	PersonalFinanceCategoryIconURL string                   `json:"personal_finance_category_icon_url,omitempty"`
	TransactionCode                *string                  `json:"transaction_code"`
	TransactionID                  string                   `json:"transaction_id"`
	TransactionType                string                   `json:"transaction_type,omitempty"`
	UnofficialCurrencyCode         *string                  `json:"unofficial_currency_code"`
	Website                        *string                  `json:"website"`
}

// Location is where a transaction happened; every field may be null.
type Location struct {
	Address     *string  `json:"address"`
	City        *string  `json:"city"`
	Region      *string  `json:"region"`
	PostalCode  *string  `json:"postal_code"`
	Country     *string  `json:"country"`
	Lat         *float64 `json:"lat"`
	Lon         *float64 `json:"lon"`
	StoreNumber *string  `json:"store_number"`
}

// PaymentMeta is Plaid's payment metadata; every field may be null.
type PaymentMeta struct {
	ByOrderOf        *string `json:"by_order_of"`
	Payee            *string `json:"payee"`
	Payer            *string `json:"payer"`
	PaymentMethod    *string `json:"payment_method"`
	PaymentProcessor *string `json:"payment_processor"`
	PpdID            *string `json:"ppd_id"`
	Reason           *string `json:"reason"`
	ReferenceNumber  *string `json:"reference_number"`
}

// PersonalFinanceCategory is Plaid's category of a transaction or stream.
// The Sim fills Version from the request's personal_finance_category_version
// (default v1).
type PersonalFinanceCategory struct {
	Primary         string  `json:"primary"`
	Detailed        string  `json:"detailed"`
	ConfidenceLevel *string `json:"confidence_level"`
	Version         string  `json:"version,omitempty"`
}

// Counterparty is a party to a transaction (merchant, payment app, ...).
type Counterparty struct {
	Name            string  `json:"name"`
	Type            string  `json:"type"`
	Website         *string `json:"website"`
	LogoURL         *string `json:"logo_url"`
	EntityID        *string `json:"entity_id"`
	ConfidenceLevel *string `json:"confidence_level"`
}

// RemovedTransaction names a transaction that was removed.
type RemovedTransaction struct {
	AccountID     string `json:"account_id"`
	TransactionID string `json:"transaction_id"`
}

// Account is Plaid's AccountBase.
type Account struct {
	AccountID    string   `json:"account_id"`
	Balances     Balances `json:"balances"`
	Mask         *string  `json:"mask"`
	Name         string   `json:"name"`
	OfficialName *string  `json:"official_name"`
	Subtype      *string  `json:"subtype"`
	Type         string   `json:"type"`
}

// Balances is Plaid's AccountBalance.
type Balances struct {
	Available              *Amount `json:"available"`
	Current                *Amount `json:"current"`
	Limit                  *Amount `json:"limit"`
	IsoCurrencyCode        *string `json:"iso_currency_code"`
	UnofficialCurrencyCode *string `json:"unofficial_currency_code"`
}

// TransactionStream is Plaid's recurring TransactionStream.
type TransactionStream struct {
	AccountID               string                   `json:"account_id"`
	StreamID                string                   `json:"stream_id"`
	Category                []string                 `json:"category"`
	CategoryID              *string                  `json:"category_id"`
	Description             string                   `json:"description"`
	MerchantName            *string                  `json:"merchant_name"`
	FirstDate               string                   `json:"first_date"`
	LastDate                string                   `json:"last_date"`
	PredictedNextDate       *string                  `json:"predicted_next_date"`
	Frequency               string                   `json:"frequency"`
	TransactionIDs          []string                 `json:"transaction_ids"`
	AverageAmount           StreamAmount             `json:"average_amount"`
	LastAmount              StreamAmount             `json:"last_amount"`
	IsActive                bool                     `json:"is_active"`
	Status                  string                   `json:"status"`
	PersonalFinanceCategory *PersonalFinanceCategory `json:"personal_finance_category,omitempty"`
	IsUserModified          bool                     `json:"is_user_modified"`
}

// StreamAmount is Plaid's TransactionStreamAmount.
type StreamAmount struct {
	Amount                 Amount  `json:"amount"`
	IsoCurrencyCode        *string `json:"iso_currency_code"`
	UnofficialCurrencyCode *string `json:"unofficial_currency_code"`
}

func ptr[T any](v T) *T { return &v }
