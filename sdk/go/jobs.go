package pyjinn

import "pyjinn/abi"

// JobEnqueue enqueues a job of function (granted by jobs_enqueue in the permissions block)
// for this request's tenant, with payload as its request body, and returns the job's id. A
// non-empty idempotencyKey makes every enqueue with the same key the same job. The job runs
// later, at least once (docs/events.md).
func JobEnqueue(function string, payload []byte, idempotencyKey string) (string, error) {
	id, err := takeResult(abi.JobEnqueue(
		text(function), size(function), pointer(payload), size(payload),
		text(idempotencyKey), size(idempotencyKey),
	))
	if err != nil {
		return "", err
	}
	return string(id), nil
}
