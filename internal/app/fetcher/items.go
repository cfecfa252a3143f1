package fetcher

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/envflag"
	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/items"
	"github.com/plaidstream/plaidstream/internal/plaid"
	"github.com/plaidstream/plaidstream/internal/secret"
)

const itemsUsage = `Usage: fetcher items add --item-id ID --access-token TOKEN [--user-id ID] [flags]
       fetcher items add --account-id ID --processor-token TOKEN [flags]
       fetcher items get ID | --item-id ID | --account-id ID [--json]
       fetcher items list [--json]
       fetcher items rm ID | --item-id ID | --account-id ID
       fetcher items sync ID | --item-id ID | --account-id ID
       fetcher items refresh ID | --item-id ID | --account-id ID | --user-id USER_ID
       fetcher items resync ID | --item-id ID | --account-id ID
       fetcher items rekey

Manage the access tokens (items) and processor tokens (accounts) the fetcher
syncs with; the same operations as the admin API (docs/admin-api.md).
Tokens are sealed with AES-256-GCM under the token key before they reach
PLAID_TOKENS and are never printed. ID may also be an owner key as "items
list" prints it (item.<id>, processor.<account_id>).

  add      register or replace a token; schedules the first sync
  get      show an owner's registration and sync state (never the token)
  list     show every registered owner
  rm       publish plaid.item.removed, then delete the token, cursor and
           recurring snapshot (waits for a running sync); does not call
           Plaid's /item/remove
  sync     sync now (un-parks a parked owner)
  refresh  call /transactions/refresh (at most 2 per item per minute across
           the fleet), or /user/transactions/refresh with --user-id
  resync   replay the owner's whole history under a new resync epoch
  rekey    re-seal every stored token with the newest token key
           (PLAIDSTREAM_TOKEN_KEYS="old:...,new:..." during a rotation)

Run "fetcher items <verb> --help" for a verb's flags.
`

var itemVerbs = []string{"add", "get", "list", "rm", "sync", "refresh", "resync", "rekey"}

// itemsCmd is one `fetcher items` invocation.
type itemsCmd struct {
	nats   NATSConfig
	common CommonConfig
	plaid  plaidFlags
	stdin  io.Reader
	stdout io.Writer
	logger *slog.Logger
}

// plaidFlags are the Plaid settings of `items refresh`.
type plaidFlags struct {
	baseURL, clientID, secretFile string
}

