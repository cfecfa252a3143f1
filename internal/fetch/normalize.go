package fetch

import (
	"bytes"
	"strings"

	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/plaid"
)

// NormalizeTransaction maps a Plaid transaction to the data of
// plaid.transaction.added, .modified and .posted events.
//
// Field names and values are Plaid's. Amount is Plaid's JSON number in plain
// decimal notation with every digit it sent: "1e2" becomes "100", but "-0.10"
// stays "-0.10" and "72.1" stays "72.1" (Decimal.Plain never rounds, pads or
// trims). Direction follows the amount's sign; any zero ("0", "-0.00") is
// none. item_id is set for item owners only. Counterparties is never null
// (an absent list becomes []); counterparties' account numbers are not
// copied. Raw, Plaid's whole object as received, is kept only when keepRaw
// is set; it holds every field this mapping leaves out.
//
// The result shares no memory with t.
func NormalizeTransaction(t plaid.Transaction, owner events.Owner, keepRaw bool) events.Transaction {
	var out events.Transaction
	normalizeTransaction(&out, &t, owner, false)
	if keepRaw {
		out.Raw = rawCopy(t.Raw)
	}
	return out
}

// normalizeTransaction is NormalizeTransaction into *out (Raw left nil).
// With share set, the result shares t's optional strings instead of copying
// them: fine for a payload that is encoded at once and dropped, as
// BuildUpdateEvents does. out's Counterparties buffer is reused.
func normalizeTransaction(out *events.Transaction, t *plaid.Transaction, owner events.Owner, share bool) {
	amount := t.Amount.Plain()
	counterparties := out.Counterparties[:0]
	if counterparties == nil {
		counterparties = make([]events.Counterparty, 0, len(t.Counterparties)) // never null
	}
	*out = events.Transaction{
		SchemaVersion:           events.SchemaVersion,
		TransactionID:           t.TransactionID,
		AccountID:               t.AccountID,
		ItemID:                  itemIDOf(owner),
		PendingTransactionID:    cloneUnless(share, t.PendingTransactionID),
		Pending:                 t.Pending,
		Amount:                  amount,
		Direction:               events.DirectionOf(amount),
		ISOCurrencyCode:         cloneUnless(share, t.ISOCurrencyCode),
		UnofficialCurrencyCode:  cloneUnless(share, t.UnofficialCurrencyCode),
		Date:                    t.Date,
		Datetime:                cloneUnless(share, t.Datetime),
		AuthorizedDate:          cloneUnless(share, t.AuthorizedDate),
		AuthorizedDatetime:      cloneUnless(share, t.AuthorizedDatetime),
		Name:                    t.Name,
		MerchantName:            cloneUnless(share, t.MerchantName),
		MerchantEntityID:        cloneUnless(share, t.MerchantEntityID),
		OriginalDescription:     cloneUnless(share, t.OriginalDescription),
		LogoURL:                 cloneUnless(share, t.LogoURL),
		Website:                 cloneUnless(share, t.Website),
		PaymentChannel:          t.PaymentChannel,
		TransactionCode:         cloneUnless(share, t.TransactionCode),
		CheckNumber:             cloneUnless(share, t.CheckNumber),
		AccountOwner:            cloneUnless(share, t.AccountOwner),
		PersonalFinanceCategory: normalizePFCWith(t.PersonalFinanceCategory, share),
		Counterparties:          counterparties,
		Location: events.Location{
			Address:     cloneUnless(share, t.Location.Address),
			City:        cloneUnless(share, t.Location.City),
			Region:      cloneUnless(share, t.Location.Region),
			PostalCode:  cloneUnless(share, t.Location.PostalCode),
			Country:     cloneUnless(share, t.Location.Country),
			Lat:         plainPtr(t.Location.Lat),
			Lon:         plainPtr(t.Location.Lon),
			StoreNumber: cloneUnless(share, t.Location.StoreNumber),
		},
		PaymentMeta: events.PaymentMeta{
			ReferenceNumber:  cloneUnless(share, t.PaymentMeta.ReferenceNumber),
			PPDID:            cloneUnless(share, t.PaymentMeta.PPDID),
			Payee:            cloneUnless(share, t.PaymentMeta.Payee),
			ByOrderOf:        cloneUnless(share, t.PaymentMeta.ByOrderOf),
			Payer:            cloneUnless(share, t.PaymentMeta.Payer),
			PaymentMethod:    cloneUnless(share, t.PaymentMeta.PaymentMethod),
			PaymentProcessor: cloneUnless(share, t.PaymentMeta.PaymentProcessor),
			Reason:           cloneUnless(share, t.PaymentMeta.Reason),
		},
	}
	for _, c := range t.Counterparties {
		out.Counterparties = append(out.Counterparties, events.Counterparty{
			Name:            c.Name,
			Type:            c.Type,
			EntityID:        cloneUnless(share, c.EntityID),
			Website:         cloneUnless(share, c.Website),
			LogoURL:         cloneUnless(share, c.LogoURL),
			ConfidenceLevel: cloneUnless(share, c.ConfidenceLevel),
		})
	}
}

