package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
)

// The two bare comparison handlers. Both read the capped raw body, publish
// the same bytes to PLAID_WEBHOOKS with a Nats-Msg-Id (the token's SHA-256,
// so JetStream de-duplicates exactly as for webhookd) and answer 200 only
// after the PubAck. Neither decodes the body nor logs nor counts metrics.
const (
	// modeCeiling verifies nothing: the ceiling of echo + JetStream.
	modeCeiling = "ceiling"
	// modeIdeal checks what any correct verifier must: the ES256 signature
	// with raw crypto/ecdsa, the iat window and the body's SHA-256 against
	// the claim. Nothing more: the ideal.
	modeIdeal = "ideal"
)

// benchSubject is where the bare handlers publish (inside PLAID_WEBHOOKS).
func benchSubject(mode string) string { return events.WebhookSubjectPrefix + ".bench." + mode }

// serveConfig is the serve subcommand's flags.
type serveConfig struct {
	mode, listen, natsURL, plaidBaseURL, clientID, secret string
	maxBody                                               int64
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c serveConfig
	fs := flag.NewFlagSet("loadgen serve", flag.ContinueOnError)
	fs.StringVar(&c.mode, "mode", modeCeiling, "ceiling (no verification) or ideal (raw crypto/ecdsa)")
	fs.StringVar(&c.listen, "listen", "127.0.0.1:7602", "listen address for POST /plaid/webhook")
	fs.StringVar(&c.natsURL, "nats-url", "nats://127.0.0.1:4222", "NATS server")
	fs.StringVar(&c.plaidBaseURL, "plaid-base-url", "http://127.0.0.1:7610", "where ideal fetches verification keys")
	fs.StringVar(&c.clientID, "plaid-client-id", plaidsim.DefaultClientID, "Plaid client id for key fetches")
	fs.StringVar(&c.secret, "plaid-secret", plaidsim.DefaultSecret, "Plaid secret for key fetches")
	fs.Int64Var(&c.maxBody, "max-body-bytes", 64<<10, "largest accepted body")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if c.mode != modeCeiling && c.mode != modeIdeal {
		return usagef("--mode must be ceiling or ideal")
	}
	nc, err := nats.Connect(c.natsURL, nats.Name("loadgen-"+c.mode))
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if err := ensureWebhookStream(ctx, js); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return err
	}
	h := &bareHandler{js: js, subject: benchSubject(c.mode), maxBody: c.maxBody}
	if c.mode == modeIdeal {
		h.verify = newRawVerifier(&keyClient{baseURL: c.plaidBaseURL, clientID: c.clientID, secret: c.secret}, time.Now).verify
	}
	srv := newBareServer(h)
	fmt.Fprintf(stdout, "loadgen serve %s: http://%s/plaid/webhook\n", c.mode, ln.Addr())
	return serveUntil(ctx, srv, ln)
}

// ensureWebhookStream creates PLAID_WEBHOOKS with webhookd's default
// settings when it does not exist yet; an existing stream is left alone.
func ensureWebhookStream(ctx context.Context, js jetstream.JetStream) error {
	if _, err := js.Stream(ctx, events.WebhookStream); err == nil {
		return nil
	}
	_, err := bus.EnsureStream(ctx, js, events.WebhookStreamSpec(), bus.StreamSettings{
		MaxAge:     7 * 24 * time.Hour,
		Duplicates: 5*time.Minute + 5*time.Second + time.Minute, // webhookd's default token window plus a minute
	})
	return err
}

// newBareServer wraps h in echo and an http.Server with webhookd's
// timeouts.
func newBareServer(h *bareHandler) *http.Server {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.POST("/plaid/webhook", h.handle)
	return &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      11 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
}

