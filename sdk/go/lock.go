package pyjinn

import "pyjinn/abi"

// LockAcquire takes this tenant's lock name (permissions { lock NAMESPACE }) for at most
// ttlSeconds (1 to 86400), waiting up to waitMs for its holder to let go, and returns the
// token that releases it; ErrBusy when another holds it. Locks still held when the invocation
// ends are released then.
func LockAcquire(name string, ttlSeconds, waitMs int32) (string, error) {
	token, err := takeResult(abi.LockAcquire(text(name), size(name), ttlSeconds, waitMs))
	if err != nil {
		return "", err
	}
	return string(token), nil
}

// LockRelease releases lock name with its token: ErrDenied when another holds it, ErrNotFound
// when nobody does (its TTL ran out).
func LockRelease(name, token string) error {
	return check(abi.LockRelease(text(name), size(name), text(token), size(token)))
}
