package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/envflag"
	"github.com/plaidstream/plaidstream/internal/events"
)

const itemsUsage = `Usage: fetcher items add --item-id ID --access-token TOKEN [--user-id ID] [flags]
       fetcher items add --account-id ID --processor-token TOKEN [flags]
       fetcher items get ID | --item-id ID | --account-id ID [--json]
       fetcher items rm ID | --item-id ID | --account-id ID
       fetcher items list [--json]

Manage the access tokens (items) and processor tokens (accounts) the fetcher
syncs with. Tokens are sealed with AES-256-GCM under the token key before
they reach PLAID_TOKENS and are never printed. ID may also be an owner key
as "items list" prints it (item.<id>, processor.<account_id>).
Run "fetcher items <verb> --help" for a verb's flags.
`

// itemsCmd is one `fetcher items` invocation.
type itemsCmd struct {
	nats   NATSConfig
	common CommonConfig
	stdin  io.Reader
	stdout io.Writer
	logger *slog.Logger
}

func runItems(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, itemsUsage)
		return usageError(errors.New("items: want add, get, rm or list"))
	}
	verb, args := args[0], args[1:]
	switch verb {
	case "add", "get", "rm", "list":
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stderr, itemsUsage)
		return flag.ErrHelp
	default:
		fmt.Fprint(stderr, itemsUsage)
		return usageError(fmt.Errorf("items: unknown verb %q: want add, get, rm or list", verb))
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
	case "get", "rm":
		fs.StringVar(&itemID, "item-id", "", "Plaid item id")
		fs.StringVar(&accountID, "account-id", "", "account id of a processor token")
	}
	if verb == "get" || verb == "list" {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	}
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), itemsUsage)
		if verb == "rm" {
			fmt.Fprint(fs.Output(), "\nrm deletes the token, the sync state and the recurring snapshot; it publishes no\nevent (a removal API with a final event comes later).\n")
		}
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

	switch verb {
	case "add":
		if len(positional) > 0 {
			return usageError(fmt.Errorf("items add: unexpected argument %q", positional[0]))
		}
		return c.add(ctx, itemID, accessToken, userID, accountID, processorToken)
	case "list":
		if len(positional) > 0 {
			return usageError(fmt.Errorf("items list: unexpected argument %q", positional[0]))
		}
		return c.list(ctx, asJSON)
	}
	owner, err := ownerFromArgs(positional, itemID, accountID)
	if err != nil {
		return usageError(fmt.Errorf("items %s: %w", verb, err))
	}
	if verb == "get" {
		return c.get(ctx, owner, asJSON)
	}
	return c.rm(ctx, owner)
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

// stores are the buckets the items CLI uses.
type stores struct {
	nc        *nats.Conn
	js        jetstream.JetStream
	tokensKV  jetstream.KeyValue
	tokens    *bus.TokenStore
	items     *bus.ItemStore
	recurring jetstream.KeyValue
}

// open connects and binds to the buckets, creating missing ones (never
// changing existing ones).
func (c *itemsCmd) open(ctx context.Context) (*stores, error) {
	nc, js, err := connect(c.nats, "fetcher-items", c.logger)
	if err != nil {
		return nil, err
	}
	s := &stores{nc: nc, js: js}
	for _, b := range []struct {
		spec events.BucketSpec
		kv   *jetstream.KeyValue
	}{
		{events.TokensBucketSpec(), &s.tokensKV},
		{events.ItemsBucketSpec(), new(jetstream.KeyValue)},
		{events.RecurringBucketSpec(), &s.recurring},
	} {
		kv, err := openBucket(ctx, js, b.spec, c.common.Replicas)
		if err != nil {
			nc.Close()
			return nil, err
		}
		*b.kv = kv
		if b.spec.Name == events.ItemsBucket {
			s.items = bus.NewItemStore(kv)
		}
	}
	s.tokens = bus.NewTokenStore(s.tokensKV, c.common.Keyring)
	return s, nil
}

