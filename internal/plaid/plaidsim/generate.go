package plaidsim

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"time"
)

// Deterministic item generation. Everything an item holds — ids, accounts,
// transactions, streams — comes from one PRNG seeded with (Options.Seed,
// the item's ordinal, the username), plus the requested size and the day
// the item is created (history is relative to that day, like the Sandbox's).

// itemRNG returns the PRNG of one item.
func itemRNG(seed int64, ordinal int, username string) *rand.Rand {
	h := fnv.New128a()
	fmt.Fprintf(h, "plaidsim|%d|%d|%s", seed, ordinal, username)
	sum := h.Sum(nil)
	return rand.New(rand.NewPCG(binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:])))
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newPlaidID draws an id shaped like Plaid's item, account, transaction and
// stream ids: 37 case-sensitive alphanumerics.
func newPlaidID(r *rand.Rand) string {
	var b [37]byte
	for i := range b {
		b[i] = idAlphabet[r.IntN(len(idAlphabet))]
	}
	return string(b[:])
}

// day is a calendar date as days since 1970-01-01 (UTC).
type day int

func dayOf(t time.Time) day {
	y, m, d := t.UTC().Date()
	return day(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

func (d day) time() time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

func (d day) String() string { return d.time().Format(time.DateOnly) }

func parseDay(s string) (day, bool) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0, false
	}
	return dayOf(t), true
}

// dayStrings shares one string (and one *string) per calendar day, so a
// large item does not hold a copy of its date per transaction.
type dayStrings struct {
	s map[day]*string
}

func (c *dayStrings) get(d day) *string {
	if c.s == nil {
		c.s = make(map[day]*string)
	}
	if p, ok := c.s[d]; ok {
		return p
	}
	p := ptr(d.String())
	c.s[d] = p
	return p
}

// merchant is one counterparty of generated transactions. Its pointers are
// shared by every transaction it generates and never written.
type merchant struct {
	key      string
	raw      string // the transaction's name (bank description)
	display  string // merchant_name and counterparty name; "" for none
	website  string
	entityID string
	primary  string
	detailed string
	channel  string // online, in store, other
	cpType   string // counterparty type
	code     string // transaction_code, "" for null
	txType   string // deprecated transaction_type
	min, max int64  // amount range in cents (negative: money in)
	weight   int    // relative frequency among random transactions
	acct     string // preferred account kind: checking, credit, savings
	loc      *Location

	// derived by buildMerchants
	merchantName   *string
	websitePtr     *string
	logoPtr        *string
	entityPtr      *string
	codePtr        *string
	pfc            *PersonalFinanceCategory
	iconURL        string
	counterparties []Counterparty
}

func storeLoc(address, city, region, postal string, lat, lon float64, store string) *Location {
	return &Location{Address: &address, City: &city, Region: &region, PostalCode: &postal,
		Country: ptr("US"), Lat: &lat, Lon: &lon, StoreNumber: &store}
}