func runItems(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, itemsUsage)
		return usageError(errors.New("items: want one of " + strings.Join(itemVerbs, ", ")))
	}
	verb, args := args[0], args[1:]
	switch verb {
	case "add", "get", "list", "rm", "sync", "refresh", "resync", "rekey":
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stderr, itemsUsage)
		return flag.ErrHelp
	default:
		fmt.Fprint(stderr, itemsUsage)
		return usageError(fmt.Errorf("items: unknown verb %q: want one of %s", verb, strings.Join(itemVerbs, ", ")))
	}

	c := &itemsCmd{stdin: stdin, stdout: stdout}
	fs := flag.NewFlagSet("fetcher items "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	e := envflag.New(fs, getenv)
	bindNATS(e, &c.nats)
	envFlag := "plaid-env"
	if verb == "add" {
		envFlag = "environment" // the item's environment; defaults to PLAID_ENV
	}
	common := bindCommon(e, &c.common, envFlag)

	var itemID, accountID, accessToken, processorToken, userID string
	var asJSON bool
	switch verb {
	case "add":
		fs.StringVar(&itemID, "item-id", "", "Plaid item id")
		fs.StringVar(&accessToken, "access-token", "", `the item's access token; "-" reads it from standard input (keeps it out of shell history and ps)`)
		fs.StringVar(&userID, "user-id", "", "Plaid user id of the item (optional)")
		fs.StringVar(&accountID, "account-id", "", "account id of a processor token")
		fs.StringVar(&processorToken, "processor-token", "", `the processor token; "-" reads it from standard input`)
	case "get", "rm", "sync", "resync", "refresh":
		fs.StringVar(&itemID, "item-id", "", "Plaid item id")
		fs.StringVar(&accountID, "account-id", "", "account id of a processor token")
	}
	if verb == "refresh" {
		fs.StringVar(&userID, "user-id", "", "refresh every item of this Plaid user (/user/transactions/refresh)")
		e.String(&c.plaid.baseURL, "plaid-base-url", "PLAID_BASE_URL", "", "Plaid API base URL; overrides the environment's host (e.g. the simulator)")
		e.String(&c.plaid.clientID, "plaid-client-id", "PLAID_CLIENT_ID", "", "Plaid client id")
		e.String(&c.plaid.secretFile, "plaid-secret-file", "PLAID_SECRET_FILE", "", "file holding the Plaid secret (else env PLAID_SECRET)")
	}
	if verb == "get" || verb == "list" || verb == "refresh" {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	}
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), itemsUsage)
		fmt.Fprint(fs.Output(), "\n"+secretEnvHelp+"\nFlags:\n")
		fs.PrintDefaults()
	}
	flagArgs, positional := splitPositional(fs, args)
	if err := e.Parse(flagArgs); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError(err)
	}
	if err := common.finish(&c.common, getenv); err != nil {
		return usageError(err)
	}
	c.logger = slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: max(c.common.LogLevel, slog.LevelWarn)}))

	noArgs := func() error {
		if len(positional) > 0 {
			return usageError(fmt.Errorf("items %s: unexpected argument %q", verb, positional[0]))
		}
		return nil
	}
	switch verb {
	case "add":
		if err := noArgs(); err != nil {
			return err
		}
		return c.add(ctx, itemID, accessToken, userID, accountID, processorToken)
	case "list":
		if err := noArgs(); err != nil {
			return err
		}
		return c.list(ctx, asJSON)
	case "rekey":
		if err := noArgs(); err != nil {
			return err
		}
		return c.rekey(ctx)
	case "refresh":
		if userID != "" {
			if err := noArgs(); err != nil {
				return err
			}
			if itemID != "" || accountID != "" {
				return usageError(errors.New("items refresh: --user-id refreshes a whole user; give no item or account"))
			}
			return c.refreshUser(ctx, getenv, userID, asJSON)
		}
	}
	owner, err := ownerFromArgs(positional, itemID, accountID)
	if err != nil {
		return usageError(fmt.Errorf("items %s: %w", verb, err))
	}
	switch verb {
	case "get":
		return c.get(ctx, owner, asJSON)
	case "rm":
		return c.rm(ctx, owner)
	case "sync":
		return c.sync(ctx, owner)
	case "resync":
		return c.resync(ctx, owner)
	default:
		return c.refresh(ctx, getenv, owner, asJSON)
	}
}

// splitPositional separates positional arguments from flags wherever they
// stand, so both "get ID --json" and "get --json ID" work: an argument is a
// flag's value when it follows a non-boolean flag given without "=".
func splitPositional(fs *flag.FlagSet, args []string) (flags, positional []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return flags, append(positional, args[i+1:]...)
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue // unknown or -h: Parse reports it
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return flags, positional
}

// ownerFromArgs picks the owner from one positional ID (an item id or an
// owner key) or from --item-id / --account-id.
func ownerFromArgs(args []string, itemID, accountID string) (events.Owner, error) {
	given := 0
	for _, s := range []string{itemID, accountID} {
		if s != "" {
			given++
		}
	}
	given += len(args)
	if given != 1 {
		return events.Owner{}, errors.New("name exactly one owner: ID, --item-id or --account-id")
	}
	var o events.Owner
	switch {
	case itemID != "":
		o = events.Owner{Kind: events.OwnerItem, ID: itemID}
	case accountID != "":
		o = events.Owner{Kind: events.OwnerProcessor, ID: accountID}
	default:
		if k, err := events.ParseOwnerKey(args[0]); err == nil {
			return k, nil
		}
		o = events.Owner{Kind: events.OwnerItem, ID: args[0]}
	}
	if _, err := events.OwnerKey(o.Kind, o.ID); err != nil {
		return events.Owner{}, err
	}
	return o, nil
}

