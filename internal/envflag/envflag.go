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

// String binds a string flag.
func (s *Set) String(p *string, name, env, def, usage string) {
	if v, ok := s.lookup(env); ok {
		def = v
	}
	s.fs.StringVar(p, name, def, help(usage, env))
}

// Bool binds a boolean flag.
func (s *Set) Bool(p *bool, name, env string, def bool, usage string) {
	if v, ok := s.lookup(env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.bad(env, v, err)
		} else {
			def = b
		}
	}
	s.fs.BoolVar(p, name, def, help(usage, env))
}

// Int binds an int flag.
func (s *Set) Int(p *int, name, env string, def int, usage string) {
	if v, ok := s.lookup(env); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			s.bad(env, v, err)
		} else {
			def = n
		}
	}
	s.fs.IntVar(p, name, def, help(usage, env))
}

// Int64 binds an int64 flag.
func (s *Set) Int64(p *int64, name, env string, def int64, usage string) {
	if v, ok := s.lookup(env); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			s.bad(env, v, err)
		} else {
			def = n
		}
	}
	s.fs.Int64Var(p, name, def, help(usage, env))
}

// Float64 binds a float64 flag.
func (s *Set) Float64(p *float64, name, env string, def float64, usage string) {
	if v, ok := s.lookup(env); ok {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			s.bad(env, v, err)
		} else {
			def = n
		}
	}
	s.fs.Float64Var(p, name, def, help(usage, env))
}

// Duration binds a time.Duration flag.
func (s *Set) Duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	if v, ok := s.lookup(env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			s.bad(env, v, err)
		} else {
			def = d
		}
	}
	s.fs.DurationVar(p, name, def, help(usage, env))
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