// merchantTable returns the catalogue of merchants, built afresh (it is
// cheap) so no package-level state exists.
func merchantTable() []*merchant {
	ms := []*merchant{
		{key: "walmart", raw: "PURCHASE WM SUPERCENTER #1700", display: "Walmart", website: "walmart.com", entityID: "O5W5j4dN9OR3E6ypQmjdkWZZRoXEzVMz2ByWM", primary: "GENERAL_MERCHANDISE", detailed: "GENERAL_MERCHANDISE_SUPERSTORES", channel: "in store", cpType: "merchant", code: "purchase", txType: "place", min: 800, max: 18000, weight: 8, acct: "credit",
			loc: storeLoc("13425 Community Rd", "Poway", "CA", "92064", 32.959068, -117.037666, "1700")},
		{key: "target", raw: "TARGET T-2193 SAN DIEGO CA", display: "Target", website: "target.com", entityID: "QYbR1Mg9eZd4ExDYpRdGVMBnz5LXwEBmxWj6v", primary: "GENERAL_MERCHANDISE", detailed: "GENERAL_MERCHANDISE_SUPERSTORES", channel: "in store", cpType: "merchant", code: "purchase", txType: "place", min: 500, max: 15000, weight: 6, acct: "credit",
			loc: storeLoc("1288 Camino Del Rio N", "San Diego", "CA", "92108", 32.770451, -117.155602, "2193")},
		{key: "costco", raw: "COSTCO WHSE #0401", display: "Costco", website: "costco.com", entityID: "bx3JgZyOq5oVdkMz7LepPR8j0vQNWa4mYGKbE", primary: "GENERAL_MERCHANDISE", detailed: "GENERAL_MERCHANDISE_SUPERSTORES", channel: "in store", cpType: "merchant", code: "purchase", txType: "place", min: 3000, max: 40000, weight: 3, acct: "credit",
			loc: storeLoc("650 Gateway Center Dr", "San Diego", "CA", "92102", 32.707321, -117.101532, "401")},
		{key: "starbucks", raw: "STARBUCKS STORE 08214", display: "Starbucks", website: "starbucks.com", entityID: "NZAJQ5wYdo1W1p39X5q5gpb15OMe39pj4pJBb", primary: "FOOD_AND_DRINK", detailed: "FOOD_AND_DRINK_COFFEE", channel: "in store", cpType: "merchant", code: "purchase", txType: "place", min: 350, max: 1400, weight: 10, acct: "credit",
			loc: storeLoc("3040 Midway Dr", "San Diego", "CA", "92110", 32.752831, -117.206116, "8214")},
		{key: "mcdonalds", raw: "MCDONALD'S F9921", display: "McDonald's", website: "mcdonalds.com", entityID: "vzWXDWBjB06Ly3ZZ2Y3JDGqbpe6dp8BDwnr8V", primary: "FOOD_AND_DRINK", detailed: "FOOD_AND_DRINK_FAST_FOOD", channel: "in store", cpType: "merchant", code: "purchase", txType: "place", min: 450, max: 2200, weight: 6, acct: "credit",
			loc: storeLoc("4020 Rosecrans St", "San Diego", "CA", "92110", 32.752377, -117.205863, "9921")},
		{key: "chipotle", raw: "CHIPOTLE 1249", display: "Chipotle Mexican Grill", website: "chipotle.com", entityID: "xJ9NjQZ5mE1rVpYk7w2oB8dDgLnKa3RqTcWfH", primary: "FOOD_AND_DRINK", detailed: "FOOD_AND_DRINK_FAST_FOOD", channel: "in store", cpType: "merchant", code: "purchase", txType: "place", min: 900, max: 3200, weight: 5, acct: "credit"},
		{key: "doordash", raw: "Dd Doordash Burgerkin", display: "DoorDash", website: "doordash.com", entityID: "YNRJg5o2djJLv52nBA1Yn1KpL858egYVo4dpm", primary: "FOOD_AND_DRINK", detailed: "FOOD_AND_DRINK_FAST_FOOD", channel: "online", cpType: "marketplace", txType: "digital", min: 1500, max: 6000, weight: 5, acct: "credit"},
		{key: "uber", raw: "UBER 063015 SF**POOL**", display: "Uber", website: "uber.com", entityID: "eyg8o776k0QmNgVpAmaQj4WgzW9Qzo6O51gdd", primary: "TRANSPORTATION", detailed: "TRANSPORTATION_TAXIS_AND_RIDE_SHARES", channel: "online", cpType: "merchant", txType: "special", min: 700, max: 5500, weight: 6, acct: "credit"},
		{key: "lyft", raw: "LYFT *RIDE SAT 8PM", display: "Lyft", website: "lyft.com", entityID: "yA7MkqD5Q9bNxzWr3o8PjeL1gVdB4nRcKmTuS", primary: "TRANSPORTATION", detailed: "TRANSPORTATION_TAXIS_AND_RIDE_SHARES", channel: "online", cpType: "merchant", txType: "special", min: 800, max: 4800, weight: 3, acct: "credit"},
		{key: "amazon", raw: "AMZN Mktp US*2K4LT93P2", display: "Amazon", website: "amazon.com", entityID: "z4MvYepP8oXw7lJDl4o8zPpk9oKzgL1n3YvAk", primary: "GENERAL_MERCHANDISE", detailed: "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES", channel: "online", cpType: "marketplace", txType: "digital", min: 600, max: 25000, weight: 9, acct: "credit"},
		{key: "shell", raw: "SHELL OIL 57444720400", display: "Shell", website: "shell.com", entityID: "Rj7Qd1pZmN4wBkxEo9VyLa2sTcG5hFnUe8XbK", primary: "TRANSPORTATION", detailed: "TRANSPORTATION_GAS", channel: "in store", cpType: "merchant", code: "purchase", txType: "place", min: 2500, max: 8500, weight: 5, acct: "credit",
			loc: storeLoc("3605 Midway Dr", "San Diego", "CA", "92110", 32.756121, -117.214411, "57444")},
		{key: "wholefoods", raw: "WHOLEFDS HCR 10232", display: "Whole Foods Market", website: "wholefoodsmarket.com", entityID: "Lm3Kd8QpV2xNw7oZr1YbJ5eTgA9sHcUfE4RnB", primary: "FOOD_AND_DRINK", detailed: "FOOD_AND_DRINK_GROCERIES", channel: "in store", cpType: "merchant", code: "purchase", txType: "place", min: 1800, max: 16000, weight: 6, acct: "credit",
			loc: storeLoc("711 University Ave", "San Diego", "CA", "92103", 32.748468, -117.156361, "10232")},
		{key: "traderjoes", raw: "TRADER JOE S #022", display: "Trader Joe's", website: "traderjoes.com", entityID: "Pq8Wn2ZkR5yLd1oXv7JbM4aTe9sGcHfU3NmQB", primary: "FOOD_AND_DRINK", detailed: "FOOD_AND_DRINK_GROCERIES", channel: "in store", cpType: "merchant", code: "purchase", txType: "place", min: 1500, max: 9000, weight: 5, acct: "checking"},
		{key: "cvs", raw: "CVS/PHARMACY #09847", display: "CVS Pharmacy", website: "cvs.com", entityID: "Tg4Vn9QpX2wKd7oZr5YbL1eJmA8sHcUfE3RnB", primary: "MEDICAL", detailed: "MEDICAL_PHARMACIES_AND_SUPPLEMENTS", channel: "in store", cpType: "merchant", code: "purchase", txType: "place", min: 400, max: 6500, weight: 3, acct: "checking"},
		{key: "apple", raw: "APPLE.COM/BILL", display: "Apple", website: "apple.com", entityID: "Wc7Nk3QpZ9xLd2oVr8YbM5eTgA1sHfUjE4RnB", primary: "GENERAL_MERCHANDISE", detailed: "GENERAL_MERCHANDISE_ELECTRONICS", channel: "online", cpType: "merchant", txType: "digital", min: 99, max: 12900, weight: 3, acct: "credit"},
		{key: "homedepot", raw: "THE HOME DEPOT #6627", display: "The Home Depot", website: "homedepot.com", entityID: "Hd5Qk2NpV8xWd3oZr7YbL4eTgA6sJcUfE1RmB", primary: "HOME_IMPROVEMENT", detailed: "HOME_IMPROVEMENT_HARDWARE", channel: "in store", cpType: "merchant", code: "purchase", txType: "place", min: 1200, max: 30000, weight: 2, acct: "credit"},
		{key: "united", raw: "United Airlines", display: "United Airlines", website: "united.com", entityID: "Ua1Qk7NpV3xWd9oZr2YbL6eTgA4sJcUfE8RmB", primary: "TRAVEL", detailed: "TRAVEL_FLIGHTS", channel: "in store", cpType: "merchant", code: "purchase", txType: "special", min: 9000, max: 65000, weight: 1, acct: "credit"},
		{key: "venmo", raw: "VENMO PAYMENT 1023948576", display: "Venmo", website: "venmo.com", entityID: "Vn8Qk1NpV6xWd4oZr3YbL9eTgA2sJcUfE7RmB", primary: "TRANSFER_OUT", detailed: "TRANSFER_OUT_ACCOUNT_TRANSFER", channel: "online", cpType: "payment_app", code: "transfer", txType: "special", min: 1000, max: 20000, weight: 3, acct: "checking"},
		{key: "atm", raw: "ATM WITHDRAWAL 0042 SAN DIEGO", primary: "TRANSFER_OUT", detailed: "TRANSFER_OUT_WITHDRAWAL", channel: "in store", code: "atm", txType: "special", min: 2000, max: 20000, weight: 2, acct: "checking"},
		{key: "interest", raw: "INTEREST PAYMENT", primary: "INCOME", detailed: "INCOME_INTEREST_EARNED", channel: "other", code: "interest", txType: "special", min: -400, max: -5, weight: 1, acct: "savings"},
		{key: "transfer", raw: "ONLINE TRANSFER FROM CHECKING", primary: "TRANSFER_IN", detailed: "TRANSFER_IN_ACCOUNT_TRANSFER", channel: "online", code: "transfer", txType: "special", min: -50000, max: -5000, weight: 1, acct: "savings"},
		// Recurring counterparties (not drawn for random transactions).
		{key: "payroll", raw: "PLATYPUS PAYROLL DIRECT DEP", display: "", primary: "INCOME", detailed: "INCOME_WAGES", channel: "other", cpType: "income_source", code: "transfer", txType: "special", acct: "checking"},
		{key: "rent", raw: "GREENFIELD PROPERTY MGMT RENT", display: "Greenfield Property Management", primary: "RENT_AND_UTILITIES", detailed: "RENT_AND_UTILITIES_RENT", channel: "other", cpType: "merchant", code: "bill payment", txType: "special", acct: "checking"},
		{key: "coned", raw: "ConEd Bill Payment", display: "ConEd", website: "coned.com", entityID: "Ce4Qk9NpV1xWd6oZr8YbL2eTgA7sJcUfE5RmB", primary: "RENT_AND_UTILITIES", detailed: "RENT_AND_UTILITIES_GAS_AND_ELECTRICITY", channel: "online", cpType: "merchant", code: "bill payment", txType: "special", acct: "checking"},
		{key: "netflix", raw: "NETFLIX.COM", display: "Netflix", website: "netflix.com", entityID: "Nf2Qk5NpV7xWd1oZr9YbL3eTgA8sJcUfE6RmB", primary: "ENTERTAINMENT", detailed: "ENTERTAINMENT_TV_AND_MOVIES", channel: "online", cpType: "merchant", txType: "digital", acct: "credit"},
		{key: "spotify", raw: "Spotify USA", display: "Spotify", website: "spotify.com", entityID: "Sp6Qk8NpV4xWd2oZr1YbL7eTgA3sJcUfE9RmB", primary: "ENTERTAINMENT", detailed: "ENTERTAINMENT_MUSIC_AND_AUDIO", channel: "online", cpType: "merchant", txType: "digital", acct: "credit"},
		{key: "gym", raw: "PLANET FITNESS CLUB FEES", display: "Planet Fitness", website: "planetfitness.com", entityID: "Pf9Qk4NpV2xWd8oZr6YbL1eTgA5sJcUfE3RmB", primary: "PERSONAL_CARE", detailed: "PERSONAL_CARE_GYMS_AND_FITNESS_CENTERS", channel: "other", cpType: "merchant", code: "direct debit", txType: "special", acct: "checking"},
	}
	for _, m := range ms {
		if m.display != "" {
			m.merchantName = ptr(m.display)
		}
		if m.website != "" {
			m.websitePtr = ptr(m.website)
			m.logoPtr = ptr("https://plaid-merchant-logos.plaid.com/" + m.key + "_1.png")
		}
		if m.entityID != "" {
			m.entityPtr = ptr(m.entityID)
		}
		if m.code != "" {
			m.codePtr = ptr(m.code)
		}
		conf := "VERY_HIGH"
		m.pfc = &PersonalFinanceCategory{Primary: m.primary, Detailed: m.detailed, ConfidenceLevel: &conf}
		m.iconURL = "https://plaid-category-icons.plaid.com/PFC_" + m.primary + ".png"
		m.counterparties = []Counterparty{}
		if m.cpType != "" {
			name := m.display
			if name == "" {
				name = "Platypus Payroll"
			}
			m.counterparties = []Counterparty{{Name: name, Type: m.cpType, Website: m.websitePtr, LogoURL: m.logoPtr,
				EntityID: m.entityPtr, ConfidenceLevel: &conf}}
		}
		if m.loc == nil {
			m.loc = &Location{}
		}
	}
	return ms
}