func (s *stores) close() {
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
	var owner events.Owner
	var token string
	var err error
	switch {
	case itemID != "" && accountID != "":
		return usageError(errors.New("items add: give --item-id or --account-id, not both"))
	case itemID != "":
		if processorToken != "" || accessToken == "" {
			return usageError(errors.New("items add: --item-id needs --access-token (and no --processor-token)"))
		}
		owner = events.Owner{Kind: events.OwnerItem, ID: itemID}
		token, err = c.readToken(accessToken, "access token")
	case accountID != "":
		if accessToken != "" || userID != "" || processorToken == "" {
			return usageError(errors.New("items add: --account-id needs --processor-token (and no --access-token or --user-id)"))
		}
		owner = events.Owner{Kind: events.OwnerProcessor, ID: accountID}
		token, err = c.readToken(processorToken, "processor token")
	default:
		return usageError(errors.New("items add: --item-id with --access-token, or --account-id with --processor-token, is required"))
	}
	if err != nil {
		return usageError(err)
	}
	key, err := events.OwnerKey(owner.Kind, owner.ID)
	if err != nil {
		return usageError(err)
	}
	if err := requireKeyring(c.common); err != nil {
		return usageError(err)
	}
	env := c.common.Env

	s, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	if _, err := ensureWebhookStream(ctx, s.js, c.common.Replicas); err != nil {
		return err
	}
	var created bool
	if owner.Kind == events.OwnerItem {
		created, err = s.tokens.PutItem(ctx, owner.ID, token, userID, env)
	} else {
		created, err = s.tokens.PutProcessor(ctx, owner.ID, token, env)
	}
	if err != nil {
		return err
	}
	if _, err := s.items.Create(ctx, bus.ItemState{Owner: key, Kind: owner.Kind, Environment: env}); err != nil && !errors.Is(err, bus.ErrExists) {
		return err
	}
	// The token's revision makes the request id unique per registration, so
	// repeating the same command collapses in the duplicate window while a
	// new token schedules its own sync.
	e, err := s.tokensKV.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("read back credential %s: %w", key, err)
	}
	requestID := "registered-" + string(owner.Kind) + "-" + owner.ID + "-" + strconv.FormatUint(e.Revision(), 10)
	ack, err := bus.RequestSync(ctx, s.js, owner, bus.SyncRequestOptions{Environment: env, Reason: "registered", RequestID: requestID})
	if err != nil {
		return fmt.Errorf("stored %s, but requesting its first sync failed (run the same command again): %w", key, err)
	}
	what := "token replaced"
	if created {
		what = "registered"
	}
	fmt.Fprintf(c.stdout, "%s %s (environment %s, token sealed with key %s); first sync requested (%s seq %d)\n",
		key, what, env, c.common.Keyring.NewestKeyID(), events.WebhookStream, ack.Sequence)
	return nil
}

// itemView is what get and list show: registration and sync state, never
// the token or the cursor's text.
type itemView struct {
	Owner       string           `json:"owner"`
	Kind        events.OwnerKind `json:"kind"`
	ID          string           `json:"id"`
	Registered  bool             `json:"registered"`
	Environment string           `json:"environment,omitempty"`
	UserID      string           `json:"user_id,omitempty"`
	KeyID       string           `json:"key_id,omitempty"`
	CreatedAt   time.Time        `json:"created_at,omitzero"`
	UpdatedAt   time.Time        `json:"updated_at,omitzero"`
	Sync        *syncView        `json:"sync,omitempty"`
}

type syncView struct {
	CursorPresent    bool      `json:"cursor_present"`
	ResyncEpoch      uint64    `json:"resync_epoch"`
	SyncedThroughSeq uint64    `json:"synced_through_seq"`
	LastSyncAt       time.Time `json:"last_sync_at,omitzero"`
	LastSyncOutcome  string    `json:"last_sync_outcome,omitempty"`
	LastError        string    `json:"last_error,omitempty"`
	Parked           bool      `json:"parked"`
	ParkedReason     string    `json:"parked_reason,omitempty"`
	ParkedAt         time.Time `json:"parked_at,omitzero"`
	Overdue          bool      `json:"overdue"`
	LastWebhookAt    time.Time `json:"last_webhook_at,omitzero"`
}

func newItemView(key string, cred *bus.CredentialInfo, st *bus.ItemState) itemView {
	o, _ := events.ParseOwnerKey(key) // keys come from OwnerKey or the buckets' decoders
	v := itemView{Owner: key, Kind: o.Kind, ID: o.ID}
	if cred != nil {
		v.Registered = true
		v.Environment, v.UserID, v.KeyID = cred.Environment, cred.UserID, cred.KeyID
		v.CreatedAt, v.UpdatedAt = cred.CreatedAt, cred.UpdatedAt
	}
	if st != nil {
		if v.Environment == "" {
			v.Environment = st.Environment
		}
		v.Sync = &syncView{
			CursorPresent: st.Cursor != "", ResyncEpoch: st.ResyncEpoch, SyncedThroughSeq: st.SyncedThroughSeq,
			LastSyncAt: st.LastSyncAt, LastSyncOutcome: st.LastSyncOutcome, LastError: st.LastError,
			Parked: st.Parked, ParkedReason: st.ParkedReason, ParkedAt: st.ParkedAt,
			Overdue: st.Overdue, LastWebhookAt: st.LastWebhookAt,
		}
	}
	return v
}

