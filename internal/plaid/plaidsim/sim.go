package plaidsim

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/plaidstream/plaidstream/internal/verify/verifytest"
)

// Default credentials, used when Options leaves them empty.
const (
	DefaultClientID = "test_client_id"
	DefaultSecret   = "test_secret"
)

// maxRequestBytes caps request bodies. Plaid does not document a limit; every
// request this simulator understands is tiny.
const maxRequestBytes = 1 << 20

// Options configures a Sim.
type Options struct {
	// ClientID and Secret are the credentials the Sim accepts; defaults
	// DefaultClientID and DefaultSecret.
	ClientID string
	Secret   string
	// Now is the Sim's clock (key created_at/expired_at, token iat).
	// Default time.Now.
	Now func() time.Time
	// Logger receives one Debug line per request. Default: discard.
	Logger *slog.Logger
}

// Sim simulates Plaid. Create one with New.
type Sim struct {
	clientID string
	secret   string
	now      func() time.Time
	logger   *slog.Logger
	// deliver posts signed webhooks for /sim/webhooks/send. Its 10 s
	// timeout is Plaid's: a receiver that has not answered by then has
	// failed the delivery.
	deliver *http.Client

	mu         sync.Mutex
	keys       map[string]*signingKey
	current    string // kid that signs new webhooks
	faults     map[string][]*Fault
	keyFetches int
}

type signingKey struct {
	signer    *verifytest.Signer
	expiredAt *time.Time
}

// New returns a Sim with one current signing key.
func New(opts Options) (*Sim, error) {
	s := &Sim{
		clientID: opts.ClientID,
		secret:   opts.Secret,
		now:      opts.Now,
		logger:   opts.Logger,
		deliver:  &http.Client{Timeout: webhookTimeout},
		keys:     make(map[string]*signingKey),
		faults:   make(map[string][]*Fault),
	}
	if s.clientID == "" {
		s.clientID = DefaultClientID
	}
	if s.secret == "" {
		s.secret = DefaultSecret
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if _, err := s.RotateKey(); err != nil {
		return nil, err
	}
	return s, nil
}

// ServeHTTP answers Plaid API requests and the simulator's /sim/ endpoints.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rw := &statusRecorder{ResponseWriter: w}
	start := time.Now()
	defer func() {
		s.logger.DebugContext(r.Context(), "plaidsim.request",
			"method", r.Method, "path", r.URL.Path, "status", rw.status,
			"plaid_request_id", rw.requestID, "duration", time.Since(start))
	}()

	handle, keyFetch, ok := handler(r.URL.Path)
	if !ok {
		writeError(rw, http.StatusNotFound, errNotFound())
		return
	}
	if r.Method != http.MethodPost {
		// Plaid does not document its answer to other methods.
		rw.Header().Set("Allow", http.MethodPost)
		writeError(rw, http.StatusMethodNotAllowed, &PlaidError{
			ErrorType:    "INVALID_REQUEST",
			ErrorCode:    "METHOD_NOT_ALLOWED",
			ErrorMessage: "only POST requests are supported",
		})
		return
	}
	if keyFetch {
		s.mu.Lock()
		s.keyFetches++
		s.mu.Unlock()
	}
	// Read the whole body before anything else: only then does net/http
	// notice a caller that hangs up, which a Delay fault relies on.
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, maxRequestBytes))
	if err != nil {
		writeError(rw, http.StatusBadRequest, errInvalidBody())
		return
	}
	if f := s.takeFault(r.URL.Path); f != nil {
		if !sleep(r, f.Delay) {
			return // the caller gave up
		}
		if f.Status != 0 {
			writeError(rw, f.Status, f.plaidError())
			return
		}
	}
	handle(s, rw, r, body)
}

// handler returns the handler for path, and whether requests to it count as
// key fetches.
func handler(path string) (h func(*Sim, http.ResponseWriter, *http.Request, []byte), keyFetch, ok bool) {
	switch path {
	case "/webhook_verification_key/get":
		return (*Sim).webhookVerificationKeyGet, true, true
	case "/sim/webhooks/send":
		return (*Sim).simWebhooksSend, false, true
	default:
		return nil, false, false
	}
}

