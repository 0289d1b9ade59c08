//go:build !wasip1

// Stand-ins for the host functions outside wasip1, so that go vet, an editor or host-side tests
// can build code that uses the SDK. Each panics: host calls run only inside pyjinn.
package abi

import "unsafe"

func outside(name string) {
	panic("pyjinn: abi." + name + " is a host call; it runs only inside pyjinn (GOOS=wasip1 GOARCH=wasm)")
}

func Log(level int32, message unsafe.Pointer, messageLen int32) { outside("Log") }

func ResultRead(buffer unsafe.Pointer, capacity int32) int32 { outside("ResultRead"); return 0 }

func ErrorRead(buffer unsafe.Pointer, capacity int32) int32 { outside("ErrorRead"); return 0 }

func KVGet(key unsafe.Pointer, keyLen int32) int64 { outside("KVGet"); return 0 }

func KVSet(key unsafe.Pointer, keyLen int32, value unsafe.Pointer, valueLen int32) int32 {
	outside("KVSet")
	return 0
}

func KVDelete(key unsafe.Pointer, keyLen int32) int32 { outside("KVDelete"); return 0 }

func KVList(prefix unsafe.Pointer, prefixLen int32) int64 { outside("KVList"); return 0 }

func DBQuery(sql unsafe.Pointer, sqlLen int32, params unsafe.Pointer, paramsLen int32) int64 {
	outside("DBQuery")
	return 0
}

func DBExec(sql unsafe.Pointer, sqlLen int32, params unsafe.Pointer, paramsLen int32) int64 {
	outside("DBExec")
	return 0
}

func BlobPut(key unsafe.Pointer, keyLen int32, data unsafe.Pointer, dataLen int32) int32 {
	outside("BlobPut")
	return 0
}

func BlobGet(key unsafe.Pointer, keyLen int32) int64 { outside("BlobGet"); return 0 }

func BlobDelete(key unsafe.Pointer, keyLen int32) int32 { outside("BlobDelete"); return 0 }

func BlobList(prefix unsafe.Pointer, prefixLen int32) int64 { outside("BlobList"); return 0 }

func JobEnqueue(function unsafe.Pointer, functionLen int32, payload unsafe.Pointer, payloadLen int32, idempotencyKey unsafe.Pointer, idempotencyKeyLen int32) int64 {
	outside("JobEnqueue")
	return 0
}

func AIChat(request unsafe.Pointer, requestLen int32) int64 { outside("AIChat"); return 0 }

func AIEmbed(texts unsafe.Pointer, textsLen int32) int64 { outside("AIEmbed"); return 0 }

func HTTPRequest(method unsafe.Pointer, methodLen int32, url unsafe.Pointer, urlLen int32, headers unsafe.Pointer, headersLen int32, body unsafe.Pointer, bodyLen int32) int64 {
	outside("HTTPRequest")
	return 0
}

func LockAcquire(name unsafe.Pointer, nameLen int32, ttlSeconds int32, waitMs int32) int64 {
	outside("LockAcquire")
	return 0
}

func LockRelease(name unsafe.Pointer, nameLen int32, token unsafe.Pointer, tokenLen int32) int32 {
	outside("LockRelease")
	return 0
}

func WSUpgrade() int32 { outside("WSUpgrade"); return 0 }

func WSRead(waitMS int32) int64 { outside("WSRead"); return 0 }

func WSWrite(opcode int32, data unsafe.Pointer, dataLen int32) int32 {
	outside("WSWrite")
	return 0
}

func WSClose(code int32, reason unsafe.Pointer, reasonLen int32) int32 {
	outside("WSClose")
	return 0
}