// serveUntil serves ln until ctx ends, then shuts srv down.
func serveUntil(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// bareHandler is the handler of both comparison servers.
type bareHandler struct {
	js      jetstream.JetStream
	subject string
	maxBody int64
	// verify, if set, checks the token against the body.
	verify func(token string, body []byte) error
}

func (h *bareHandler) handle(c echo.Context) error {
	req := c.Request()
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), req.Body, h.maxBody))
	if err != nil {
		return c.JSON(http.StatusRequestEntityTooLarge, map[string]string{"error": "too_large"})
	}
	token := req.Header.Get("Plaid-Verification")
	if h.verify != nil {
		if err := h.verify(token, body); err != nil {
			return c.JSON(http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
		}
	}
	sum := sha256.Sum256([]byte(token))
	msg := &nats.Msg{Subject: h.subject, Data: body}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(req.Context()), 3*time.Second)
	defer cancel()
	if _, err := h.js.PublishMsg(ctx, msg, jetstream.WithMsgID(hex.EncodeToString(sum[:])), jetstream.WithExpectStream(events.WebhookStream)); err != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"error": "unavailable"})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// rawVerifier is the ideal verifier: raw crypto/ecdsa and the checks no
// correct verifier can skip, with keys cached by kid.
type rawVerifier struct {
	keys *keyClient
	now  func() time.Time

	mu    sync.Mutex // held across a fetch: concurrent misses make one request
	cache map[string]*ecdsa.PublicKey
}

func newRawVerifier(keys *keyClient, now func() time.Time) *rawVerifier {
	return &rawVerifier{keys: keys, now: now, cache: map[string]*ecdsa.PublicKey{}}
}

var errInvalid = errors.New("invalid token")

// verify checks a compact ES256 token over body.
func (v *rawVerifier) verify(token string, body []byte) error {
	enc := base64.RawURLEncoding
	headerPart, rest, ok1 := strings.Cut(token, ".")
	payloadPart, sigPart, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 {
		return errInvalid
	}
	var header struct{ Alg, Kid string }
	if raw, err := enc.DecodeString(headerPart); err != nil || json.Unmarshal(raw, &header) != nil || header.Alg != "ES256" {
		return errInvalid
	}
	key, err := v.key(header.Kid)
	if err != nil {
		return err
	}
	sig, err := enc.DecodeString(sigPart)
	if err != nil || len(sig) != 64 {
		return errInvalid
	}
	digest := sha256.Sum256([]byte(token[:len(headerPart)+1+len(payloadPart)]))
	if !ecdsa.Verify(key, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return errInvalid
	}
	var claims struct {
		Iat  int64  `json:"iat"`
		Hash string `json:"request_body_sha256"`
	}
	if raw, err := enc.DecodeString(payloadPart); err != nil || json.Unmarshal(raw, &claims) != nil {
		return errInvalid
	}
	if age := v.now().Unix() - claims.Iat; age > 300 || age < -5 {
		return errInvalid
	}
	sum := sha256.Sum256(body)
	if subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(claims.Hash)) != 1 {
		return errInvalid
	}
	return nil
}

// key returns kid's public key, fetching it on a miss.
func (v *rawVerifier) key(kid string) (*ecdsa.PublicKey, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if k, ok := v.cache[kid]; ok {
		return k, nil
	}
	k, err := v.keys.fetch(kid)
	if err != nil {
		return nil, err
	}
	v.cache[kid] = k
	return k, nil
}

// keyClient calls /webhook_verification_key/get.
type keyClient struct {
	baseURL, clientID, secret string
}

// fetch returns kid's live key.
func (c *keyClient) fetch(kid string) (*ecdsa.PublicKey, error) {
	reqBody, _ := json.Marshal(map[string]string{"client_id": c.clientID, "secret": c.secret, "key_id": kid})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+"/webhook_verification_key/get", strings.NewReader(string(reqBody)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Key struct {
			Crv, Kty, X, Y string
			ExpiredAt      *int64 `json:"expired_at"`
		} `json:"key"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		return nil, fmt.Errorf("key %q: status %d", kid, resp.StatusCode)
	}
	if out.Key.Kty != "EC" || out.Key.Crv != "P-256" || out.Key.ExpiredAt != nil {
		return nil, errInvalid
	}
	x, errX := base64.RawURLEncoding.DecodeString(out.Key.X)
	y, errY := base64.RawURLEncoding.DecodeString(out.Key.Y)
	if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
		return nil, errInvalid
	}
	point := append(append([]byte{4}, x...), y...)
	return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
}
