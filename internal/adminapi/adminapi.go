// Package adminapi serves the fetcher's authenticated admin API under /v1/
// on its admin listener (docs/admin-api.md): register, inspect and remove
// items and processor tokens, force syncs, refresh (guarded by Plaid's
// per-item limit) and resync. It is a thin JSON layer over items.Service.
package adminapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/items"
	"github.com/plaidstream/plaidstream/internal/plaid"
	"github.com/plaidstream/plaidstream/internal/secret"
)

// MaxBodyBytes bounds a request body; registrations are a few hundred bytes.
const MaxBodyBytes = 64 << 10

// Options are the API's settings and hooks.
type Options struct {
	// Token is the bearer token every /v1/ request must carry; empty
	// disables the API (every /v1/ request gets 403).
	Token secret.Secret
	// Logger receives one line per request (never a token).
	Logger *slog.Logger
	// ObserveRequest is called with each response's status code.
	ObserveRequest func(code int)
	// ObserveRefresh is called per refresh with its kind ("item", "user")
	// and outcome ("accepted", "limited", "plaid_rate_limited",
	// "plaid_error", "error").
	ObserveRefresh func(kind, outcome string)
}

// API is the /v1/ handler.
type API struct {
	svc  *items.Service
	opts Options
	// tokenSum is SHA-256 of the token: comparing fixed-size digests in
	// constant time leaks neither the token nor its length.
	tokenSum [sha256.Size]byte
	mux      *http.ServeMux
}

// New returns the API over svc.
func New(svc *items.Service, o Options) *API {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ObserveRequest == nil {
		o.ObserveRequest = func(int) {}
	}
	if o.ObserveRefresh == nil {
		o.ObserveRefresh = func(string, string) {}
	}
	a := &API{svc: svc, opts: o, tokenSum: sha256.Sum256([]byte(o.Token.Reveal())), mux: http.NewServeMux()}
	for _, k := range []struct {
		path  string
		kind  events.OwnerKind
		param string
	}{
		{"/v1/items", events.OwnerItem, "item_id"},
		{"/v1/processor-tokens", events.OwnerProcessor, "account_id"},
	} {
		one := k.path + "/{" + k.param + "}"
		a.handle("GET "+k.path, a.list(k.kind))
		a.handle("PUT "+one, a.put(k.kind, k.param))
		a.handle("GET "+one, a.get(k.kind, k.param))
		a.handle("DELETE "+one, a.remove(k.kind, k.param))
		a.handle("POST "+one+"/sync", a.sync(k.kind, k.param))
		a.handle("POST "+one+"/refresh", a.refresh(k.kind, k.param))
		a.handle("POST "+one+"/resync", a.resync(k.kind, k.param))
	}
	a.handle("POST /v1/users/{user_id}/refresh", a.refreshUser)
	a.handle("/v1/", func(w http.ResponseWriter, r *http.Request) error {
		return newAPIError(http.StatusNotFound, "not_found", "no such route: "+r.Method+" "+r.URL.Path)
	})
	return a
}

// ServeHTTP authenticates, then routes.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	start := time.Now()
	defer func() {
		a.opts.ObserveRequest(rec.code)
		a.opts.Logger.LogAttrs(r.Context(), slog.LevelInfo, "admin.request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", rec.code),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000))
	}()
	if err := a.authenticate(r); err != nil {
		if err.(apiError).status == http.StatusUnauthorized {
			rec.Header().Set("WWW-Authenticate", `Bearer realm="plaidstream-fetcher"`)
		}
		writeError(rec, err)
		return
	}
	a.mux.ServeHTTP(rec, r)
}

func (a *API) authenticate(r *http.Request) error {
	if a.opts.Token == "" {
		return newAPIError(http.StatusForbidden, "admin_api_disabled", "the admin API is disabled: set FETCHER_ADMIN_TOKEN or FETCHER_ADMIN_TOKEN_FILE")
	}
	scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || got == "" {
		return newAPIError(http.StatusUnauthorized, "unauthorized", "missing bearer token")
	}
	sum := sha256.Sum256([]byte(got))
	if subtle.ConstantTimeCompare(sum[:], a.tokenSum[:]) != 1 {
		return newAPIError(http.StatusUnauthorized, "unauthorized", "wrong bearer token")
	}
	return nil
}

// handlerFunc returns an error for writeError to answer.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (a *API) handle(pattern string, h handlerFunc) {
	a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			var ae apiError
			if !errors.As(err, &ae) {
				ae = a.classify(r.Context(), err)
			}
			writeError(w, ae)
		}
	})
}

func owner(kind events.OwnerKind, r *http.Request, param string) events.Owner {
	return events.Owner{Kind: kind, ID: r.PathValue(param)}
}

func (a *API) list(kind events.OwnerKind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		vs, err := a.svc.List(r.Context(), kind)
		if err != nil {
			return err
		}
		field := "items"
		if kind == events.OwnerProcessor {
			field = "processor_tokens"
		}
		return writeJSON(w, http.StatusOK, map[string]any{field: vs})
	}
}

// registration is the body of PUT /v1/items/{item_id} and
// PUT /v1/processor-tokens/{account_id}.
type registration struct {
	AccessToken    secret.Secret `json:"access_token"`
	ProcessorToken secret.Secret `json:"processor_token"`
	UserID         string        `json:"user_id"`
	Environment    string        `json:"environment"`
}