// cloneUnless is clone(p), or p itself if share is set.
func cloneUnless(share bool, p *string) *string {
	if share || p == nil {
		return p
	}
	v := *p
	return &v
}

// NormalizeRemovedTransaction maps an entry of Plaid's removed list to the
// data of plaid.transaction.removed.
func NormalizeRemovedTransaction(r plaid.RemovedTransaction, owner events.Owner) events.RemovedTransaction {
	return events.RemovedTransaction{
		SchemaVersion: events.SchemaVersion,
		TransactionID: r.TransactionID,
		AccountID:     r.AccountID,
		ItemID:        itemIDOf(owner),
	}
}

// NormalizeStream maps a Plaid recurring stream to the data of
// plaid.recurring_stream.added and .modified. flow is events.StreamInflow or
// events.StreamOutflow: which of Plaid's two lists the stream came from.
// Amounts are plain decimal text as in NormalizeTransaction;
// TransactionIDs is never null. Plaid's deprecated category fields are not
// in the payload (they are in Raw when keepRaw is set).
//
// The result shares no memory with s.
func NormalizeStream(s plaid.TransactionStream, flow string, owner events.Owner, keepRaw bool) events.RecurringStream {
	out := events.RecurringStream{
		SchemaVersion:           events.SchemaVersion,
		StreamID:                s.StreamID,
		AccountID:               s.AccountID,
		ItemID:                  itemIDOf(owner),
		Flow:                    flow,
		Description:             s.Description,
		MerchantName:            clone(s.MerchantName),
		FirstDate:               s.FirstDate,
		LastDate:                s.LastDate,
		PredictedNextDate:       clone(s.PredictedNextDate),
		Frequency:               s.Frequency,
		TransactionIDs:          append(make([]string, 0, len(s.TransactionIDs)), s.TransactionIDs...),
		AverageAmount:           normalizeStreamAmount(s.AverageAmount),
		LastAmount:              normalizeStreamAmount(s.LastAmount),
		IsActive:                s.IsActive,
		Status:                  s.Status,
		IsUserModified:          s.IsUserModified,
		PersonalFinanceCategory: normalizePFC(s.PersonalFinanceCategory),
	}
	if s.LastUserModifiedDatetime != "" {
		t := s.LastUserModifiedDatetime
		out.LastUserModifiedDatetime = &t
	}
	if keepRaw {
		out.Raw = rawCopy(s.Raw)
	}
	return out
}

// StreamTombstoned is the status of a recurring stream Plaid no longer
// considers recurring; such a stream counts as removed.
const StreamTombstoned = "TOMBSTONED"

// isTombstoned reports whether a Plaid stream status is TOMBSTONED (compared
// case-insensitively: Plaid's enumerations are upper case, and a differently
// cased spelling must not resurrect a dead stream).
func isTombstoned(status string) bool { return strings.EqualFold(status, StreamTombstoned) }

func normalizeStreamAmount(a plaid.TransactionStreamAmount) *events.StreamAmount {
	return &events.StreamAmount{
		Amount:                 plainPtr(a.Amount),
		ISOCurrencyCode:        clone(a.ISOCurrencyCode),
		UnofficialCurrencyCode: clone(a.UnofficialCurrencyCode),
	}
}

func normalizePFC(p *plaid.PersonalFinanceCategory) *events.PersonalFinanceCategory {
	return normalizePFCWith(p, false)
}

func normalizePFCWith(p *plaid.PersonalFinanceCategory, share bool) *events.PersonalFinanceCategory {
	if p == nil {
		return nil
	}
	return &events.PersonalFinanceCategory{
		Primary:         p.Primary,
		Detailed:        p.Detailed,
		ConfidenceLevel: cloneUnless(share, p.ConfidenceLevel),
		Version:         p.Version,
	}
}

// plainPtr renders an optional Decimal in plain notation.
func plainPtr(d *plaid.Decimal) *string {
	if d == nil {
		return nil
	}
	s := d.Plain()
	return &s
}

// clone copies an optional value so the payload shares no memory with
// Plaid's object.
func clone[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// rawCopy copies a Raw object; an empty one stays nil (omitted).
func rawCopy(b []byte) []byte {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	return bytes.Clone(b)
}

// rawShared is rawCopy without the copy.
func rawShared(b []byte) []byte {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	return b
}
