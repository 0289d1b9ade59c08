/*
 * pyjinn.h: the C SDK for pyjinn functions (host ABI version 1). One header, one small .c,
 * no dependencies beyond wasi-libc. docs/abi.md describes the ABI this SDK binds.
 *
 * A function reads its request, does its work, and writes its response:
 *
 *     #include "pyjinn.h"
 *
 *     int main(void) {
 *         pyjinn_request request;
 *         if (pyjinn_read_request(&request) != PYJINN_OK) return 1;
 *         const char *name = pyjinn_query(&request, "name");
 *         pyjinn_log(PYJINN_INFO, request.path);
 *         return pyjinn_respond_text(200, "text/plain", name ? name : "world") ? 1 : 0;
 *     }
 *
 * Build it with zig cc (the `ziglang` wheel), listing pyjinn.c with the function's sources:
 *
 *     python -m ziglang cc --target=wasm32-wasi -Os -s -I sdk/c main.c sdk/c/pyjinn.c -o f.wasm
 *
 * Calls that can fail return PYJINN_OK (0) or a negative pyjinn_status: the host's error codes
 * and two of the SDK's own. Nothing is truncated: results are read into buffers sized exactly,
 * allocated with malloc. Free them with free(), or let the invocation end (its memory goes
 * with it).
 */
#ifndef PYJINN_H
#define PYJINN_H

#include <stddef.h>
#include <stdint.h>

#define PYJINN_ABI_VERSION 1

#if !defined(__wasm32__)
#error "pyjinn.h is for wasm32 guests: build with --target=wasm32-wasi"
#endif

/* ---- status codes ----------------------------------------------------------------------- */

typedef enum {
    PYJINN_OK = 0,
    /* The host's error codes (pyjinn.abi.ErrorCode), returned by host calls. */
    PYJINN_NOT_FOUND = -1,   /* no such key */
    PYJINN_DENIED = -2,      /* the function's permissions do not cover it */
    PYJINN_INVALID = -3,     /* a bad argument: a bad key, pointer or length */
    PYJINN_UNAVAILABLE = -4, /* the backend is down or not configured */
    PYJINN_LIMIT = -5,       /* a size or quota was exceeded */
    PYJINN_INTERNAL = -6,    /* a fault in the host */
    PYJINN_BUDGET = -7,      /* the tenant's token budget is spent for now */
    PYJINN_RATE_LIMITED = -8, /* the model's provider refused for its rate limit (429) */
    PYJINN_TIMEOUT = -9,     /* the call ran out of time (an outbound request) */
    PYJINN_ADDRESS_REFUSED = -10, /* an allowed host resolved to an address not allowed */
    PYJINN_BUSY = -11,       /* the lock is held by another holder */
    PYJINN_CLOSED = -12,     /* the WebSocket connection is closed (its close was read) */
    /* The SDK's own; the host never returns these. */
    PYJINN_NO_MEMORY = -100, /* malloc failed */
    PYJINN_IO = -101         /* reading stdin or writing stdout failed */
} pyjinn_status;

/* The status's name without the prefix ("NOT_FOUND"), or "UNKNOWN". */
const char *pyjinn_status_name(int status);

/* The message of the last failed host call (UTF-8, NUL-terminated, malloc'd), "" when none
 * failed; NULL only when malloc fails. Call it right after the failing call. */
char *pyjinn_last_error(void);

/* ---- the request ------------------------------------------------------------------------ */

/* One header or query parameter value. A name with several values has one entry per value,
 * in the order they arrived. Values are NUL-terminated; value_length counts the bytes
 * (a query value may contain a NUL). */
typedef struct {
    const char *name;
    const char *value;
    size_t value_length;
} pyjinn_field;

/* The request, decoded from the JSON on stdin (docs/contract.md). Missing text fields are "". */
typedef struct {
    const char *method;      /* "GET", "POST", ... */
    const char *uri;         /* the request target: path and query, as sent */
    const char *path;        /* the decoded path */
    const char *remote_addr; /* the client's ip:port */
    const char *trace_id;    /* 32 hex digits */
    const char *tenant;      /* the tenant the request acts for ("" when not sent) */
    const char *body;        /* the body's bytes (decoded when it travelled as base64),
                              * followed by a NUL that body_length does not count */
    size_t body_length;
    const pyjinn_field *headers; /* names in canonical form: Content-Type */
    size_t header_count;
    const pyjinn_field *query;
    size_t query_count;
} pyjinn_request;

/* Read and decode the whole request from stdin. Returns PYJINN_OK; PYJINN_INVALID when it is
 * not a well-formed request object (or its base64 body does not decode); PYJINN_NO_MEMORY;
 * PYJINN_IO when stdin cannot be read. The request lives until the process ends. */
int pyjinn_read_request(pyjinn_request *request);