// generator builds items for one Sim. It is used with the Sim's mutex held.
type generator struct {
	merchants []*merchant
	byKey     map[string]*merchant
	random    []*merchant // drawn for random transactions, with weights
	weights   int
	days      dayStrings
	usd       *string
}

func newGenerator() *generator {
	g := &generator{merchants: merchantTable(), byKey: make(map[string]*merchant), usd: ptr("USD")}
	recurring := map[string]bool{"payroll": true, "rent": true, "coned": true, "netflix": true, "spotify": true, "gym": true}
	for _, m := range g.merchants {
		g.byKey[m.key] = m
		if !recurring[m.key] {
			g.random = append(g.random, m)
			g.weights += m.weight
		}
	}
	return g
}

func (g *generator) pick(r *rand.Rand) *merchant {
	n := r.IntN(g.weights)
	for _, m := range g.random {
		if n < m.weight {
			return m
		}
		n -= m.weight
	}
	return g.random[len(g.random)-1]
}

// generated is the content of a new item.
type generated struct {
	itemID   string
	accounts []*Account
	kinds    map[string]string // account_id → checking, savings, credit
	txns     []Transaction     // in date order, oldest first
	streams  []*stream
}

// series is a recurring payment the generator repeats.
type series struct {
	m         *merchant
	frequency string
	inflow    bool
	dates     []day
	amount    func(r *rand.Rand) int64 // cents
	ids       []string
}

