package plaidsim

import (
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"
)

// A hand-written JSON encoder for transactions, the bulk of every sync
// answer: encoding/json spends most of a 500-transaction page in
// reflection. The output is what encoding/json produces for the same
// struct, except that <, > and & are not escaped (Plaid does not escape
// them either); encode_test.go holds the two to each other.

// MarshalJSON encodes t with every field Plaid's schema requires.
func (t Transaction) MarshalJSON() ([]byte, error) {
	return t.appendJSON(make([]byte, 0, 1024)), nil
}

func (t *Transaction) appendJSON(b []byte) []byte {
	b = append(b, `{"account_id":`...)
	b = appendString(b, t.AccountID)
	b = append(b, `,"account_owner":`...)
	b = appendStringPtr(b, t.AccountOwner)
	b = append(b, `,"amount":`...)
	b = append(b, t.Amount.String()...)
	b = append(b, `,"authorized_date":`...)
	b = appendStringPtr(b, t.AuthorizedDate)
	b = append(b, `,"authorized_datetime":`...)
	b = appendStringPtr(b, t.AuthorizedDatetime)
	b = append(b, `,"check_number":`...)
	b = appendStringPtr(b, t.CheckNumber)
	b = append(b, `,"counterparties":`...)
	if t.Counterparties == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range t.Counterparties {
			if i > 0 {
				b = append(b, ',')
			}
			b = t.Counterparties[i].appendJSON(b)
		}
		b = append(b, ']')
	}
	b = append(b, `,"date":`...)
	b = appendString(b, t.Date)
	b = append(b, `,"datetime":`...)
	b = appendStringPtr(b, t.Datetime)
	b = append(b, `,"iso_currency_code":`...)
	b = appendStringPtr(b, t.IsoCurrencyCode)
	b = append(b, `,"location":`...)
	b = t.Location.appendJSON(b)
	b = append(b, `,"logo_url":`...)
	b = appendStringPtr(b, t.LogoURL)
	b = append(b, `,"merchant_entity_id":`...)
	b = appendStringPtr(b, t.MerchantEntityID)
	b = append(b, `,"merchant_name":`...)
	b = appendStringPtr(b, t.MerchantName)
	b = append(b, `,"name":`...)
	b = appendString(b, t.Name)
	b = append(b, `,"original_description":`...)
	b = appendStringPtr(b, t.OriginalDescription)
	b = append(b, `,"payment_channel":`...)
	b = appendString(b, t.PaymentChannel)
	b = append(b, `,"payment_meta":`...)
	b = t.PaymentMeta.appendJSON(b)
	b = append(b, `,"pending":`...)
	b = strconv.AppendBool(b, t.Pending)
	b = append(b, `,"pending_transaction_id":`...)
	b = appendStringPtr(b, t.PendingTransactionID)
	b = append(b, `,"personal_finance_category":`...)
	if p := t.PersonalFinanceCategory; p == nil {
		b = append(b, "null"...)
	} else {
		b = p.appendJSON(b)
	}
	if t.PersonalFinanceCategoryIconURL != "" {
		b = append(b, `,"personal_finance_category_icon_url":`...)
		b = appendString(b, t.PersonalFinanceCategoryIconURL)
	}
	b = append(b, `,"transaction_code":`...)
	b = appendStringPtr(b, t.TransactionCode)
	b = append(b, `,"transaction_id":`...)
	b = appendString(b, t.TransactionID)
	if t.TransactionType != "" {
		b = append(b, `,"transaction_type":`...)
		b = appendString(b, t.TransactionType)
	}
	b = append(b, `,"unofficial_currency_code":`...)
	b = appendStringPtr(b, t.UnofficialCurrencyCode)
	b = append(b, `,"website":`...)
	b = appendStringPtr(b, t.Website)
	return append(b, '}')
}

func (l *Location) appendJSON(b []byte) []byte {
	b = append(b, `{"address":`...)
	b = appendStringPtr(b, l.Address)
	b = append(b, `,"city":`...)
	b = appendStringPtr(b, l.City)
	b = append(b, `,"region":`...)
	b = appendStringPtr(b, l.Region)
	b = append(b, `,"postal_code":`...)
	b = appendStringPtr(b, l.PostalCode)
	b = append(b, `,"country":`...)
	b = appendStringPtr(b, l.Country)
	b = append(b, `,"lat":`...)
	b = appendFloatPtr(b, l.Lat)
	b = append(b, `,"lon":`...)
	b = appendFloatPtr(b, l.Lon)
	b = append(b, `,"store_number":`...)
	b = appendStringPtr(b, l.StoreNumber)
	return append(b, '}')
}

