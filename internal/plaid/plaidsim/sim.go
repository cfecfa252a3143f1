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

// maxRequestBytes caps request bodies. Plaid does not document a limit; the
// largest request this simulator understands (a /sim/ batch of
// transactions) is far smaller.
const maxRequestBytes = 8 << 20

// Options configures a Sim.
type Options struct {
	// ClientID and Secret are the credentials the Sim accepts; defaults
	// DefaultClientID and DefaultSecret.
	ClientID string
	Secret   string
	// Now is the Sim's clock: key created_at/expired_at, token iat, rate
	// limit windows, the "today" of generated histories and the dates
	// /sandbox/transactions/create accepts. Default time.Now.
	Now func() time.Time
	// Logger receives one Debug line per request and the delivery engine's
	// lines. Default: discard.
	Logger *slog.Logger
	// Seed makes item content reproducible: an item's ids, accounts,
	// transactions and streams depend only on Seed, the item's ordinal
	// (0 for the first item the Sim creates, then 1, ...), its username,
	// its requested size and the day it is created.
	Seed int64
	// TimeFactor divides every simulated delay: webhook retries (30 s·4^k)
	// and readiness delays. Default 1 (real time); 60 makes a minute a
	// second.
	TimeFactor float64
	// RateLimits turns on Plaid's Sandbox rate limits (per Item and per
	// client, per minute of the Sim's clock). Off by default.
	RateLimits bool
	// HTTPClient delivers webhooks. Nil: a client with Plaid's 10 s
	// timeout that follows no redirects.
	HTTPClient *http.Client
}

// Sim simulates Plaid. Create one with New and Close it when done: it
// starts goroutines for readiness timers and webhook deliveries.
type Sim struct {
	clientID   string
	secret     string
	now        func() time.Time
	logger     *slog.Logger
	seed       int64
	timeFactor float64
	rateLimits bool
	// deliver posts signed webhooks for /sim/webhooks/send. Its 10 s
	// timeout is Plaid's: a receiver that has not answered by then has
	// failed the delivery.
	deliver   *http.Client
	sender    *webhookSender
	endpoints map[string]*endpoint
	routes    []simRoute

	mu         sync.Mutex
	keys       map[string]*signingKey
	current    string // kid that signs new webhooks
	faults     map[string][]*Fault
	keyFetches int

	gen             *generator
	nextOrdinal     int
	items           map[string]*item
	itemOrder       []*item
	accessTokens    map[string]*item
	publicTokens    map[string]*item
	processorTokens map[string]*processorToken
	users           map[string][]*item
	windows         map[string]*window
	timers          map[*simTimer]struct{}
	closed          bool
	timerWG         sync.WaitGroup
}

type signingKey struct {
	signer    *verifytest.Signer
	expiredAt *time.Time
}

// New returns a Sim with one current signing key. The caller must Close it.
func New(opts Options) (*Sim, error) {
	s := &Sim{
		clientID:        opts.ClientID,
		secret:          opts.Secret,
		now:             opts.Now,
		logger:          opts.Logger,
		seed:            opts.Seed,
		timeFactor:      opts.TimeFactor,
		rateLimits:      opts.RateLimits,
		deliver:         &http.Client{Timeout: webhookTimeout},
		keys:            make(map[string]*signingKey),
		faults:          make(map[string][]*Fault),
		gen:             newGenerator(),
		items:           make(map[string]*item),
		accessTokens:    make(map[string]*item),
		publicTokens:    make(map[string]*item),
		processorTokens: make(map[string]*processorToken),
		users:           make(map[string][]*item),
		windows:         make(map[string]*window),
		timers:          make(map[*simTimer]struct{}),
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
	if !(s.timeFactor > 0) {
		s.timeFactor = 1
	}
	s.endpoints = plaidEndpoints()
	s.routes = simRoutes()
	if _, err := s.RotateKey(); err != nil {
		return nil, err
	}
	s.sender = newWebhookSender(senderOptions{
		Sign:       s.SignWebhook,
		Client:     opts.HTTPClient,
		TimeFactor: s.timeFactor,
		Logger:     s.logger,
	})
	return s, nil
}

// Close stops the readiness timers and the webhook deliveries (pending
// retries are dropped, attempts in flight aborted) and waits until no
// goroutine the Sim started is left. The Sim still answers requests after
// Close but sends no more webhooks. Close is idempotent.
func (s *Sim) Close() error {
	s.mu.Lock()
	s.closed = true
	for t := range s.timers {
		s.cancelTimer(t)
	}
	s.mu.Unlock()
	s.timerWG.Wait()
	s.sender.Close()
	s.deliver.CloseIdleConnections()
	return nil
}

// scaled divides a simulated delay by the time factor.
func (s *Sim) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) / s.timeFactor)
}