// generate builds an item's content: 2–3 accounts, n transactions over the
// last days days up to today, the newest few pending, and recurring streams
// when n leaves room for them.
func (g *generator) generate(r *rand.Rand, n, days int, today day) *generated {
	out := &generated{itemID: newPlaidID(r), kinds: make(map[string]string)}
	addAccount := func(kind, name, official, mask, typ, subtype string, bal Balances) {
		a := &Account{AccountID: newPlaidID(r), Balances: bal, Mask: ptr(mask), Name: name,
			OfficialName: ptr(official), Type: typ, Subtype: ptr(subtype)}
		a.Balances.IsoCurrencyCode = g.usd
		out.accounts = append(out.accounts, a)
		out.kinds[a.AccountID] = kind
	}
	checking := AmountFromCents(50000 + r.Int64N(750000))
	addAccount("checking", "Plaid Checking", "Plaid Gold Standard 0% Interest Checking", "0000", "depository", "checking",
		Balances{Available: &checking, Current: &checking})
	if r.IntN(2) == 0 {
		savings := AmountFromCents(100000 + r.Int64N(1900000))
		addAccount("savings", "Plaid Saving", "Plaid Silver Standard 0.1% Interest Saving", "1111", "depository", "savings",
			Balances{Available: &savings, Current: &savings})
	}
	limit := AmountFromCents(500000 * (1 + r.Int64N(2)))
	owed := r.Int64N(300000)
	current, available := AmountFromCents(owed), AmountFromCents(limit.cents()-owed)
	addAccount("credit", "Plaid Credit Card", "Plaid Diamond 12.5% APR Interest Credit Card", "3333", "credit", "credit card",
		Balances{Available: &available, Current: &current, Limit: &limit})

	accountFor := func(kind string) string {
		for _, a := range out.accounts {
			if out.kinds[a.AccountID] == kind {
				return a.AccountID
			}
		}
		return out.accounts[0].AccountID // checking
	}

	if days < 1 {
		days = 1
	}
	first := today - day(days) + 1

	// Recurring series over the window.
	payroll := 180000 + 1000*r.Int64N(140)
	rent := 165000 + 5000*r.Int64N(16)
	monthly := func(dom int) []day {
		var ds []day
		for d := first; d <= today; d++ {
			if d.time().Day() == dom {
				ds = append(ds, d)
			}
		}
		return ds
	}
	var semiMonthly []day
	for d := first; d <= today; d++ {
		t := d.time()
		if t.Day() == 15 || t.AddDate(0, 0, 1).Day() == 1 {
			semiMonthly = append(semiMonthly, d)
		}
	}
	fixed := func(c int64) func(*rand.Rand) int64 { return func(*rand.Rand) int64 { return c } }
	all := []*series{
		{m: g.byKey["payroll"], frequency: "SEMI_MONTHLY", inflow: true, dates: semiMonthly, amount: fixed(-payroll)},
		{m: g.byKey["rent"], frequency: "MONTHLY", dates: monthly(1), amount: fixed(rent)},
		{m: g.byKey["coned"], frequency: "MONTHLY", dates: monthly(5 + r.IntN(20)), amount: func(r *rand.Rand) int64 { return 6000 + r.Int64N(8000) }},
		{m: g.byKey["netflix"], frequency: "MONTHLY", dates: monthly(1 + r.IntN(28)), amount: fixed(1549)},
		{m: g.byKey["spotify"], frequency: "MONTHLY", dates: monthly(1 + r.IntN(28)), amount: fixed(1099)},
		{m: g.byKey["gym"], frequency: "MONTHLY", dates: monthly(1 + r.IntN(28)), amount: fixed(2499)},
	}
	recurringCount := 0
	for _, s := range all {
		recurringCount += len(s.dates)
	}
	if recurringCount > n/2 {
		all, recurringCount = nil, 0
	}

	type draft struct {
		d      day
		m      *merchant
		cents  int64
		acct   string
		series *series
	}
	drafts := make([]draft, 0, n)
	for _, s := range all {
		for _, d := range s.dates {
			drafts = append(drafts, draft{d: d, m: s.m, cents: s.amount(r), acct: accountFor(s.m.acct), series: s})
		}
	}
	for i := recurringCount; i < n; i++ {
		m := g.pick(r)
		kind := m.acct
		if kind == "credit" && r.IntN(3) == 0 {
			kind = "checking"
		}
		cents := m.min + r.Int64N(m.max-m.min+1)
		drafts = append(drafts, draft{d: first + day(r.IntN(days)), m: m, cents: cents, acct: accountFor(kind)})
	}
	slices.SortStableFunc(drafts, func(a, b draft) int { return int(a.d - b.d) })

	// The newest few random transactions are pending.
	pending := make([]bool, len(drafts))
	if want := min(max(n/25, 1), 20); n >= 5 {
		for i := len(drafts) - 1; i >= 0 && want > 0; i-- {
			if drafts[i].series == nil {
				pending[i] = true
				want--
			}
		}
	}

	out.txns = make([]Transaction, len(drafts))
	for i, dr := range drafts {
		t := g.transaction(r, dr.m, dr.acct, AmountFromCents(dr.cents), dr.d, pending[i])
		t.TransactionID = newPlaidID(r)
		out.txns[i] = t
		if dr.series != nil {
			dr.series.ids = append(dr.series.ids, t.TransactionID)
		}
	}
	for _, s := range all {
		if len(s.ids) < 2 {
			continue
		}
		out.streams = append(out.streams, g.stream(r, s, accountFor(s.m.acct), out.txns))
	}
	return out
}