// session is a connected items.Service for one command.
type session struct {
	nc  *nats.Conn
	svc *items.Service
}

// open connects, ensures the streams and buckets the operations use (never
// changing existing ones' settings beyond the shared definitions), and
// returns the service. p is the Plaid client for refreshes (nil otherwise).
func (c *itemsCmd) open(ctx context.Context, p items.Plaid) (*session, error) {
	nc, js, err := connect(c.nats, "fetcher-items", c.logger)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*session, error) {
		nc.Close()
		return nil, err
	}
	if _, err := ensureWebhookStream(ctx, js, c.common.Replicas); err != nil {
		return fail(err)
	}
	if _, err := bus.EnsureStream(ctx, js, events.EventStreamSpec(), bus.StreamSettings{Replicas: c.common.Replicas}); err != nil {
		return fail(err)
	}
	kv := map[string]jetstream.KeyValue{}
	for _, spec := range []events.BucketSpec{events.TokensBucketSpec(), events.ItemsBucketSpec(), events.LeasesBucketSpec(), events.RecurringBucketSpec(), events.RefreshLimitsBucketSpec()} {
		if kv[spec.Name], err = openBucket(ctx, js, spec, c.common.Replicas); err != nil {
			return fail(err)
		}
	}
	leases, err := bus.NewLeases(ctx, js, kv[events.LeasesBucket], 0)
	if err != nil {
		return fail(err)
	}
	svc := items.New(items.Deps{
		JS: js, Tokens: bus.NewTokenStore(kv[events.TokensBucket], c.common.Keyring), States: bus.NewItemStore(kv[events.ItemsBucket]),
		Recurring: kv[events.RecurringBucket], Leases: leases, Guard: bus.NewRefreshGuard(kv[events.RefreshLimitsBucket], 0, 0),
		Plaid: p, Environment: c.common.Env, Holder: "fetcher-items-cli", Logger: c.logger,
	})
	return &session{nc: nc, svc: svc}, nil
}

func (s *session) close() {
	dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = bus.Drain(dctx, s.nc) // a CLI exiting; nothing is in flight
}

// readToken returns flag's value, or the first line of stdin for "-".
func (c *itemsCmd) readToken(v, name string) (string, error) {
	if v != "-" {
		return v, nil
	}
	line, err := bufio.NewReader(c.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read %s from standard input: %w", name, err)
	}
	line = strings.TrimSpace(line)
	if line == "" {
		return "", fmt.Errorf("no %s on standard input", name)
	}
	return line, nil
}

func (c *itemsCmd) add(ctx context.Context, itemID, accessToken, userID, accountID, processorToken string) error {
	var reg items.Registration
	var token string
	var err error
	switch {
	case itemID != "" && accountID != "":
		return usageError(errors.New("items add: give --item-id or --account-id, not both"))
	case itemID != "":
		if processorToken != "" || accessToken == "" {
			return usageError(errors.New("items add: --item-id needs --access-token (and no --processor-token)"))
		}
		reg.Owner = events.Owner{Kind: events.OwnerItem, ID: itemID}
		token, err = c.readToken(accessToken, "access token")
	case accountID != "":
		if accessToken != "" || userID != "" || processorToken == "" {
			return usageError(errors.New("items add: --account-id needs --processor-token (and no --access-token or --user-id)"))
		}
		reg.Owner = events.Owner{Kind: events.OwnerProcessor, ID: accountID}
		token, err = c.readToken(processorToken, "processor token")
	default:
		return usageError(errors.New("items add: --item-id with --access-token, or --account-id with --processor-token, is required"))
	}
	if err != nil {
		return usageError(err)
	}
	if _, err := events.OwnerKey(reg.Owner.Kind, reg.Owner.ID); err != nil {
		return usageError(err)
	}
	if err := requireKeyring(c.common); err != nil {
		return usageError(err)
	}
	reg.Token, reg.UserID, reg.Environment = secret.Secret(token), userID, c.common.Env
	s, err := c.open(ctx, nil)
	if err != nil {
		return err
	}
	defer s.close()
	v, created, err := s.svc.Register(ctx, reg)
	if err != nil {
		return err
	}
	what := "token replaced"
	if created {
		what = "registered"
	}
	fmt.Fprintf(c.stdout, "%s %s (environment %s, token sealed with key %s); first sync requested\n", v.Owner, what, v.Environment, v.KeyID)
	return nil
}

