package cli_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"testing"

	"github.com/plaidstream/plaidstream/internal/cli"
)

func TestExitCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
		out  string
	}{
		{"success", nil, 0, ""},
		{"help", flag.ErrHelp, 0, ""},
		{"usage", cli.UsageError(errors.New("bad flag")), 2, "prog: bad flag\n"},
		{"wrapped usage", fmt.Errorf("parse: %w", cli.UsageError(errors.New("x"))), 2, "prog: parse: x\n"},
		{"chosen code", &cli.ExitError{Code: 3, Err: errors.New("boom")}, 3, "prog: boom\n"},
		{"plain failure", errors.New("failed"), 1, "prog: failed\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if got := cli.ExitCode("prog", tt.err, &out); got != tt.want || out.String() != tt.out {
				t.Errorf("got %d %q, want %d %q", got, out.String(), tt.want, tt.out)
			}
		})
	}
}