func (c *itemsCmd) get(ctx context.Context, owner events.Owner, asJSON bool) error {
	key, _ := events.OwnerKey(owner.Kind, owner.ID) // checked by ownerFromArgs
	s, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	// List rather than Get: describing a credential needs no token key.
	creds, err := s.tokens.List(ctx)
	if err != nil {
		return err
	}
	var cred *bus.CredentialInfo
	for i := range creds {
		if creds[i].Owner == key {
			cred = &creds[i]
		}
	}
	var st *bus.ItemState
	state, _, err := s.items.Get(ctx, key)
	switch {
	case err == nil:
		st = &state
	case !errors.Is(err, bus.ErrNotFound):
		return err
	}
	if cred == nil && st == nil {
		return fmt.Errorf("%s is not registered", key)
	}
	v := newItemView(key, cred, st)
	if asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	row := func(k, val string) { fmt.Fprintf(w, "%s:\t%s\n", k, val) }
	row("owner", v.Owner)
	row("kind", string(v.Kind))
	if !v.Registered {
		row("registered", "no (sync state without a token)")
	}
	row("environment", orDash(v.Environment))
	if v.Registered {
		row("user id", orDash(v.UserID))
		row("token key id", v.KeyID)
		row("registered at", fmtTime(v.CreatedAt))
		row("token updated", fmtTime(v.UpdatedAt))
	}
	if v.Sync == nil {
		row("sync state", "none yet")
		return w.Flush()
	}
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
	s, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	creds, err := s.tokens.List(ctx)
	if err != nil {
		return err
	}
	states, err := s.items.List(ctx)
	if err != nil {
		return err
	}
	byOwner := map[string]*bus.ItemState{}
	for i := range states {
		byOwner[states[i].State.Owner] = &states[i].State
	}
	views := make([]itemView, 0, len(creds))
	for i := range creds {
		views = append(views, newItemView(creds[i].Owner, &creds[i], byOwner[creds[i].Owner]))
		delete(byOwner, creds[i].Owner)
	}
	for i := range states { // states without a token, in owner order
		if st, ok := byOwner[states[i].State.Owner]; ok {
			views = append(views, newItemView(st.Owner, nil, st))
		}
	}
	if asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(views)
	}
	w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "OWNER\tENV\tTOKEN\tCURSOR\tLAST SYNC\tOUTCOME\tPARKED\tOVERDUE")
	for _, v := range views {
		token, cursor, lastSync, outcome, parked, overdue := "missing", "-", "-", "-", "-", "-"
		if v.Registered {
			token = "key " + v.KeyID
		}
		if v.Sync != nil {
			cursor = "none"
			if v.Sync.CursorPresent {
				cursor = "present"
			}
			lastSync, outcome = fmtTime(v.Sync.LastSyncAt), orDash(v.Sync.LastSyncOutcome)
			parked, overdue = yesNo(v.Sync.Parked), yesNo(v.Sync.Overdue)
			if v.Sync.Parked && v.Sync.ParkedReason != "" {
				parked = "yes (" + v.Sync.ParkedReason + ")"
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Owner, orDash(v.Environment), token, cursor, lastSync, outcome, parked, overdue)
	}
	return w.Flush()
}

func (c *itemsCmd) rm(ctx context.Context, owner events.Owner) error {
	key, _ := events.OwnerKey(owner.Kind, owner.ID) // checked by ownerFromArgs
	s, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	found := true
	if err := s.tokens.Delete(ctx, key); errors.Is(err, bus.ErrNotFound) {
		found = false
	} else if err != nil {
		return err
	}
	if _, _, err := s.items.Get(ctx, key); err == nil {
		found = true
	} else if !errors.Is(err, bus.ErrNotFound) {
		return err
	}
	if !found {
		return fmt.Errorf("%s is not registered", key)
	}
	if err := s.items.Delete(ctx, key); err != nil {
		return err
	}
	if err := s.recurring.Purge(ctx, key); err != nil {
		return fmt.Errorf("delete recurring snapshot %s: %w", key, err)
	}
	fmt.Fprintf(c.stdout, "%s removed (token, sync state and recurring snapshot)\n", key)
	return nil
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