func (c *itemsCmd) get(ctx context.Context, owner events.Owner, asJSON bool) error {
	s, err := c.open(ctx, nil)
	if err != nil {
		return err
	}
	defer s.close()
	v, err := s.svc.Get(ctx, owner)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.stdout, v)
	}
	w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	row := func(k, val string) { fmt.Fprintf(w, "%s:\t%s\n", k, val) }
	row("owner", v.Owner)
	row("kind", string(v.Kind))
	row("environment", orDash(v.Environment))
	row("user id", orDash(v.UserID))
	row("token key id", v.KeyID)
	row("registered at", fmtTime(v.RegisteredAt))
	row("token updated", fmtTime(v.TokenUpdated))
	cursor := "none (never synced)"
	if v.Sync.CursorPresent {
		cursor = "present"
	}
	row("cursor", cursor)
	row("resync epoch", strconv.FormatUint(v.Sync.ResyncEpoch, 10))
	row("synced through seq", strconv.FormatUint(v.Sync.SyncedThroughSeq, 10))
	last := fmtTime(v.Sync.LastSyncAt)
	if v.Sync.LastSyncOutcome != "" {
		last += " (" + v.Sync.LastSyncOutcome + ")"
	}
	row("last sync", last)
	if v.Sync.LastError != "" {
		row("last error", v.Sync.LastError)
	}
	parked := "no"
	if v.Sync.Parked {
		parked = "yes: " + orDash(v.Sync.ParkedReason) + ", since " + fmtTime(v.Sync.ParkedAt)
	}
	row("parked", parked)
	row("overdue", yesNo(v.Sync.Overdue))
	row("last webhook", fmtTime(v.Sync.LastWebhookAt))
	return w.Flush()
}

func (c *itemsCmd) list(ctx context.Context, asJSON bool) error {
	s, err := c.open(ctx, nil)
	if err != nil {
		return err
	}
	defer s.close()
	views, err := s.svc.List(ctx, "")
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.stdout, views)
	}
	w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "OWNER\tENV\tKEY\tCURSOR\tLAST SYNC\tOUTCOME\tPARKED\tOVERDUE")
	for _, v := range views {
		cursor := "none"
		if v.Sync.CursorPresent {
			cursor = "present"
		}
		parked := yesNo(v.Sync.Parked)
		if v.Sync.Parked && v.Sync.ParkedReason != "" {
			parked = "yes (" + v.Sync.ParkedReason + ")"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Owner, orDash(v.Environment), v.KeyID, cursor,
			fmtTime(v.Sync.LastSyncAt), orDash(v.Sync.LastSyncOutcome), parked, yesNo(v.Sync.Overdue))
	}
	return w.Flush()
}

func (c *itemsCmd) rm(ctx context.Context, owner events.Owner) error {
	s, err := c.open(ctx, nil)
	if err != nil {
		return err
	}
	defer s.close()
	if err := s.svc.Remove(ctx, owner); err != nil {
		return err
	}
	key, _ := events.OwnerKey(owner.Kind, owner.ID)
	fmt.Fprintf(c.stdout, "%s removed: plaid.item.removed published; token, cursor and recurring snapshot deleted\n", key)
	return nil
}

