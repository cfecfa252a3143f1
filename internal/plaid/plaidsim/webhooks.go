package plaidsim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// webhookTimeout is how long Plaid waits for a webhook receiver: "If there is
// a non-200 response or no response within 10 seconds ... Plaid will keep
// attempting to send the webhook".
const webhookTimeout = 10 * time.Second

// MarshalWebhookBody serialises a webhook body the way Plaid's signed bodies
// look on the wire: object keys sorted, two-space indentation, ": "
// separators, no HTML escaping and no trailing newline. body must encode to
// a JSON object. Numbers given as json.Number are kept verbatim.
//
// Plaid's request_body_sha256 covers these exact bytes; re-indenting or
// appending a newline changes the hash.
func MarshalWebhookBody(body any) ([]byte, error) {
	// Round-trip through a generic value so struct field order cannot leak
	// into the output: encoding/json sorts map keys.
	first, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("plaidsim: marshal webhook body: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(first))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return nil, fmt.Errorf("plaidsim: marshal webhook body: %w", err)
	}
	if _, ok := generic.(map[string]any); !ok {
		return nil, errors.New("plaidsim: webhook body must be a JSON object")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(generic); err != nil {
		return nil, fmt.Errorf("plaidsim: marshal webhook body: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// SendWebhookRequest is the body of POST /sim/webhooks/send.
type SendWebhookRequest struct {
	// URL receives the webhook; http or https.
	URL string `json:"url"`
	// Body is the webhook payload, any JSON object.
	Body json.RawMessage `json:"body"`
}

// SendWebhookResponse is the answer of POST /sim/webhooks/send.
type SendWebhookResponse struct {
	// Status is the HTTP status the receiver answered.
	Status int `json:"status"`
	// BodySHA256 is the lowercase hex SHA-256 of the bytes delivered, the
	// token's request_body_sha256.
	BodySHA256 string `json:"body_sha256"`
}

// SendWebhook signs body (see MarshalWebhookBody) with the current key and
// POSTs it to target with Plaid's headers, waiting at most 10 s for the
// receiver, as Plaid does. It returns the receiver's status and the SHA-256
// of the delivered bytes. Plaid's retries are not simulated.
func (s *Sim) SendWebhook(ctx context.Context, target string, body any) (*SendWebhookResponse, error) {
	if err := checkWebhookURL(target); err != nil {
		return nil, err
	}
	payload, err := MarshalWebhookBody(body)
	if err != nil {
		return nil, err
	}
	return s.deliverWebhook(ctx, target, payload)
}

func checkWebhookURL(target string) error {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("plaidsim: webhook url %q: want an absolute http or https URL", target)
	}
	return nil
}

func (s *Sim) deliverWebhook(ctx context.Context, target string, payload []byte) (*SendWebhookResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, webhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("plaidsim: deliver webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Plaid-Verification", s.SignWebhook(payload))
	resp, err := s.deliver.Do(req)
	if err != nil {
		return nil, fmt.Errorf("plaidsim: deliver webhook: %w", err)
	}
	// Drain a little so the connection can be reused; the content does not
	// matter (Plaid ignores it).
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	sum := sha256.Sum256(payload)
	return &SendWebhookResponse{Status: resp.StatusCode, BodySHA256: hex.EncodeToString(sum[:])}, nil
}

// simWebhooksSend serves POST /sim/webhooks/send. It needs no Plaid
// credentials. Errors use Plaid's error shape: 400 INVALID_REQUEST for a bad
// request; 502 API_ERROR/WEBHOOK_DELIVERY_FAILED (this simulator's code, not
// Plaid's) when the receiver could not be reached or did not answer within
// 10 s.
func (s *Sim) simWebhooksSend(w http.ResponseWriter, r *http.Request, body []byte) {
	var in SendWebhookRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, errInvalidBody())
		return
	}
	if _, err := dec.Token(); err != io.EOF { // trailing data after the object
		writeError(w, http.StatusBadRequest, errInvalidBody())
		return
	}
	var missing []string
	if in.URL == "" {
		missing = append(missing, "url")
	}
	if len(in.Body) == 0 || string(in.Body) == "null" {
		missing = append(missing, "body")
	}
	if len(missing) > 0 {
		writeError(w, http.StatusBadRequest, &PlaidError{
			ErrorType:    "INVALID_REQUEST",
			ErrorCode:    "MISSING_FIELDS",
			ErrorMessage: "the following required fields are missing: " + strings.Join(missing, ", "),
		})
		return
	}
	if err := checkWebhookURL(in.URL); err != nil {
		writeError(w, http.StatusBadRequest, &PlaidError{
			ErrorType:    "INVALID_REQUEST",
			ErrorCode:    "INVALID_FIELD",
			ErrorMessage: "url must be an absolute http or https URL",
		})
		return
	}
	payload, err := MarshalWebhookBody(in.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, &PlaidError{
			ErrorType:    "INVALID_REQUEST",
			ErrorCode:    "INVALID_FIELD",
			ErrorMessage: "body must be a JSON object",
		})
		return
	}
	resp, err := s.deliverWebhook(r.Context(), in.URL, payload)
	if err != nil {
		s.logger.InfoContext(r.Context(), "plaidsim.webhook_delivery_failed", "err", err)
		writeError(w, http.StatusBadGateway, &PlaidError{
			ErrorType:    "API_ERROR",
			ErrorCode:    "WEBHOOK_DELIVERY_FAILED",
			ErrorMessage: "the webhook receiver did not answer within 10 seconds or could not be reached",
		})
		return
	}
	writeJSON(w, http.StatusOK, resp)
}
