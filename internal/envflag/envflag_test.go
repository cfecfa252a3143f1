package envflag_test

import (
	"bytes"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/plaidstream/plaidstream/internal/envflag"
)

type settings struct {
	listen  string
	workers int
	max     int64
	rate    float64
	timeout time.Duration
	dev     bool
}

func bind(getenv func(string) string) (*envflag.Set, *settings, *bytes.Buffer) {
	var s settings
	out := &bytes.Buffer{}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(out)
	e := envflag.New(fs, getenv)
	e.String(&s.listen, "listen", "T_LISTEN", ":8080", "listen address")
	e.Int(&s.workers, "workers", "T_WORKERS", 4, "workers")
	e.Int64(&s.max, "max", "T_MAX", 10, "max")
	e.Float64(&s.rate, "rate", "T_RATE", 1.5, "rate")
	e.Duration(&s.timeout, "timeout", "T_TIMEOUT", time.Second, "timeout")
	e.Bool(&s.dev, "dev", "T_DEV", false, "dev")
	return e, &s, out
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestPrecedence(t *testing.T) {
	e, s, _ := bind(env(map[string]string{"T_LISTEN": ":1", "T_WORKERS": "7", "T_TIMEOUT": "3s", "T_DEV": "true", "T_RATE": "2.5", "T_MAX": "99"}))
	if err := e.Parse([]string{"--workers", "9"}); err != nil {
		t.Fatal(err)
	}
	want := settings{listen: ":1", workers: 9, max: 99, rate: 2.5, timeout: 3 * time.Second, dev: true}
	if *s != want {
		t.Errorf("got %+v, want %+v (flag beats env beats default)", *s, want)
	}
}

func TestDefaults(t *testing.T) {
	e, s, _ := bind(env(nil))
	if err := e.Parse(nil); err != nil {
		t.Fatal(err)
	}
	want := settings{listen: ":8080", workers: 4, max: 10, rate: 1.5, timeout: time.Second}
	if *s != want {
		t.Errorf("got %+v, want %+v", *s, want)
	}
}

func TestBadEnvironmentReportsEveryValue(t *testing.T) {
	e, _, _ := bind(env(map[string]string{"T_WORKERS": "many", "T_TIMEOUT": "soon", "T_DEV": "perhaps", "T_RATE": "x", "T_MAX": "y"}))
	err := e.Parse(nil)
	if err == nil {
		t.Fatal("got nil error for bad environment values")
	}
	for _, name := range []string{"T_WORKERS", "T_TIMEOUT", "T_DEV", "T_RATE", "T_MAX"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

func TestHelpNamesEnvironment(t *testing.T) {
	e, _, out := bind(env(nil))
	if err := e.Parse([]string{"--help"}); err != flag.ErrHelp {
		t.Fatalf("got %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(out.String(), "(env T_LISTEN)") {
		t.Errorf("usage does not name the environment variable:\n%s", out)
	}
}

func TestRejectsPositionalArguments(t *testing.T) {
	e, _, _ := bind(env(nil))
	if err := e.Parse([]string{"stray"}); err == nil {
		t.Error("got nil error for a stray argument")
	}
}
