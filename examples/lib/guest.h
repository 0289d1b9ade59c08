/*
 * guest.h: a small, dependency-free toolkit for pyjinn functions written in C.
 *
 * Reading: the request is one JSON object on stdin. guest_read_request() loads it, and the
 * guest_member / guest_item / guest_string functions walk it without building a tree: a
 * guest_json is just the text of one JSON value. Nothing here trusts the input: every lookup
 * checks bounds and reports malformed JSON as "not found" or -1.
 *
 * Writing: a guest_buffer grows as you append; guest_append_json_string() escapes text so
 * whatever you echo stays valid JSON, and guest_respond() writes a whole response envelope.
 * Output goes out with one buffer per write() call, looping until all of it is written.
 *
 * Example functions use it with, in function.toml:
 *     sources = ["main.c", "../../lib/guest.c"]
 *     flags = ["-I../../lib"]
 */
#ifndef PYJINN_GUEST_H
#define PYJINN_GUEST_H

#include <stddef.h>

/* The text of one JSON value, [start, end). start is NULL for "no value". */
typedef struct {
    const char *start;
    const char *end;
} guest_json;

/* Read all of stdin. On failure (out of memory, read error) start is NULL. */
guest_json guest_read_request(void);

/* Find `key` in a JSON object; 1 and *value set when found, 0 otherwise. Keys are compared
 * as written in the JSON text, which is exact for the ASCII keys of the request envelope. */
int guest_member(guest_json object, const char *key, guest_json *value);

/* The `index`-th item of a JSON array; 1 and *value set when it exists, 0 otherwise. */
int guest_item(guest_json array, size_t index, guest_json *value);

/* Decode a JSON string (escapes included) into out, NUL-terminated. Returns the decoded
 * length; -1 when the value is not a well-formed string; -2 when it does not fit in
 * `capacity` bytes (the NUL included). */
long guest_string(guest_json string, char *out, size_t capacity);

/* The first value of query parameter `name` (request.query[name][0]), decoded like
 * guest_string. Returns -1 when the parameter is absent or malformed, -2 when too long. */
long guest_query(guest_json request, const char *name, char *out, size_t capacity);

/* A growable output buffer. `failed` turns on when memory runs out; appends then stop. */
typedef struct {
    char *data;
    size_t length;
    size_t capacity;
    int failed;
} guest_buffer;

void guest_append(guest_buffer *buffer, const char *data, size_t length);
void guest_append_text(guest_buffer *buffer, const char *text);
void guest_append_number(guest_buffer *buffer, unsigned long long number);

/* Append `text` as a quoted JSON string. Invalid UTF-8 becomes U+FFFD, so the result is
 * always valid JSON. With `html_safe`, <, > and & are escaped too, as Go's encoding/json does. */
void guest_append_json_string(guest_buffer *buffer, const char *text, size_t length,
                              int html_safe);

/* Write all of data to a file descriptor; 0 on success, -1 on error. */
int guest_write_all(int fd, const char *data, size_t length);

/* Write one line to the function's log (stderr). */
void guest_log(const char *line);

/* Write a response {"status", "headers": {"Content-Type": [content_type]}, "body"} to stdout.
 * Returns the process exit code to use: 0 when written, 1 otherwise. */
int guest_respond(int status, const char *content_type, const char *body, size_t body_length);

#endif
