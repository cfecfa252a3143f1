// Package cli holds the process conventions every plaidstream binary shares:
// run returns an error, and main turns it into one exit status — 0 for
// success and --help, 2 for a usage error, 1 (or a chosen code) otherwise.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// ExitError carries a specific exit status out of run.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *ExitError) Unwrap() error { return e.Err }

// UsageError marks bad command-line input (exit status 2).
func UsageError(err error) error { return &ExitError{Code: 2, Err: err} }

// ExitCode maps run's result to a process exit status and prints the error,
// prefixed with the program's name, to stderr.
func ExitCode(program string, err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	code := 1
	var ee *ExitError
	if errors.As(err, &ee) {
		code = ee.Code
	}
	fmt.Fprintf(stderr, "%s: %v\n", program, err)
	return code
}