func (c *itemsCmd) sync(ctx context.Context, owner events.Owner) error {
	s, err := c.open(ctx, nil)
	if err != nil {
		return err
	}
	defer s.close()
	r, err := s.svc.Sync(ctx, owner, "forced")
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s: sync requested (%s seq %d)\n", r.Owner, events.WebhookStream, r.Seq)
	return nil
}

func (c *itemsCmd) resync(ctx context.Context, owner events.Owner) error {
	s, err := c.open(ctx, nil)
	if err != nil {
		return err
	}
	defer s.close()
	r, err := s.svc.Resync(ctx, owner)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s: resync to epoch %d requested (%s seq %d)\n", r.Owner, r.ResyncEpoch, events.WebhookStream, r.Seq)
	return nil
}

// plaidClient builds the Plaid client of `items refresh`.
func (c *itemsCmd) plaidClient(getenv func(string) string) (*plaid.Client, error) {
	sec, err := secret.FromFileOrEnv(c.plaid.secretFile, "PLAID_SECRET", getenv)
	if err != nil {
		return nil, usageError(err)
	}
	if c.plaid.clientID == "" || sec == "" {
		return nil, usageError(errors.New("items refresh: PLAID_CLIENT_ID and PLAID_SECRET (or --plaid-secret-file) are required"))
	}
	base := c.plaid.baseURL
	if base == "" {
		if base, err = plaid.BaseURLFor(c.common.Env); err != nil {
			return nil, usageError(err)
		}
	}
	return plaid.NewClient(plaid.Config{BaseURL: base, ClientID: c.plaid.clientID, Secret: sec.Reveal(), HTTPClient: &http.Client{Timeout: 30 * time.Second}})
}

func (c *itemsCmd) refresh(ctx context.Context, getenv func(string) string, owner events.Owner, asJSON bool) error {
	if err := requireKeyring(c.common); err != nil {
		return usageError(err)
	}
	pc, err := c.plaidClient(getenv)
	if err != nil {
		return err
	}
	s, err := c.open(ctx, pc)
	if err != nil {
		return err
	}
	defer s.close()
	r, err := s.svc.Refresh(ctx, owner)
	var limited *bus.RefreshLimitedError
	if errors.As(err, &limited) {
		return fmt.Errorf("refresh limit reached (at most %d per item per %v); retry after %v", bus.DefaultRefreshLimit, bus.DefaultRefreshWindow, limited.RetryAfter.Round(time.Second))
	}
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.stdout, r)
	}
	fmt.Fprintf(c.stdout, "%s: refresh accepted by Plaid (request %s); changes arrive by webhook\n", r.Owner, r.PlaidRequestID)
	return nil
}

func (c *itemsCmd) refreshUser(ctx context.Context, getenv func(string) string, userID string, asJSON bool) error {
	pc, err := c.plaidClient(getenv)
	if err != nil {
		return err
	}
	s, err := c.open(ctx, pc)
	if err != nil {
		return err
	}
	defer s.close()
	r, err := s.svc.RefreshUser(ctx, userID)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.stdout, r)
	}
	w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "user %s refreshed (Plaid request %s)\nITEM\tOK\tREGISTERED\tERROR\n", r.UserID, r.PlaidRequestID)
	for _, it := range r.Items {
		errText := "-"
		if it.Error != nil {
			errText = it.Error.ErrorCode
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", it.ItemID, yesNo(it.OK), yesNo(it.Registered), errText)
	}
	return w.Flush()
}

func (c *itemsCmd) rekey(ctx context.Context) error {
	if err := requireKeyring(c.common); err != nil {
		return usageError(err)
	}
	s, err := c.open(ctx, nil)
	if err != nil {
		return err
	}
	defer s.close()
	n, err := s.svc.Rekey(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "re-sealed %d token(s) with key %s\n", n, c.common.Keyring.NewestKeyID())
	return nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