func (a *API) put(kind events.OwnerKind, param string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var body registration
		if err := decodeBody(r, &body); err != nil {
			return err
		}
		reg := items.Registration{Owner: owner(kind, r, param), UserID: body.UserID, Environment: body.Environment}
		switch kind {
		case events.OwnerItem:
			if body.ProcessorToken != "" {
				return badRequest("an item takes access_token, not processor_token")
			}
			if body.AccessToken == "" {
				return badRequest("access_token is required")
			}
			reg.Token = body.AccessToken
		default:
			if body.AccessToken != "" || body.UserID != "" {
				return badRequest("a processor token takes processor_token (and no access_token or user_id)")
			}
			if body.ProcessorToken == "" {
				return badRequest("processor_token is required")
			}
			reg.Token = body.ProcessorToken
		}
		v, created, err := a.svc.Register(r.Context(), reg)
		if err != nil {
			return err
		}
		code := http.StatusOK
		if created {
			code = http.StatusCreated
		}
		return writeJSON(w, code, v)
	}
}

func (a *API) get(kind events.OwnerKind, param string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		v, err := a.svc.Get(r.Context(), owner(kind, r, param))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, v)
	}
}

func (a *API) remove(kind events.OwnerKind, param string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := a.svc.Remove(r.Context(), owner(kind, r, param)); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (a *API) sync(kind events.OwnerKind, param string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		res, err := a.svc.Sync(r.Context(), owner(kind, r, param), "forced")
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusAccepted, res)
	}
}

func (a *API) resync(kind events.OwnerKind, param string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		res, err := a.svc.Resync(r.Context(), owner(kind, r, param))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusAccepted, res)
	}
}

func (a *API) refresh(kind events.OwnerKind, param string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		res, err := a.svc.Refresh(r.Context(), owner(kind, r, param))
		a.opts.ObserveRefresh("item", refreshOutcome(err))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusAccepted, res)
	}
}

func (a *API) refreshUser(w http.ResponseWriter, r *http.Request) error {
	res, err := a.svc.RefreshUser(r.Context(), r.PathValue("user_id"))
	a.opts.ObserveRefresh("user", refreshOutcome(err))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

func refreshOutcome(err error) string {
	var pe *plaid.Error
	switch {
	case err == nil:
		return "accepted"
	case errors.Is(err, bus.ErrRefreshLimited):
		return "limited"
	case errors.As(err, &pe) && pe.HTTPStatus == http.StatusTooManyRequests:
		return "plaid_rate_limited"
	case errors.As(err, &pe):
		return "plaid_error"
	}
	return "error"
}

// plaidRetryAfter is the Retry-After given with Plaid's own 429 (its
// transactions refresh limits are per minute).
const plaidRetryAfter = time.Minute

// classify maps a service error to its answer; unexpected errors are
// logged and answered 500 without detail.
func (a *API) classify(ctx context.Context, err error) apiError {
	var limited *bus.RefreshLimitedError
	var pe *plaid.Error
	switch {
	case errors.Is(err, items.ErrInvalid):
		return newAPIError(http.StatusBadRequest, "invalid_request", err.Error())
	case errors.Is(err, items.ErrNotFound):
		return newAPIError(http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, items.ErrBusy):
		return apiError{status: http.StatusConflict, code: "sync_in_progress", message: err.Error(), retryAfter: 5 * time.Second}
	case errors.As(err, &limited):
		return apiError{status: http.StatusTooManyRequests, code: "refresh_limited", message: fmt.Sprintf("at most %d refreshes per item per %v; try again later", bus.DefaultRefreshLimit, bus.DefaultRefreshWindow), retryAfter: limited.RetryAfter}
	case errors.As(err, &pe) && pe.HTTPStatus != 0:
		ae := apiError{status: pe.HTTPStatus, code: "plaid_error", message: "Plaid: " + pe.ErrorCode + ": " + pe.ErrorMessage, plaid: pe}
		if pe.HTTPStatus == http.StatusTooManyRequests {
			ae.code, ae.retryAfter = "plaid_rate_limited", plaidRetryAfter
		}
		return ae
	case errors.Is(err, plaid.ErrTransport):
		return newAPIError(http.StatusBadGateway, "plaid_unavailable", "Plaid did not answer: "+err.Error())
	}
	a.opts.Logger.ErrorContext(ctx, "admin request failed", "err", err)
	return newAPIError(http.StatusInternalServerError, "internal", "internal error (see the fetcher's log)")
}

// apiError is an answer in the API's error format.
type apiError struct {
	status        int
	code, message string
	retryAfter    time.Duration
	plaid         *plaid.Error
}

func newAPIError(status int, code, message string) apiError {
	return apiError{status: status, code: code, message: message}
}

func (e apiError) Error() string { return e.code + ": " + e.message }

func badRequest(msg string) apiError {
	return newAPIError(http.StatusBadRequest, "invalid_request", msg)
}

func writeError(w http.ResponseWriter, err error) {
	var ae apiError
	if !errors.As(err, &ae) {
		ae = newAPIError(http.StatusInternalServerError, "internal", "internal error")
	}
	if ae.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(ae.retryAfter.Seconds()))))
	}
	body := struct {
		Error struct {
			Code    string       `json:"code"`
			Message string       `json:"message"`
			Plaid   *plaid.Error `json:"plaid,omitempty"`
		} `json:"error"`
	}{}
	body.Error.Code, body.Error.Message, body.Error.Plaid = ae.code, ae.message, ae.plaid
	_ = writeJSON(w, ae.status, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to do
	return nil
}

// decodeBody reads one JSON object, strictly: unknown fields, trailing data
// and oversized bodies are 400s with a message saying which.
func decodeBody(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return badRequest("Content-Type must be application/json")
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return newAPIError(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body exceeds %d bytes", MaxBodyBytes))
		case errors.Is(err, io.EOF):
			return badRequest("empty body: want a JSON object")
		}
		return badRequest("bad JSON: " + err.Error())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("bad JSON: data after the object")
	}
	return nil
}

// statusRecorder remembers the status code written.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}
