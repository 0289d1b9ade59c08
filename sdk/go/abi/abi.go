//go:build wasip1

// Package abi holds the host functions of import module "pyjinn", with the wasm types of
// pyjinn/abi.py: int32 for integers and lengths, unsafe.Pointer (an i32 in wasm) for pointers,
// int64 for data results. Package pyjinn is built on these; call them directly only for
// something it does not offer. A data result (>= 0) is a length: copy the result with
// ResultRead into a buffer that large. A new host function is one declaration here (and its
// stand-in in other.go).
package abi

import "unsafe"

//go:wasmimport pyjinn log
func Log(level int32, message unsafe.Pointer, messageLen int32)

//go:wasmimport pyjinn result_read
func ResultRead(buffer unsafe.Pointer, capacity int32) int32

//go:wasmimport pyjinn error_read
func ErrorRead(buffer unsafe.Pointer, capacity int32) int32

//go:wasmimport pyjinn kv_get
func KVGet(key unsafe.Pointer, keyLen int32) int64

//go:wasmimport pyjinn kv_set
func KVSet(key unsafe.Pointer, keyLen int32, value unsafe.Pointer, valueLen int32) int32

//go:wasmimport pyjinn kv_delete
func KVDelete(key unsafe.Pointer, keyLen int32) int32

//go:wasmimport pyjinn kv_list
func KVList(prefix unsafe.Pointer, prefixLen int32) int64

//go:wasmimport pyjinn db_query
func DBQuery(sql unsafe.Pointer, sqlLen int32, params unsafe.Pointer, paramsLen int32) int64

//go:wasmimport pyjinn db_exec
func DBExec(sql unsafe.Pointer, sqlLen int32, params unsafe.Pointer, paramsLen int32) int64

//go:wasmimport pyjinn blob_put
func BlobPut(key unsafe.Pointer, keyLen int32, data unsafe.Pointer, dataLen int32) int32

//go:wasmimport pyjinn blob_get
func BlobGet(key unsafe.Pointer, keyLen int32) int64

//go:wasmimport pyjinn blob_delete
func BlobDelete(key unsafe.Pointer, keyLen int32) int32

//go:wasmimport pyjinn blob_list
func BlobList(prefix unsafe.Pointer, prefixLen int32) int64

//go:wasmimport pyjinn job_enqueue
func JobEnqueue(function unsafe.Pointer, functionLen int32, payload unsafe.Pointer, payloadLen int32, idempotencyKey unsafe.Pointer, idempotencyKeyLen int32) int64

//go:wasmimport pyjinn ai_chat
func AIChat(request unsafe.Pointer, requestLen int32) int64

//go:wasmimport pyjinn ai_embed
func AIEmbed(texts unsafe.Pointer, textsLen int32) int64

//go:wasmimport pyjinn http_request
func HTTPRequest(method unsafe.Pointer, methodLen int32, url unsafe.Pointer, urlLen int32, headers unsafe.Pointer, headersLen int32, body unsafe.Pointer, bodyLen int32) int64

//go:wasmimport pyjinn lock_acquire
func LockAcquire(name unsafe.Pointer, nameLen int32, ttlSeconds int32, waitMs int32) int64

//go:wasmimport pyjinn lock_release
func LockRelease(name unsafe.Pointer, nameLen int32, token unsafe.Pointer, tokenLen int32) int32

//go:wasmimport pyjinn ws_upgrade
func WSUpgrade() int32

//go:wasmimport pyjinn ws_read
func WSRead(waitMS int32) int64

//go:wasmimport pyjinn ws_write
func WSWrite(opcode int32, data unsafe.Pointer, dataLen int32) int32

//go:wasmimport pyjinn ws_close
func WSClose(code int32, reason unsafe.Pointer, reasonLen int32) int32
