package plaidsim

import (
	"net/url"
	"regexp"
	"slices"
	"time"
)

// ItemOptions describes an item to create, for POST /sim/items, POST
// /sim/users and CreateItem. The zero value is a ready user_good item of 50
// transactions at First Platypus Bank, like the Sandbox's.
type ItemOptions struct {
	// UserID makes the item one of this user's (see
	// /user/transactions/refresh). Optional.
	UserID string `json:"user_id,omitempty"`
	// Username is the Sandbox test user: user_good (default; data does not
	// change on refresh) or user_transactions_dynamic (each refresh posts
	// pending transactions, adds new ones and changes one amount).
	Username string `json:"username,omitempty"`
	// InstitutionID defaults to ins_109508 (First Platypus Bank).
	InstitutionID string `json:"institution_id,omitempty"`
	// Transactions is the number of transactions generated; nil means 50.
	// Up to 1,000,000.
	Transactions *int `json:"transactions,omitempty"`
	// DaysRequested is the history length in days, 1–730; 0 means 90 for up
	// to 500 transactions and 730 above.
	DaysRequested int `json:"days_requested,omitempty"`
	// Webhook receives the item's webhooks.
	Webhook string `json:"webhook,omitempty"`
	// NotReady starts the item at NOT_READY; it reaches
	// INITIAL_UPDATE_COMPLETE and HISTORICAL_UPDATE_COMPLETE after
	// ReadinessDelays (or at once through AdvanceReadiness).
	NotReady bool `json:"not_ready,omitempty"`
	// ReadinessDelays default to 10 s and 1 m (divided by TimeFactor).
	ReadinessDelays *ReadinessDelays `json:"readiness_delays,omitempty"`

	products []string
}

// institutionNames are the Sandbox institutions the Sim names; any other
// ins_<digits> is accepted with a generic name.
var institutionNames = map[string]string{
	"ins_109508": "First Platypus Bank",
	"ins_109509": "First Gingham Credit Union",
	"ins_109510": "Tattersall Federal Credit Union",
	"ins_109511": "Tartan Bank",
	"ins_109512": "Houndstooth Bank",
	"ins_115616": "Platypus OAuth Bank",
}

var institutionPattern = regexp.MustCompile(`^ins_[0-9]+$`)

func validWebhookURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// createItem makes a new item. s.mu is held.
func (s *Sim) createItem(o ItemOptions) (*item, *Error) {
	if o.Username == "" {
		o.Username = userGood
	}
	if o.Username != userGood && o.Username != userDynamic {
		return nil, errInvalidField("override_username must be user_good or user_transactions_dynamic (the test users plaidsim simulates)")
	}
	if o.InstitutionID == "" {
		o.InstitutionID = "ins_109508"
	}
	if !institutionPattern.MatchString(o.InstitutionID) {
		return nil, errCode("INVALID_INSTITUTION")
	}
	n := 50
	if o.Transactions != nil {
		n = *o.Transactions
	}
	if n < 0 || n > 1_000_000 {
		return nil, errInvalidField("transactions must be between 0 and 1000000")
	}
	days := o.DaysRequested
	if days == 0 {
		days = 90
		if n > 500 {
			days = 730
		}
	}
	if days < 1 || days > 730 {
		return nil, errInvalidField("days_requested must be between 1 and 730")
	}
	if o.Webhook != "" && !validWebhookURL(o.Webhook) {
		return nil, errInvalidField("webhook must be an absolute http or https URL")
	}
	delays := ReadinessDelays{Initial: Duration(defaultInitialDelay), Historical: Duration(defaultHistoricalDelay)}
	if o.ReadinessDelays != nil {
		delays = *o.ReadinessDelays
		if delays.Initial < 0 || delays.Historical < 0 {
			return nil, errInvalidField("readiness_delays must not be negative")
		}
	}
	products := o.products
	if len(products) == 0 {
		products = []string{"transactions"}
	}

	now := s.now()
	today := dayOf(now)
	ordinal := s.nextOrdinal
	s.nextOrdinal++
	rng := itemRNG(s.seed, ordinal, o.Username)
	g := s.gen.generate(rng, n, days, today)
	name, ok := institutionNames[o.InstitutionID]
	if !ok {
		name = "Sandbox Institution " + o.InstitutionID
	}
	it := &item{
		ordinal:         ordinal,
		id:              g.itemID,
		userID:          o.UserID,
		username:        o.Username,
		institutionID:   o.InstitutionID,
		institutionName: name,
		products:        products,
		webhook:         o.Webhook,
		createdAt:       now,
		rng:             rng,
		accounts:        g.accounts,
		kinds:           g.kinds,
		txns:            make(map[string]*txnRec, len(g.txns)),
		log:             make([]logEntry, 0, len(g.txns)),
		acctHead:        make(map[string]uint64),
		status:          statusHistorical,
		delays:          delays,
		streams:         g.streams,
		streamsUpdated:  now,
		lastUpdate:      now,
	}
	if o.NotReady {
		it.status = statusNotReady
		recent := (today - 29).String()
		for _, t := range g.txns {
			if t.Date >= recent {
				it.staged[0] = append(it.staged[0], t)
			} else {
				it.staged[1] = append(it.staged[1], t)
			}
		}
		s.scheduleReadiness(it)
	} else {
		var cs changeSet
		for _, t := range g.txns {
			it.insert(t, &cs)
		}
	}
	s.items[it.id] = it
	s.itemOrder = append(s.itemOrder, it)
	if it.userID != "" {
		s.users[it.userID] = append(s.users[it.userID], it)
	}
	return it, nil
}

