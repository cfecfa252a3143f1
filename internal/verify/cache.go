package verify

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"time"
)

// The key cache policy is described in the package documentation (doc.go).

// lookupState is what the cache knows about a kid.
type lookupState int

const (
	stateMiss    lookupState = iota // never fetched, or negative entry lapsed
	stateLive                       // live key, not due for a re-check
	stateDue                        // live key, due for a re-check
	stateExpired                    // Plaid reported expired_at
	stateUnknown                    // Plaid called the kid unknown within NegativeTTL
)

// lookup reports what the cache knows about kid at now.
func (v *Verifier) lookup(kid string, now time.Time) (cachedKey, lookupState) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e, ok := v.cache[kid]; ok {
		switch {
		case e.expired:
			return e, stateExpired
		case now.Before(e.nextCheck):
			return e, stateLive
		default:
			return e, stateDue
		}
	}
	if until, ok := v.unknown[kid]; ok {
		if now.Before(until) {
			return cachedKey{}, stateUnknown
		}
		delete(v.unknown, kid)
	}
	return cachedKey{}, stateMiss
}

// key returns the live public key for kid, fetching it if needed.
func (v *Verifier) key(ctx context.Context, kid string, now time.Time) (*ecdsa.PublicKey, error) {
	if e, st := v.lookup(kid, now); st != stateMiss && st != stateDue {
		return answer(kid, e, st)
	}
	res, err, _ := v.flights.Do(kid, func() (any, error) {
		// Every caller waiting on kid shares this fetch, so one client
		// hanging up must not cancel it for the others (nor let a forger
		// cancel the re-check that would notice an expiry): detach it from
		// the caller and bound it by its own timeout.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), v.fetchTimeout)
		defer cancel()
		return v.fetch(fctx, kid, now)
	})
	if err != nil {
		return nil, err
	}
	return res.(*ecdsa.PublicKey), nil
}

// answer turns a settled cache state into key or error.
func answer(kid string, e cachedKey, st lookupState) (*ecdsa.PublicKey, error) {
	switch st {
	case stateLive, stateDue:
		return e.pub, nil
	case stateExpired:
		return nil, fmt.Errorf("%w: kid %q", ErrKeyExpired, kid)
	default:
		return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, kid)
	}
}

// fetch runs inside the singleflight for kid. It re-reads the cache first: a
// flight that finished after the caller's lookup may already have answered.
func (v *Verifier) fetch(ctx context.Context, kid string, now time.Time) (*ecdsa.PublicKey, error) {
	e, st := v.lookup(kid, now)
	switch st {
	case stateLive, stateExpired, stateUnknown:
		return answer(kid, e, st)
	case stateMiss:
		if !v.limiter.AllowN(now, 1) {
			v.report("throttled")
			return nil, fmt.Errorf("%w: kid %q: key fetch rate limit exceeded", ErrKeyFetch, kid)
		}
	}
	recheck := st == stateDue

	k, err := v.fetcher.FetchKey(ctx, kid)
	if errors.Is(err, ErrUnknownKey) {
		v.report("unknown")
		v.mu.Lock()
		delete(v.cache, kid)
		v.rememberUnknown(kid, now)
		v.mu.Unlock()
		return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, kid)
	}
	var pub *ecdsa.PublicKey
	switch {
	case err != nil:
	case k.KeyID != kid:
		err = fmt.Errorf("fetcher returned key %q", k.KeyID)
	case k.ExpiredAt != nil:
		v.report("expired")
		v.store(kid, cachedKey{expired: true})
		return nil, fmt.Errorf("%w: kid %q", ErrKeyExpired, kid)
	default:
		pub, err = ecdsaKey(k)
	}
	if err != nil {
		v.report("error")
		if recheck {
			e.nextCheck = now.Add(min(recheckRetry, v.recheck))
			v.store(kid, e)
			return e.pub, nil
		}
		return nil, fetchError(kid, err)
	}
	v.report("ok")
	v.store(kid, cachedKey{pub: pub, nextCheck: now.Add(v.recheck)})
	return pub, nil
}

// fetchError wraps a fetch failure in ErrKeyFetch. It keeps err in the chain
// (for errors.As on a client's error type) unless err wraps one of this
// package's sentinels, which would break "exactly one sentinel".
func fetchError(kid string, err error) error {
	if wrapsSentinel(err) {
		return fmt.Errorf("%w: kid %q: %v", ErrKeyFetch, kid, err)
	}
	return fmt.Errorf("%w: kid %q: %w", ErrKeyFetch, kid, err)
}

func (v *Verifier) store(kid string, e cachedKey) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.cache[kid] = e
	delete(v.unknown, kid)
}

// rememberUnknown adds kid to the negative cache. When the cache is full it
// first drops lapsed entries, then, if still full, an arbitrary one. v.mu
// must be held. Inserts are bounded by the fetch rate, so the sweep is cheap.
func (v *Verifier) rememberUnknown(kid string, now time.Time) {
	if _, ok := v.unknown[kid]; !ok && len(v.unknown) >= maxUnknownKeys {
		for k, until := range v.unknown {
			if !now.Before(until) {
				delete(v.unknown, k)
			}
		}
		for k := range v.unknown {
			if len(v.unknown) < maxUnknownKeys {
				break
			}
			delete(v.unknown, k)
		}
	}
	v.unknown[kid] = now.Add(v.negativeTTL)
}

func (v *Verifier) report(result string) {
	if v.onKeyFetch != nil {
		v.onKeyFetch(result)
	}
}