func (p *PaymentMeta) appendJSON(b []byte) []byte {
	b = append(b, `{"by_order_of":`...)
	b = appendStringPtr(b, p.ByOrderOf)
	b = append(b, `,"payee":`...)
	b = appendStringPtr(b, p.Payee)
	b = append(b, `,"payer":`...)
	b = appendStringPtr(b, p.Payer)
	b = append(b, `,"payment_method":`...)
	b = appendStringPtr(b, p.PaymentMethod)
	b = append(b, `,"payment_processor":`...)
	b = appendStringPtr(b, p.PaymentProcessor)
	b = append(b, `,"ppd_id":`...)
	b = appendStringPtr(b, p.PpdID)
	b = append(b, `,"reason":`...)
	b = appendStringPtr(b, p.Reason)
	b = append(b, `,"reference_number":`...)
	b = appendStringPtr(b, p.ReferenceNumber)
	return append(b, '}')
}

func (p *PersonalFinanceCategory) appendJSON(b []byte) []byte {
	b = append(b, `{"primary":`...)
	b = appendString(b, p.Primary)
	b = append(b, `,"detailed":`...)
	b = appendString(b, p.Detailed)
	b = append(b, `,"confidence_level":`...)
	b = appendStringPtr(b, p.ConfidenceLevel)
	if p.Version != "" {
		b = append(b, `,"version":`...)
		b = appendString(b, p.Version)
	}
	return append(b, '}')
}

func (c *Counterparty) appendJSON(b []byte) []byte {
	b = append(b, `{"name":`...)
	b = appendString(b, c.Name)
	b = append(b, `,"type":`...)
	b = appendString(b, c.Type)
	b = append(b, `,"website":`...)
	b = appendStringPtr(b, c.Website)
	b = append(b, `,"logo_url":`...)
	b = appendStringPtr(b, c.LogoURL)
	b = append(b, `,"entity_id":`...)
	b = appendStringPtr(b, c.EntityID)
	b = append(b, `,"confidence_level":`...)
	b = appendStringPtr(b, c.ConfidenceLevel)
	return append(b, '}')
}

func appendStringPtr(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return appendString(b, *s)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string: quotes, backslashes and control
// characters escaped, invalid UTF-8 replaced by U+FFFD, and U+2028/U+2029
// escaped, as encoding/json does.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendFloatPtr appends a float the way encoding/json does (ES6 number
// formatting); null for nil.
func appendFloatPtr(b []byte, f *float64) []byte {
	if f == nil {
		return append(b, "null"...)
	}
	v := *f
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return append(b, "null"...)
	}
	format := byte('f')
	if abs := math.Abs(v); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, v, format, -1, 64)
	if format == 'e' {
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// jsonAppender is a response that writes its own JSON.
type jsonAppender interface {
	appendJSON(b []byte) []byte
}

// appendMarshal appends json.Marshal(v) for the small parts of a response.
func appendMarshal(b []byte, v any) []byte {
	raw, err := json.Marshal(v)
	if err != nil {
		panic("plaidsim: encode response: " + err.Error()) // our own types always encode
	}
	return append(b, raw...)
}

func appendTransactions(b []byte, ts []Transaction) []byte {
	b = append(b, '[')
	for i := range ts {
		if i > 0 {
			b = append(b, ',')
		}
		b = ts[i].appendJSON(b)
	}
	return append(b, ']')
}

func (r *syncResponse) appendJSON(b []byte) []byte {
	b = append(b, `{"transactions_update_status":`...)
	b = appendString(b, r.TransactionsUpdateStatus)
	b = append(b, `,"accounts":`...)
	b = appendMarshal(b, r.Accounts)
	return r.appendChanges(b, r.Added, r.Modified, r.Removed, r.NextCursor, r.HasMore)
}

func (r *processorSyncResponse) appendJSON(b []byte) []byte {
	b = append(b, `{"transactions_update_status":`...)
	b = appendString(b, r.TransactionsUpdateStatus)
	b = append(b, `,"account":`...)
	b = appendMarshal(b, r.Account)
	return r.appendChanges(b, r.Added, r.Modified, r.Removed, r.NextCursor, r.HasMore)
}

func (w *withRequestID) appendChanges(b []byte, added, modified []Transaction, removed []RemovedTransaction, next string, more bool) []byte {
	b = append(b, `,"added":`...)
	b = appendTransactions(b, added)
	b = append(b, `,"modified":`...)
	b = appendTransactions(b, modified)
	b = append(b, `,"removed":`...)
	b = appendMarshal(b, removed)
	b = append(b, `,"next_cursor":`...)
	b = appendString(b, next)
	b = append(b, `,"has_more":`...)
	b = strconv.AppendBool(b, more)
	b = append(b, `,"request_id":`...)
	b = appendString(b, w.RequestID)
	return append(b, '}')
}