// transaction builds one transaction of merchant m (its id left empty).
func (g *generator) transaction(r *rand.Rand, m *merchant, accountID string, amount Amount, d day, pending bool) Transaction {
	t := Transaction{
		AccountID:                      accountID,
		Amount:                         amount,
		Counterparties:                 m.counterparties,
		Date:                           *g.days.get(d),
		IsoCurrencyCode:                g.usd,
		Location:                       *m.loc,
		LogoURL:                        m.logoPtr,
		MerchantEntityID:               m.entityPtr,
		MerchantName:                   m.merchantName,
		Name:                           m.raw,
		OriginalDescription:            ptr(m.raw),
		PaymentChannel:                 m.channel,
		Pending:                        pending,
		PersonalFinanceCategory:        m.pfc,
		PersonalFinanceCategoryIconURL: m.iconURL,
		TransactionCode:                m.codePtr,
		TransactionType:                m.txType,
		Website:                        m.websitePtr,
	}
	if pending {
		t.AuthorizedDate = g.days.get(d)
		return t
	}
	auth := d - day(r.IntN(3))
	t.AuthorizedDate = g.days.get(auth)
	if m.channel == "in store" {
		at := d.time().Add(time.Duration(7*3600+r.IntN(14*3600)) * time.Second)
		t.Datetime = ptr(at.Format(time.RFC3339))
		t.AuthorizedDatetime = ptr(auth.time().Add(time.Duration(r.IntN(86400)) * time.Second).Format(time.RFC3339))
	}
	return t
}

