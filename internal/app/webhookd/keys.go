package webhookd

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/plaidstream/plaidstream/internal/plaid"
	"github.com/plaidstream/plaidstream/internal/verify"
)

// plaidKeys adapts the Plaid client to verify.KeyFetcher.
type plaidKeys struct {
	client  *plaid.Client
	timeout time.Duration
	logger  *slog.Logger
}

var _ verify.KeyFetcher = (*plaidKeys)(nil)

// FetchKey calls /webhook_verification_key/get. Plaid's answer for a kid it
// does not know becomes verify.ErrUnknownKey (401: the webhook is forged or
// from another environment); everything else is a fetch failure (503: Plaid
// retries). Rejected credentials are our misconfiguration and logged loudly.
func (k *plaidKeys) FetchKey(ctx context.Context, kid string) (verify.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	resp, err := k.client.GetWebhookVerificationKey(ctx, kid)
	switch {
	case plaid.IsUnknownWebhookKey(err):
		return verify.PublicKey{}, fmt.Errorf("%w: %v", verify.ErrUnknownKey, err)
	case plaid.IsInvalidAPIKeys(err):
		k.logger.ErrorContext(ctx, "Plaid rejected our client id or secret: no webhook can be verified until PLAID_CLIENT_ID / PLAID_SECRET are fixed", "err", err)
		return verify.PublicKey{}, err
	case err != nil:
		return verify.PublicKey{}, err
	}
	j := resp.Key
	return verify.PublicKey{
		KeyID:     j.Kid,
		Algorithm: j.Alg,
		Curve:     j.Crv,
		KeyType:   j.Kty,
		Use:       j.Use,
		X:         j.X,
		Y:         j.Y,
		CreatedAt: j.CreatedAt,
		ExpiredAt: j.ExpiredAt,
	}, nil
}
