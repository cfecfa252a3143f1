package plaidsim

import "time"

// rateLimit is one of Plaid's Sandbox limits: requests per minute per Item
// and per client, and the error code answered beyond them.
type rateLimit struct {
	perItem   int // 0: no per-Item limit
	perClient int // 0: no per-client limit
	code      string
}

// sandboxRateLimits are Plaid's documented Sandbox limits
// (plaid.com/docs/errors/rate-limit-exceeded, 2026-03). Plaid does not
// document the processor endpoints; the Sim gives them the numbers of their
// access-token counterparts, counted separately.
func sandboxRateLimit(path string) (rateLimit, bool) {
	switch path {
	case "/transactions/sync", "/processor/transactions/sync":
		return rateLimit{50, 1000, "TRANSACTIONS_SYNC_LIMIT"}, true
	case "/transactions/get":
		return rateLimit{80, 1000, "TRANSACTIONS_LIMIT"}, true
	case "/transactions/recurring/get", "/processor/transactions/recurring/get":
		return rateLimit{20, 1000, "TRANSACTIONS_LIMIT"}, true
	case "/transactions/refresh", "/processor/transactions/refresh":
		return rateLimit{2, 100, "TRANSACTIONS_REFRESH_LIMIT"}, true
	case "/item/get":
		return rateLimit{40, 5000, "ITEM_GET_LIMIT"}, true
	case "/item/remove":
		return rateLimit{100, 500, "RATE_LIMIT"}, true
	case "/processor/token/create":
		return rateLimit{0, 500, "RATE_LIMIT"}, true
	case "/sandbox/transactions/create":
		return rateLimit{2, 50, "RATE_LIMIT"}, true
	}
	return rateLimit{}, false
}

// window remembers the times of the requests counted in the last minute.
type window struct {
	times []time.Time
}

// count drops entries older than a minute before now and returns how many
// are left.
func (w *window) count(now time.Time) int {
	cut := 0
	for cut < len(w.times) && !w.times[cut].After(now.Add(-time.Minute)) {
		cut++
	}
	w.times = w.times[cut:]
	return len(w.times)
}

// checkRateLimit counts a request to path about it (nil for none) against
// the Sandbox limits, when Options.RateLimits is on. A refused request is
// not counted. s.mu is held.
func (s *Sim) checkRateLimit(path string, it *item) *Error {
	if !s.rateLimits {
		return nil
	}
	lim, ok := sandboxRateLimit(path)
	if !ok {
		return nil
	}
	now := s.now()
	var keys []string
	if lim.perClient > 0 {
		k := path + "|client"
		if s.windowFor(k).count(now) >= lim.perClient {
			return errCode(lim.code)
		}
		keys = append(keys, k)
	}
	if lim.perItem > 0 && it != nil {
		k := path + "|item|" + it.id
		if s.windowFor(k).count(now) >= lim.perItem {
			return errCode(lim.code)
		}
		keys = append(keys, k)
	}
	for _, k := range keys {
		w := s.windows[k]
		w.times = append(w.times, now)
	}
	return nil
}

func (s *Sim) windowFor(key string) *window {
	w, ok := s.windows[key]
	if !ok {
		w = &window{}
		s.windows[key] = w
	}
	return w
}