// newAccessToken mints an access token for it. s.mu is held.
func (s *Sim) newAccessToken(it *item) string {
	tok := "access-sandbox-" + newUUID()
	s.accessTokens[tok] = it
	return tok
}

// itemWire is Plaid's Item object.
type itemWire struct {
	ItemID                string        `json:"item_id"`
	InstitutionID         *string       `json:"institution_id"`
	InstitutionName       *string       `json:"institution_name"`
	Webhook               *string       `json:"webhook"`
	AuthMethod            *string       `json:"auth_method"`
	Error                 *webhookError `json:"error"`
	AvailableProducts     []string      `json:"available_products"`
	BilledProducts        []string      `json:"billed_products"`
	Products              []string      `json:"products"`
	ConsentedProducts     []string      `json:"consented_products"`
	ConsentExpirationTime *string       `json:"consent_expiration_time"`
	UpdateType            string        `json:"update_type"`
	CreatedAt             string        `json:"created_at,omitempty"`
}

func (s *Sim) itemWire(it *item, withCreated bool) itemWire {
	w := itemWire{
		ItemID:            it.id,
		InstitutionID:     ptr(it.institutionID),
		InstitutionName:   ptr(it.institutionName),
		AvailableProducts: []string{},
		BilledProducts:    slices.Clone(it.products),
		Products:          slices.Clone(it.products),
		ConsentedProducts: slices.Clone(it.products),
		UpdateType:        "background",
	}
	for _, p := range []string{"assets", "auth", "balance", "identity", "investments", "liabilities"} {
		if !slices.Contains(it.products, p) {
			w.AvailableProducts = append(w.AvailableProducts, p)
		}
	}
	if it.webhook != "" {
		w.Webhook = ptr(it.webhook)
	}
	if it.err != nil {
		w.Error = it.err.forWebhook()
	}
	if withCreated {
		w.CreatedAt = it.createdAt.UTC().Format(time.RFC3339)
	}
	return w
}

type itemGetResponse struct {
	Item   itemWire    `json:"item"`
	Status *itemStatus `json:"status"`
	withRequestID
}

type itemStatus struct {
	Transactions struct {
		LastSuccessfulUpdate *string `json:"last_successful_update"`
		LastFailedUpdate     *string `json:"last_failed_update"`
	} `json:"transactions"`
	LastWebhook *struct {
		SentAt   *string `json:"sent_at"`
		CodeSent string  `json:"code_sent"`
	} `json:"last_webhook"`
}