// simTimer is a timer whose callback the Sim waits for on Close.
type simTimer struct{ t *time.Timer }

// schedule runs f after d, unless the timer is cancelled or the Sim closed
// first. Call it with s.mu held; f runs without it.
func (s *Sim) schedule(d time.Duration, f func()) *simTimer {
	if s.closed {
		return nil
	}
	st := &simTimer{}
	s.timers[st] = struct{}{}
	s.timerWG.Add(1)
	st.t = time.AfterFunc(d, func() {
		defer s.timerWG.Done()
		s.mu.Lock()
		_, live := s.timers[st]
		delete(s.timers, st)
		s.mu.Unlock()
		if live {
			f()
		}
	})
	return st
}

// cancelTimer stops st. Call it with s.mu held.
func (s *Sim) cancelTimer(st *simTimer) {
	if st == nil {
		return
	}
	if _, ok := s.timers[st]; !ok {
		return
	}
	delete(s.timers, st)
	if st.t.Stop() {
		s.timerWG.Done()
	}
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
	if strings.HasPrefix(r.URL.Path, "/sim/") {
		s.serveSim(rw, r)
		return
	}
	ep, ok := s.endpoints[r.URL.Path]
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
	if ep.keyFetch {
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
	var hold time.Duration
	if f := s.takeFault(r.URL.Path, nil); f != nil {
		if f.Status == 0 {
			// A lost answer: Plaid does the work, the caller never
			// hears of it (see servePlaid).
			hold = f.Delay
		} else if !s.applyFault(rw, r, f) {
			return
		}
	}
	s.servePlaid(rw, r, ep, body, hold)
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
// the credentials. On failure it returns Plaid's error answer.
//
// Order of checks (Plaid does not document it): body parses as a JSON object
// (INVALID_BODY), then credentials (INVALID_API_KEYS), then the endpoint's
// fields (UNKNOWN_FIELDS, MISSING_FIELDS, INVALID_FIELD) — so an
// unauthenticated caller learns nothing about the request schema.
func (s *Sim) readPlaidRequest(r *http.Request, raw []byte) (map[string]json.RawMessage, *Error) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, &Error{Status: http.StatusBadRequest, Body: *errInvalidBody()}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return nil, &Error{Status: http.StatusBadRequest, Body: *errInvalidBody()}
	}
	if !s.authenticated(r, fields) {
		return nil, errCode("INVALID_API_KEYS")
	}
	return fields, nil
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

const alphanumerics = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randomString returns n random alphanumerics (crypto/rand).
func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	for i := range b {
		b[i] = alphanumerics[int(b[i])%len(alphanumerics)]
	}
	return string(b)
}

// newRequestID returns an id shaped like Plaid's request_id: 15 alphanumeric
// characters.
func newRequestID() string { return randomString(15) }

// newUUID returns a random (version 4) UUID, the shape of Plaid's key ids
// and of the identifier part of its tokens.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// writeJSON writes v as the response. Plaid-style bodies always carry a
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
