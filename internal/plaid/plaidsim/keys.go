package plaidsim

import (
	"fmt"
	"net/http"

	"github.com/plaidstream/plaidstream/internal/verify/verifytest"
)

// SignWebhook returns the Plaid-Verification token for body: an ES256 JWT
// signed with the current key, issued at Now(). The current key stays the
// current key after ExpireKey, so tests can produce tokens signed by an
// expired key; call RotateKey to move on.
func (s *Sim) SignWebhook(body []byte) string {
	s.mu.Lock()
	signer := s.keys[s.current].signer
	s.mu.Unlock()
	return signer.Sign(body, s.now())
}

// RotateKey creates a new signing key, created at Now(), and makes it the
// current one. Older keys stay published and unexpired, as during Plaid's
// key rollover.
func (s *Sim) RotateKey() (kid string, err error) {
	signer, err := verifytest.NewSigner(newUUID(), s.now())
	if err != nil {
		return "", fmt.Errorf("plaidsim: rotate key: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[signer.KeyID] = &signingKey{signer: signer}
	s.current = signer.KeyID
	return signer.KeyID, nil
}

// ExpireKey marks kid expired at Now(); /webhook_verification_key/get then
// reports that time as expired_at. Expiring an expired key keeps the first
// time. It fails for an unknown kid.
func (s *Sim) ExpireKey(kid string) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[kid]
	if !ok {
		return fmt.Errorf("plaidsim: expire key: unknown kid %q", kid)
	}
	if k.expiredAt == nil {
		k.expiredAt = &now
	}
	return nil
}

// CurrentKeyID returns the kid that SignWebhook signs with.
func (s *Sim) CurrentKeyID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

// KeyFetches reports how many POST requests reached
// /webhook_verification_key/get, whatever their outcome (faults and errors
// included).
func (s *Sim) KeyFetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keyFetches
}

type webhookVerificationKeyGetResponse struct {
	Key       verifytest.JWK `json:"key"`
	RequestID string         `json:"request_id"`
}

func (r *webhookVerificationKeyGetResponse) setRequestID(id string) { r.RequestID = id }

// webhookVerificationKeyGet serves POST /webhook_verification_key/get.
func (s *Sim) webhookVerificationKeyGet(c *call) (any, *Error) {
	var req struct {
		KeyID string `json:"key_id"`
	}
	if err := decodeRequest(c.body, &req); err != nil {
		return nil, err
	}
	k, ok := s.keys[req.KeyID]
	if !ok {
		return nil, newError(http.StatusBadRequest, "INVALID_INPUT", "INVALID_WEBHOOK_VERIFICATION_KEY_ID",
			"invalid key_id provided. note that key_ids are specific to Plaid environments, and verification requests must be made to the same environment that the webhook was sent from")
	}
	return &webhookVerificationKeyGetResponse{Key: k.signer.JWK(k.expiredAt)}, nil
}
