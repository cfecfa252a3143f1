// Package envflag binds command-line flags to environment variables: every
// setting of our binaries is a flag whose default comes from its environment
// variable, and --help names both.
package envflag

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"time"
)

// Set wraps a flag.FlagSet and an injected getenv. Bad environment values are
// collected and reported by Parse, so the user sees every mistake at once.
type Set struct {
	fs     *flag.FlagSet
	getenv func(string) string
	errs   []error
}

// New returns a Set over fs reading the environment through getenv.
func New(fs *flag.FlagSet, getenv func(string) string) *Set {
	return &Set{fs: fs, getenv: getenv}
}

// FlagSet returns the underlying flag set.
func (s *Set) FlagSet() *flag.FlagSet { return s.fs }

func (s *Set) lookup(env string) (string, bool) {
	if env == "" {
		return "", false
	}
	v := s.getenv(env)
	return v, v != ""
}

func help(usage, env string) string {
	if env == "" {
		return usage
	}
	return fmt.Sprintf("%s (env %s)", usage, env)
}

func (s *Set) bad(env, v string, err error) {
	s.errs = append(s.errs, fmt.Errorf("environment %s=%q: %w", env, v, err))
}

// fromEnv returns the parsed value of env, or def when env is unset or bad
// (a bad value is recorded for Parse to report).
func fromEnv[T any](s *Set, env string, def T, parse func(string) (T, error)) T {
	v, ok := s.lookup(env)
	if !ok {
		return def
	}
	parsed, err := parse(v)
	if err != nil {
		s.bad(env, v, err)
		return def
	}
	return parsed
}

func parseString(v string) (string, error) { return v, nil }

func parseInt64(v string) (int64, error) { return strconv.ParseInt(v, 10, 64) }

func parseFloat64(v string) (float64, error) { return strconv.ParseFloat(v, 64) }

// String binds a string flag.
func (s *Set) String(p *string, name, env, def, usage string) {
	s.fs.StringVar(p, name, fromEnv(s, env, def, parseString), help(usage, env))
}

// Bool binds a boolean flag.
func (s *Set) Bool(p *bool, name, env string, def bool, usage string) {
	s.fs.BoolVar(p, name, fromEnv(s, env, def, strconv.ParseBool), help(usage, env))
}

// Int binds an int flag.
func (s *Set) Int(p *int, name, env string, def int, usage string) {
	s.fs.IntVar(p, name, fromEnv(s, env, def, strconv.Atoi), help(usage, env))
}

// Int64 binds an int64 flag.
func (s *Set) Int64(p *int64, name, env string, def int64, usage string) {
	s.fs.Int64Var(p, name, fromEnv(s, env, def, parseInt64), help(usage, env))
}

// Float64 binds a float64 flag.
func (s *Set) Float64(p *float64, name, env string, def float64, usage string) {
	s.fs.Float64Var(p, name, fromEnv(s, env, def, parseFloat64), help(usage, env))
}

// Duration binds a time.Duration flag.
func (s *Set) Duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	s.fs.DurationVar(p, name, fromEnv(s, env, def, time.ParseDuration), help(usage, env))
}

// Parse parses args and reports bad environment values and flags together.
// It returns flag.ErrHelp after printing usage for -h or --help.
func (s *Set) Parse(args []string) error {
	if err := s.fs.Parse(args); err != nil {
		return err
	}
	if len(s.errs) > 0 {
		return errors.Join(s.errs...)
	}
	if s.fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", s.fs.Args())
	}
	return nil
}