// stream summarises a series into Plaid's TransactionStream.
func (g *generator) stream(r *rand.Rand, s *series, accountID string, txns []Transaction) *stream {
	byID := make(map[string]*Transaction, len(s.ids))
	for i := range txns {
		byID[txns[i].TransactionID] = &txns[i]
	}
	var sum int64
	var last Amount
	for _, id := range s.ids {
		t := byID[id]
		sum += t.Amount.cents()
		last = t.Amount
	}
	avg := sum / int64(len(s.ids))
	firstDate, lastDate := byID[s.ids[0]].Date, byID[s.ids[len(s.ids)-1]].Date
	ld, _ := parseDay(lastDate)
	next := ld + 30
	if s.frequency == "SEMI_MONTHLY" {
		next = ld + 15
	}
	status := "MATURE"
	if len(s.ids) < 3 {
		status = "EARLY_DETECTION"
	}
	unknown := "UNKNOWN"
	desc := s.m.display
	if s.m.key == "payroll" {
		desc = "Platypus Payroll"
	}
	st := TransactionStream{
		AccountID:         accountID,
		StreamID:          newPlaidID(r),
		Description:       desc,
		MerchantName:      s.m.merchantName,
		FirstDate:         firstDate,
		LastDate:          lastDate,
		PredictedNextDate: ptr(next.String()),
		Frequency:         s.frequency,
		TransactionIDs:    slices.Clone(s.ids),
		AverageAmount:     StreamAmount{Amount: AmountFromCents(avg), IsoCurrencyCode: g.usd},
		LastAmount:        StreamAmount{Amount: last, IsoCurrencyCode: g.usd},
		IsActive:          true,
		Status:            status,
		PersonalFinanceCategory: &PersonalFinanceCategory{Primary: s.m.primary, Detailed: s.m.detailed,
			ConfidenceLevel: &unknown},
	}
	return &stream{s: st, inflow: s.inflow}
}