/* The first value of header `name` (compared without regard to ASCII case), or NULL. */
const char *pyjinn_header(const pyjinn_request *request, const char *name);

/* The first value of query parameter `name` (compared exactly), or NULL. */
const char *pyjinn_query(const pyjinn_request *request, const char *name);

/* ---- the response ----------------------------------------------------------------------- */

/* A growable byte buffer. `status` is PYJINN_OK until an append fails: PYJINN_NO_MEMORY, or
 * PYJINN_INVALID for text that is not UTF-8. After a failure appends do nothing, so check
 * `status` once at the end. Start with pyjinn_buffer b = {0}; free(b.data) when done. */
typedef struct {
    char *data;
    size_t length;
    size_t capacity;
    int status;
} pyjinn_buffer;

void pyjinn_buffer_append(pyjinn_buffer *buffer, const void *data, size_t length);
void pyjinn_buffer_append_text(pyjinn_buffer *buffer, const char *text);
/* Append `length` bytes of UTF-8 text as a quoted, escaped JSON string. */
void pyjinn_buffer_append_json(pyjinn_buffer *buffer, const char *text, size_t length);

typedef struct {
    const char *name;
    const char *value;
} pyjinn_response_header;

/* Write the response to stdout: {"status", "headers", "body"}. Headers of the same name
 * (any case) become one list of values. A body that is not valid UTF-8 is sent base64-encoded
 * with "body_encoding":"base64", so any bytes arrive intact. Returns PYJINN_OK;
 * PYJINN_INVALID for a header name or value that is not UTF-8; PYJINN_NO_MEMORY; PYJINN_IO.
 * Call it once: the response is one JSON object. */
int pyjinn_respond(int status, const pyjinn_response_header *headers, size_t header_count,
                   const void *body, size_t body_length);

/* pyjinn_respond with one Content-Type header and a NUL-terminated body. */
int pyjinn_respond_text(int status, const char *content_type, const char *body);

/* ---- host calls ------------------------------------------------------------------------- */

typedef enum {
    PYJINN_DEBUG = 0,
    PYJINN_INFO = 1,
    PYJINN_WARN = 2,
    PYJINN_ERROR = 3
} pyjinn_level;

/* Write a record to the function's log (the host keeps the first 4096 bytes of a message). */
void pyjinn_log(pyjinn_level level, const char *message);
void pyjinn_log_bytes(pyjinn_level level, const void *message, size_t length);

/* Key-value store. Keys are 1 to 256 of A-Z a-z 0-9 _ - . / = (docs/abi.md); the function's
 * permissions grant namespaces: kv_read notes covers "notes" and "notes/...". */

/* Read a key: on PYJINN_OK, *value is the value (malloc'd, followed by a NUL that *length does
 * not count). PYJINN_NOT_FOUND when the key has no value. */
int pyjinn_kv_get(const char *key, char **value, size_t *length);

/* Write a key. */
int pyjinn_kv_set(const char *key, const void *value, size_t length);

/* Delete a key; deleting a missing key is PYJINN_OK. */
int pyjinn_kv_delete(const char *key);

/* The readable keys that start with `prefix` ("" for all): on PYJINN_OK, *keys is an array of
 * *count NUL-terminated keys followed by a NULL, in one allocation (one free(*keys)). */
int pyjinn_kv_list(const char *prefix, char ***keys, size_t *count);

/* SQL: one statement per call, in a transaction of its own, against the tenant's database.
 * `params` is a JSON array bound by the engine, never formatted into the SQL (NULL or "" for
 * none; bytes as {"base64": "..."}); placeholders are the engine's own: ? for SQLite and
 * libSQL, $1 for PostgreSQL. On PYJINN_OK, *json is the result (malloc'd, NUL-terminated):
 * {"columns":[...],"rows":[[...],...]} from pyjinn_db_query, {"rows_affected":N,
 * "last_insert_id":N or null} from pyjinn_db_exec (which needs permissions { db write }). */
int pyjinn_db_query(const char *sql, const char *params, char **json, size_t *length);
int pyjinn_db_exec(const char *sql, const char *params, char **json, size_t *length);

/* Object storage. Keys follow the key-value rules, at most 255 characters; blob_read and
 * blob_write grant namespaces. Objects are at most blob_max_size bytes (32 MiB by default). */

/* Store an object, replacing any object of that key. */
int pyjinn_blob_put(const char *key, const void *data, size_t length);

/* Read an object: on PYJINN_OK, *data is its bytes (malloc'd, followed by a NUL that *length
 * does not count). PYJINN_NOT_FOUND when there is none. */
int pyjinn_blob_get(const char *key, char **data, size_t *length);

/* Delete an object; deleting a missing object is PYJINN_OK. */
int pyjinn_blob_delete(const char *key);

