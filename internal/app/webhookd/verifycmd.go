package webhookd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"github.com/plaidstream/plaidstream/internal/secret"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/plaidstream/plaidstream/internal/envflag"
	"github.com/plaidstream/plaidstream/internal/plaid"
	"github.com/plaidstream/plaidstream/internal/verify"
)

// runVerify is `webhookd verify`: it checks a captured webhook offline and
// explains the verdict. Exit status 0 valid, 1 invalid, 2 usage error.
func runVerify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("webhookd verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: webhookd verify --body FILE --token JWT [--jwk FILE] [--at TIME]

Checks a captured Plaid webhook exactly as webhookd would and explains the
verdict. The key comes from --jwk (a bare JWK or a whole
/webhook_verification_key/get response) or, without it, from Plaid using
PLAID_ENV / PLAID_BASE_URL / PLAID_CLIENT_ID / PLAID_SECRET.

Exit status: 0 valid, 1 invalid (the reason is printed), 2 usage error.

Flags:
`)
		fs.PrintDefaults()
	}
	e := envflag.New(fs, getenv)
	var bodyFile, token, jwkFile, at, secretFile string
	var maxAge, skew time.Duration
	var env, baseURL, clientID string
	e.String(&bodyFile, "body", "", "", "file holding the raw webhook body, byte for byte (required)")
	e.String(&token, "token", "", "", "the Plaid-Verification header value (required)")
	e.String(&jwkFile, "jwk", "", "", "file holding the key: a bare JWK or a /webhook_verification_key/get response (default: fetch from Plaid)")
	e.String(&at, "at", "", "", "judge the webhook as of this time, RFC 3339 or Unix seconds (default: now)")
	e.Duration(&maxAge, "max-token-age", "WEBHOOKD_MAX_TOKEN_AGE", 5*time.Minute, "reject tokens older than this")
	e.Duration(&skew, "max-future-skew", "WEBHOOKD_MAX_FUTURE_SKEW", 5*time.Second, "reject tokens further than this in the future")
	e.String(&env, "plaid-env", "PLAID_ENV", "sandbox", "Plaid environment for a live key fetch")
	e.String(&baseURL, "plaid-base-url", "PLAID_BASE_URL", "", "Plaid API base URL for a live key fetch")
	e.String(&clientID, "plaid-client-id", "PLAID_CLIENT_ID", "", "Plaid client id for a live key fetch")
	e.String(&secretFile, "plaid-secret-file", "PLAID_SECRET_FILE", "", "file holding the Plaid secret (else env PLAID_SECRET)")
	if err := e.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError(err)
	}
	if bodyFile == "" || token == "" {
		return usageError(errors.New("verify: --body and --token are required"))
	}
	body, err := os.ReadFile(bodyFile)
	if err != nil {
		return usageError(fmt.Errorf("verify: %w", err))
	}
	now := time.Now()
	if at != "" {
		if now, err = parseTime(at); err != nil {
			return usageError(fmt.Errorf("verify: --at: %w", err))
		}
	}

	var keys verify.KeyFetcher
	keySource := ""
	if jwkFile != "" {
		raw, err := os.ReadFile(jwkFile)
		if err != nil {
			return usageError(fmt.Errorf("verify: %w", err))
		}
		key, err := verify.ParseJWK(raw)
		if err != nil {
			return usageError(fmt.Errorf("verify: --jwk: %w", err))
		}
		keys, keySource = verify.StaticKeys{key}, jwkFile
	} else {
		plaidSecret, err := secret.FromFileOrEnv(secretFile, "PLAID_SECRET", getenv)
		if err != nil {
			return usageError(err)
		}
		if baseURL == "" {
			if baseURL, err = plaid.BaseURLFor(env); err != nil {
				return usageError(err)
			}
		}
		if clientID == "" || plaidSecret == "" {
			return usageError(errors.New("verify: without --jwk, PLAID_CLIENT_ID and PLAID_SECRET are needed to fetch the key"))
		}
		client, err := plaid.NewClient(plaid.Config{BaseURL: baseURL, ClientID: clientID, Secret: plaidSecret.Reveal()})
		if err != nil {
			return usageError(err)
		}
		keys = &plaidKeys{client: client, timeout: 10 * time.Second, logger: slog.New(slog.NewTextHandler(stderr, nil))}
		keySource = "Plaid at " + baseURL
	}

	w := &explainer{w: stdout}
	info, inspectErr := verify.Inspect(token)
	if inspectErr == nil {
		w.line("token", "alg=%s kid=%s typ=%s", info.Algorithm, info.KeyID, info.Type)
		age := now.Sub(info.IssuedAt)
		w.line("issued", "%s (age %s at %s; accepted from -%s to +%s)", info.IssuedAt.UTC().Format(time.RFC3339), age.Round(time.Second), now.UTC().Format(time.RFC3339), maxAge, skew)
	} else {
		w.line("token", "cannot be decoded: %v", inspectErr)
	}
	sum := sha256.Sum256(body)
	computed := hex.EncodeToString(sum[:])
	w.line("body", "%d bytes, sha256 %s", len(body), computed)
	if inspectErr == nil {
		match := "matches the body"
		if info.BodySHA256 != computed {
			match = "DOES NOT match the body (was the body re-serialized? Plaid hashes the exact bytes it sent, 2-space indented)"
		}
		w.line("claimed", "sha256 %s %s", info.BodySHA256, match)
	}
	w.line("key", "from %s", keySource)

	v := verify.New(keys, verify.Options{MaxAge: maxAge, MaxFutureSkew: verifySkew(skew), Now: func() time.Time { return now }})
	if _, err := v.Verify(ctx, token, body); err != nil {
		w.line("verdict", "INVALID (%s): %v", verify.Reason(err), err)
		if w.err != nil {
			return w.err
		}
		return &exitError{Code: 1, Err: fmt.Errorf("webhook is invalid: %s", verify.Reason(err))}
	}
	w.line("verdict", "VALID")
	return w.err
}

// explainer prints aligned "label: text" lines and keeps the first write error.
type explainer struct {
	w   io.Writer
	err error
}

func (e *explainer) line(label, format string, args ...any) {
	if e.err != nil {
		return
	}
	_, e.err = fmt.Fprintf(e.w, "%-8s %s\n", label+":", fmt.Sprintf(format, args...))
}

// parseTime accepts RFC 3339 or Unix seconds.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if secs, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(secs, 0), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, errors.New("want RFC 3339 (2026-01-02T15:04:05Z) or Unix seconds")
	}
	return t, nil
}