// itemGet serves /item/get. It answers even for an item in an error state,
// with the error in item.error, as Plaid does.
func (s *Sim) itemGet(c *call) (any, *Error) {
	it := c.it
	st := &itemStatus{}
	if it.status != statusNotReady {
		st.Transactions.LastSuccessfulUpdate = ptr(it.lastUpdate.UTC().Format(time.RFC3339))
	}
	if !it.lastWebhookAt.IsZero() {
		st.LastWebhook = &struct {
			SentAt   *string `json:"sent_at"`
			CodeSent string  `json:"code_sent"`
		}{SentAt: ptr(it.lastWebhookAt.UTC().Format(time.RFC3339)), CodeSent: it.lastWebhookCode}
	}
	return &itemGetResponse{Item: s.itemWire(it, true), Status: st}, nil
}

// itemRemove serves /item/remove: afterwards the access token (and the
// item's processor tokens) get ITEM_NOT_FOUND.
func (s *Sim) itemRemove(c *call) (any, *Error) {
	it := c.it
	it.removed = true
	s.cancelTimer(it.timer)
	it.timer = nil
	return &requestIDOnly{}, nil
}

type exchangeRequest struct {
	PublicToken string `json:"public_token"`
}

type exchangeResponse struct {
	AccessToken string `json:"access_token"`
	ItemID      string `json:"item_id"`
	withRequestID
}

// itemPublicTokenExchange serves /item/public_token/exchange. A public
// token can be exchanged once.
func (s *Sim) itemPublicTokenExchange(c *call) (any, *Error) {
	var req exchangeRequest
	if err := decodeRequest(c.body, &req); err != nil {
		return nil, err
	}
	it, ok := s.publicTokens[req.PublicToken]
	if !ok {
		return nil, errCode("INVALID_PUBLIC_TOKEN")
	}
	delete(s.publicTokens, req.PublicToken)
	if it.removed {
		return nil, errCode("ITEM_NOT_FOUND")
	}
	return &exchangeResponse{AccessToken: s.newAccessToken(it), ItemID: it.id}, nil
}

type processorTokenCreateRequest struct {
	AccountID string `json:"account_id"`
	Processor string `json:"processor"`
}

type processorTokenCreateResponse struct {
	ProcessorToken string `json:"processor_token"`
	withRequestID
}

// processors is the processor enum of Plaid's ProcessorTokenCreateRequest.
var processors = []string{"dwolla", "galileo", "modern_treasury", "ocrolus", "vesta", "drivewealth", "vopay", "achq",
	"check", "checkbook", "circle", "sila_money", "rize", "svb_api", "unit", "wyre", "lithic", "alpaca", "astra", "moov",
	"treasury_prime", "marqeta", "checkout", "solid", "highnote", "gemini", "apex_clearing", "gusto", "adyen", "atomic",
	"i2c", "wepay", "riskified", "utb", "adp_roll", "fortress_trust", "bond", "bakkt", "teal", "zero_hash", "taba_pay",
	"knot", "sardine", "alloy", "finix", "nuvei", "layer", "boom", "paynote", "stake", "wedbush", "esusu", "ansa",
	"scribeup", "straddle", "loanpro", "bloom_credit", "sfox", "brale", "parafin", "cardless", "open_ledger", "valon",
	"gainbridge", "cardlytics", "pinwheel", "thread_bank", "array", "fiant", "oatfi", "curinos", "frame", "interchecks",
	"interchange", "atomicfi"}

// processorTokenCreate serves /processor/token/create.
func (s *Sim) processorTokenCreate(c *call) (any, *Error) {
	var req processorTokenCreateRequest
	if err := decodeRequest(c.body, &req); err != nil {
		return nil, err
	}
	if !slices.Contains(processors, req.Processor) {
		return nil, errInvalidField("processor must be one of Plaid's processor partners")
	}
	if c.it.account(req.AccountID) == nil {
		return nil, errCode("INVALID_ACCOUNT_ID")
	}
	p := &processorToken{token: "processor-sandbox-" + newUUID(), it: c.it, accountID: req.AccountID}
	s.processorTokens[p.token] = p
	c.it.processors = append(c.it.processors, p)
	return &processorTokenCreateResponse{ProcessorToken: p.token}, nil
}