// sleep waits d or until the request is cancelled; it reports whether the
// full delay elapsed.
func sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// readPlaidRequest reads a Plaid API request body as a JSON object and checks
// the credentials. On failure it has already written Plaid's error answer and
// returns nil.
//
// Order of checks (Plaid does not document it): body parses as a JSON object
// (INVALID_BODY), then credentials (INVALID_API_KEYS), then the endpoint's
// fields (UNKNOWN_FIELDS, MISSING_FIELDS, INVALID_FIELD) — so an
// unauthenticated caller learns nothing about the request schema.
func (s *Sim) readPlaidRequest(w http.ResponseWriter, r *http.Request, raw []byte) map[string]json.RawMessage {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusBadRequest, errInvalidBody())
		return nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		writeError(w, http.StatusBadRequest, errInvalidBody())
		return nil
	}
	if !s.authenticated(r, fields) {
		writeError(w, http.StatusBadRequest, &PlaidError{
			ErrorType:    "INVALID_INPUT",
			ErrorCode:    "INVALID_API_KEYS",
			ErrorMessage: "invalid client_id or secret provided",
		})
		return nil
	}
	return fields
}

// authenticated checks client_id and secret. Plaid accepts them in the
// PLAID-CLIENT-ID / PLAID-SECRET headers or in the body; a header wins over
// the body field of the same name.
func (s *Sim) authenticated(r *http.Request, fields map[string]json.RawMessage) bool {
	id, okID := credential(r.Header.Get("PLAID-CLIENT-ID"), fields["client_id"])
	secret, okSecret := credential(r.Header.Get("PLAID-SECRET"), fields["secret"])
	if !okID || !okSecret {
		return false
	}
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(s.clientID)) == 1
	secretOK := subtle.ConstantTimeCompare([]byte(secret), []byte(s.secret)) == 1
	return idOK && secretOK
}

func credential(header string, body json.RawMessage) (string, bool) {
	if header != "" {
		return header, true
	}
	if body == nil {
		return "", false
	}
	var v string
	if err := json.Unmarshal(body, &v); err != nil || v == "" {
		return "", false
	}
	return v, true
}

// checkFields enforces an endpoint's request schema: every field known,
// every required field present and a non-empty string. allowed lists the
// endpoint's fields besides client_id and secret. On failure it writes
// Plaid's error and returns false.
func checkFields(w http.ResponseWriter, fields map[string]json.RawMessage, allowed, required []string) bool {
	known := map[string]bool{"client_id": true, "secret": true}
	for _, f := range allowed {
		known[f] = true
	}
	var unknown []string
	for f := range fields {
		if !known[f] {
			unknown = append(unknown, f)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		writeError(w, http.StatusBadRequest, &PlaidError{
			ErrorType:    "INVALID_REQUEST",
			ErrorCode:    "UNKNOWN_FIELDS",
			ErrorMessage: "the following fields are not recognized by this endpoint: " + strings.Join(unknown, ", "),
		})
		return false
	}
	var missing []string
	for _, f := range required {
		raw, ok := fields[f]
		if !ok || string(raw) == "null" || string(raw) == `""` {
			missing = append(missing, f)
			continue
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			writeError(w, http.StatusBadRequest, &PlaidError{
				ErrorType:    "INVALID_REQUEST",
				ErrorCode:    "INVALID_FIELD",
				ErrorMessage: f + " must be a string",
			})
			return false
		}
	}
	if len(missing) > 0 {
		writeError(w, http.StatusBadRequest, &PlaidError{
			ErrorType:    "INVALID_REQUEST",
			ErrorCode:    "MISSING_FIELDS",
			ErrorMessage: "the following required fields are missing: " + strings.Join(missing, ", "),
		})
		return false
	}
	return true
}

// newRequestID returns an id shaped like Plaid's request_id: 15 alphanumeric
// characters.
func newRequestID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 15)
	rand.Read(b) // never fails (crypto/rand)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// newUUID returns a random (version 4) UUID, the shape of Plaid's key ids.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// writeJSON writes v as a 200 response. Plaid-style bodies always carry a
// request_id, which the caller has put in v.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("plaidsim: encode response: %v", err)) // our own types always encode
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(body)
}

// statusRecorder remembers what was answered, for the request log line.
type statusRecorder struct {
	http.ResponseWriter
	status    int
	requestID string
}

func (r *statusRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}
