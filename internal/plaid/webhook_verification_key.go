package plaid

import (
	"context"
	"errors"
)

// JWKPublicKey is Plaid's JWKPublicKey schema: the EC public key that signs
// Plaid-Verification tokens with a given kid.
type JWKPublicKey struct {
	// Alg is the JWS algorithm, "ES256".
	Alg string `json:"alg"`
	// CreatedAt is when the key was created, in Unix seconds.
	CreatedAt int64 `json:"created_at"`
	// Crv is the curve, "P-256".
	Crv string `json:"crv"`
	// ExpiredAt is when the key expired, in Unix seconds; nil while the key
	// is live. Plaid's guidance is to reject tokens signed by expired keys.
	ExpiredAt *int64 `json:"expired_at"`
	Kid       string `json:"kid"`
	// Kty is the key type, "EC".
	Kty string `json:"kty"`
	// Use is "sig".
	Use string `json:"use"`
	// X and Y are the point's coordinates, base64url without padding.
	X string `json:"x"`
	Y string `json:"y"`
}

// WebhookVerificationKeyGetResponse is the 200 answer of
// /webhook_verification_key/get.
type WebhookVerificationKeyGetResponse struct {
	Key       JWKPublicKey `json:"key"`
	RequestID string       `json:"request_id"`
}

// WebhookVerificationKeyGetRequest is the body of
// /webhook_verification_key/get.
type WebhookVerificationKeyGetRequest struct {
	// KeyID is the kid from the Plaid-Verification token's header.
	KeyID string `json:"key_id"`
}

// GetWebhookVerificationKey fetches the public key Plaid publishes for keyID,
// the kid of a Plaid-Verification token (POST /webhook_verification_key/get).
//
// Plaid answers for keys it no longer signs with too; check ExpiredAt. An
// unknown keyID yields an error for which IsUnknownWebhookKey is true.
func (c *Client) GetWebhookVerificationKey(ctx context.Context, keyID string) (*WebhookVerificationKeyGetResponse, error) {
	if keyID == "" {
		return nil, errors.New("plaid /webhook_verification_key/get: key id is required")
	}
	var out WebhookVerificationKeyGetResponse
	if err := c.call(ctx, epWebhookVerificationKeyGet, WebhookVerificationKeyGetRequest{KeyID: keyID}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