type publicTokenCreateRequest struct {
	InstitutionID   string   `json:"institution_id"`
	InitialProducts []string `json:"initial_products"`
	Options         *struct {
		Webhook          string  `json:"webhook"`
		OverrideUsername *string `json:"override_username"`
		OverridePassword *string `json:"override_password"`
		Transactions     *struct {
			StartDate     string `json:"start_date"`
			EndDate       string `json:"end_date"`
			DaysRequested *int   `json:"days_requested"`
		} `json:"transactions"`
	} `json:"options"`
	UserID string `json:"user_id"`
}

type publicTokenCreateResponse struct {
	PublicToken string `json:"public_token"`
	withRequestID
}

// productNames is Plaid's Products enum.
var productNames = []string{"assets", "auth", "balance", "balance_plus", "beacon", "identity", "identity_match",
	"investments", "investments_auth", "liabilities", "payment_initiation", "identity_verification", "transactions",
	"credit_details", "income", "income_verification", "standing_orders", "transfer", "employment",
	"recurring_transactions", "transactions_refresh", "signal", "statements", "processor_payments",
	"processor_identity", "profile", "cra_base_report", "cra_income_insights", "cra_partner_insights",
	"cra_network_insights", "cra_cashflow_insights", "cra_monitoring", "cra_lend_score", "cra_plaid_credit_score",
	"layer", "pay_by_bank", "protect_linked_bank", "protect_transactions"}

// sandboxPublicTokenCreate serves /sandbox/public_token/create: it creates
// a ready item of 50 transactions (user_good unless options.override_username
// says user_transactions_dynamic) and returns a public token for it.
func (s *Sim) sandboxPublicTokenCreate(c *call) (any, *Error) {
	var req publicTokenCreateRequest
	if err := decodeRequest(c.body, &req); err != nil {
		return nil, err
	}
	if len(req.InitialProducts) == 0 {
		return nil, errInvalidField("initial_products must contain at least one product")
	}
	for _, p := range req.InitialProducts {
		if !slices.Contains(productNames, p) {
			return nil, errInvalidField("initial_products contains an unknown product: " + p)
		}
	}
	o := ItemOptions{InstitutionID: req.InstitutionID, UserID: req.UserID, products: slices.Clone(req.InitialProducts)}
	if opt := req.Options; opt != nil {
		if opt.Webhook != "" && !validWebhookURL(opt.Webhook) {
			return nil, errInvalidField("options.webhook must be an absolute http or https URL")
		}
		o.Webhook = opt.Webhook
		if opt.OverrideUsername != nil {
			o.Username = *opt.OverrideUsername
		}
		if o.Username == "" || o.Username == userGood {
			if opt.OverridePassword != nil && *opt.OverridePassword != "" && *opt.OverridePassword != "pass_good" {
				return nil, errCode("INVALID_CREDENTIALS")
			}
		}
		if tx := opt.Transactions; tx != nil {
			if tx.DaysRequested != nil {
				if *tx.DaysRequested < 1 || *tx.DaysRequested > 730 {
					return nil, errInvalidField("options.transactions.days_requested must be between 1 and 730")
				}
				o.DaysRequested = *tx.DaysRequested
			}
			if tx.StartDate != "" {
				start, ok := parseDay(tx.StartDate)
				if !ok {
					return nil, errInvalidField("options.transactions.start_date must be a date in the format YYYY-MM-DD")
				}
				o.DaysRequested = min(max(int(dayOf(s.now())-start)+1, 1), 730)
			}
		}
	}
	if o.Username != "" && o.Username != userGood && o.Username != userDynamic {
		return nil, errInvalidField("options.override_username must be user_good or user_transactions_dynamic (the test users plaidsim simulates)")
	}
	it, err := s.createItem(o)
	if err != nil {
		return nil, err
	}
	tok := "public-sandbox-" + newUUID()
	s.publicTokens[tok] = it
	return &publicTokenCreateResponse{PublicToken: tok}, nil
}
