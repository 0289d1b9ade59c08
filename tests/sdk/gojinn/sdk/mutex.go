//go:build wasip1

package sdk

//go:wasmimport gojinn host_mutex_lock
func hostMutexLock(keyPtr, keyLen, ttlSeconds uint32) uint32

//go:wasmimport gojinn host_mutex_unlock
func hostMutexUnlock(keyPtr, keyLen uint32) uint32

type mutexService struct{}

// Mutex is the host's distributed lock (Gojinn's successor's API).
var Mutex = mutexService{}

// TryLock takes key for ttlSeconds without waiting; true when taken.
func (mutexService) TryLock(key string, ttlSeconds uint32) bool {
	return hostMutexLock(address(key), uint32(len(key)), ttlSeconds) == 1
}

// Unlock releases key; true when released.
func (mutexService) Unlock(key string) bool {
	return hostMutexUnlock(address(key), uint32(len(key))) == 1
}