/* The readable objects whose keys start with `prefix`: on PYJINN_OK, *json is a JSON array of
 * {"key":...,"size":...}, sorted by key (malloc'd, NUL-terminated). */
int pyjinn_blob_list(const char *prefix, char **json, size_t *length);

/* Jobs. Enqueue a job of `function` (granted by jobs_enqueue) for this request's tenant; the
 * job's request body is `payload`. `idempotency_key` may be NULL or "" (none). On PYJINN_OK,
 * *job_id is the job's id (malloc'd, NUL-terminated). */
int pyjinn_job_enqueue(const char *function, const void *payload, size_t length,
                       const char *idempotency_key, char **job_id);

/* The model (permissions { ai }, docs/ai.md). `request` is an OpenAI-style chat request as
 * JSON, without the model: {"messages":[{"role":"user","content":"..."}],"max_tokens":N,
 * "temperature":T,"response_format":{...}}. On PYJINN_OK, *json is the answer (malloc'd,
 * NUL-terminated): {"text","finish_reason","model","usage":{...},"cached":bool}. */
int pyjinn_ai_chat(const char *request, char **json, size_t *length);

/* Embed texts with the local model: `texts` is a JSON string or array of strings. On
 * PYJINN_OK, *json is {"model","dimensions","embeddings":[[...],...]} (unit vectors). */
int pyjinn_ai_embed(const char *texts, char **json, size_t *length);

/* Outbound HTTP (permissions { http }; only to the hosts allow_host lists). `headers` is a JSON
 * object of names to a string or an array of strings, like {"Accept":"application/json"} (NULL
 * or "" for none); `body` may be NULL with length 0. Any status is PYJINN_OK: read
 * response->status. The refusals: PYJINN_DENIED (a host, or a redirect's target, not in
 * allow_host), PYJINN_ADDRESS_REFUSED (an allowed name resolved to a loopback, private,
 * link-local or metadata address not listed itself), PYJINN_LIMIT (a body or answer over
 * 8 MiB, more than 5 redirects), PYJINN_TIMEOUT, PYJINN_UNAVAILABLE (the connection failed),
 * PYJINN_INVALID (a method, header or URL that cannot be sent). */
typedef struct {
    int status;          /* the HTTP status */
    const char *headers; /* the answer's headers as JSON: {"name":["value",...]}, lower case */
    const char *body;    /* the body's bytes, followed by a NUL that body_length does not count */
    size_t body_length;
    char *block;         /* the one allocation holding all of it: free(response.block) */
} pyjinn_http_response;

int pyjinn_http_request(const char *method, const char *url, const char *headers,
                        const void *body, size_t body_length, pyjinn_http_response *response);

/* Locks (permissions { lock NAMESPACE }; names follow the key rules). Take this tenant's lock
 * `name` for at most ttl_seconds (1 to 86400), waiting up to wait_ms for its holder to let
 * go: on PYJINN_OK, *token (malloc'd, NUL-terminated) is what releases it. PYJINN_BUSY when
 * another holds it. Locks still held when the invocation ends are released then. */
int pyjinn_lock_acquire(const char *name, int ttl_seconds, int wait_ms, char **token);

/* Release a lock with the token pyjinn_lock_acquire gave: PYJINN_DENIED when another holds
 * it, PYJINN_NOT_FOUND when nobody does (its TTL ran out). */
int pyjinn_lock_release(const char *name, const char *token);

/* WebSocket connections (permissions { websocket }, docs/abi.md). A function serving a WebSocket
 * handshake takes the connection over with pyjinn_ws_upgrade and holds it until it returns:
 * its timeout is then the idle time allowed between messages, max_duration bounds the whole
 * connection, and max_message each message. */
typedef enum {
    PYJINN_WS_TEXT = 1,   /* UTF-8 text */
    PYJINN_WS_BINARY = 2, /* bytes */
    PYJINN_WS_CLOSE = 8   /* the connection ended: close_code and the reason in data */
} pyjinn_ws_opcode;

typedef struct {
    int opcode;     /* a pyjinn_ws_opcode */
    char *data;     /* the payload, or a close's reason (malloc'd, followed by a NUL that
                     * length does not count) */
    size_t length;
    int close_code; /* a close's code (1000 normal, 1001 idle timeout or max_duration, ...) */
} pyjinn_ws_message;

/* Accept the handshake of the request being served. PYJINN_INVALID when the request is not a
 * WebSocket upgrade; PYJINN_CLOSED when the client has left. */
int pyjinn_ws_upgrade(void);

/* Wait up to wait_ms milliseconds (negative: until the idle timeout) for the next message.
 * PYJINN_OK; PYJINN_NOT_FOUND when none came in time. The end of the connection comes once, as
 * a PYJINN_WS_CLOSE message; after it, PYJINN_CLOSED. */
