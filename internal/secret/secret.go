// Package secret holds a string that never prints: the Plaid secret in our
// configuration and plaintext tokens in memory. Every way of printing it —
// fmt verbs, slog, JSON, text — gives "[redacted]"; Reveal returns it for
// the one place that sends it.
package secret

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// Secret is a string that prints as "[redacted]".
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret itself.
func (s Secret) Reveal() string { return string(s) }

// String returns "[redacted]".
func (Secret) String() string { return redacted }

// GoString returns "[redacted]" (for %#v).
func (Secret) GoString() string { return redacted }

// Format prints "[redacted]" for every verb, so %s, %v, %q and %x are safe.
func (Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue makes slog print "[redacted]".
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText returns "[redacted]" (and so does encoding/json), so a whole
// configuration struct can be logged or encoded safely.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// FromFileOrEnv reads the secret from file (trimmed of surrounding white
// space) when file is set, else from the environment variable env. Errors
// never contain the secret.
func FromFileOrEnv(file, env string, getenv func(string) string) (Secret, error) {
	if file == "" {
		return Secret(getenv(env)), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	return Secret(strings.TrimSpace(string(b))), nil
}