int pyjinn_ws_read(int wait_ms, pyjinn_ws_message *message);

/* Send a message (PYJINN_WS_TEXT or PYJINN_WS_BINARY). Waits while the client is behind;
 * PYJINN_LIMIT for a message over max_message, or for a client that read nothing until the idle
 * timeout was near (the connection is then closed); PYJINN_CLOSED once it is closed. */
int pyjinn_ws_write(int opcode, const void *data, size_t length);

/* pyjinn_ws_write of a NUL-terminated text. */
int pyjinn_ws_write_text(const char *text);

/* Close the connection with `code` (1000, or 3000 to 4999) and a reason of at most 123 bytes,
 * after the messages written before. */
int pyjinn_ws_close(int code, const char *reason);

/* ---- the raw ABI ------------------------------------------------------------------------ */

/* The host functions of import module "pyjinn", with the wasm types of pyjinn/abi.py: i32 for
 * integers, pointers and lengths, i64 (long long) for data results. The functions above are
 * built on these; call them directly only for something the SDK does not offer. A data result
 * (>= 0) is a length: copy the result with pyjinn_abi_result_read into a buffer that large. */
#define PYJINN_IMPORT(name) __attribute__((import_module("pyjinn"), import_name(name)))
#define PYJINN_ADDRESS(pointer) ((int32_t)(uintptr_t)(pointer))

PYJINN_IMPORT("log")
void pyjinn_abi_log(int32_t level, int32_t message, int32_t message_length);
PYJINN_IMPORT("result_read")
int32_t pyjinn_abi_result_read(int32_t buffer, int32_t capacity);
PYJINN_IMPORT("error_read")
int32_t pyjinn_abi_error_read(int32_t buffer, int32_t capacity);
PYJINN_IMPORT("kv_get")
long long pyjinn_abi_kv_get(int32_t key, int32_t key_length);
PYJINN_IMPORT("kv_set")
int32_t pyjinn_abi_kv_set(int32_t key, int32_t key_length, int32_t value, int32_t value_length);
PYJINN_IMPORT("kv_delete")
int32_t pyjinn_abi_kv_delete(int32_t key, int32_t key_length);
PYJINN_IMPORT("kv_list")
long long pyjinn_abi_kv_list(int32_t prefix, int32_t prefix_length);
PYJINN_IMPORT("db_query")
long long pyjinn_abi_db_query(int32_t sql, int32_t sql_length, int32_t params,
                              int32_t params_length);
PYJINN_IMPORT("db_exec")
long long pyjinn_abi_db_exec(int32_t sql, int32_t sql_length, int32_t params,
                             int32_t params_length);
PYJINN_IMPORT("blob_put")
int32_t pyjinn_abi_blob_put(int32_t key, int32_t key_length, int32_t data, int32_t data_length);
PYJINN_IMPORT("blob_get")
long long pyjinn_abi_blob_get(int32_t key, int32_t key_length);
PYJINN_IMPORT("blob_delete")
int32_t pyjinn_abi_blob_delete(int32_t key, int32_t key_length);
PYJINN_IMPORT("blob_list")
long long pyjinn_abi_blob_list(int32_t prefix, int32_t prefix_length);
PYJINN_IMPORT("job_enqueue")
long long pyjinn_abi_job_enqueue(int32_t function, int32_t function_length, int32_t payload,
                                 int32_t payload_length, int32_t idempotency_key,
                                 int32_t idempotency_key_length);
PYJINN_IMPORT("ai_chat")
long long pyjinn_abi_ai_chat(int32_t request, int32_t request_length);
PYJINN_IMPORT("ai_embed")
long long pyjinn_abi_ai_embed(int32_t texts, int32_t texts_length);
PYJINN_IMPORT("http_request")
long long pyjinn_abi_http_request(int32_t method, int32_t method_length, int32_t url,
                                  int32_t url_length, int32_t headers, int32_t headers_length,
                                  int32_t body, int32_t body_length);
PYJINN_IMPORT("lock_acquire")
long long pyjinn_abi_lock_acquire(int32_t name, int32_t name_length, int32_t ttl_seconds,
                                  int32_t wait_ms);
PYJINN_IMPORT("lock_release")
int32_t pyjinn_abi_lock_release(int32_t name, int32_t name_length, int32_t token,
                                int32_t token_length);
PYJINN_IMPORT("ws_upgrade")
int32_t pyjinn_abi_ws_upgrade(void);
PYJINN_IMPORT("ws_read")
long long pyjinn_abi_ws_read(int32_t wait_ms);
PYJINN_IMPORT("ws_write")
int32_t pyjinn_abi_ws_write(int32_t opcode, int32_t data, int32_t data_length);
PYJINN_IMPORT("ws_close")
int32_t pyjinn_abi_ws_close(int32_t code, int32_t reason, int32_t reason_length);

#endif
