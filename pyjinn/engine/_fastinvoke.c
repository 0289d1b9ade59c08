/*
 * pyjinn's native invocation path: one call that runs a whole invocation against libwasmtime
 * (store, limits, WASI context, captured output, instantiate, _start, teardown) with the GIL
 * released once, instead of some thirty ctypes calls that each release and retake it.
 *
 * It links against nothing: the wasmtime C API functions are looked up at start-up in the
 * libwasmtime that the wasmtime Python package has already loaded (init() takes its dlopen
 * handle). The structs below mirror wasmtime 50's C API (the version pyjinn pins).
 *
 * Only the mechanics live here. What an outcome means (timeout, trap, memory limit, ...) is
 * decided in Python, in pyjinn/engine/invoke.py, from the raw facts this returns.
 *
 * Time and output are watched from an epoch deadline callback that runs at every tick of the
 * engine's epoch while the guest executes wasm: it stops the guest once the monotonic clock
 * passes the invocation's deadline, or once the guest has written past its stdout cap (or far
 * past its stderr cap), so neither a starved ticker nor a guest ignoring failed writes can keep
 * a slot. The ticker itself is a native thread here, which needs no GIL to advance the epoch.
 *
 * WASI's clocks are served from here too (clock_functions(): pyjinn/engine/clocks.py links
 * them): each reading is logged in a buffer of the running invocation, so a crash record holds
 * every clock value the guest saw, for a few nanoseconds a reading. A failed run also reports
 * its wasm backtrace, and on request a copy of the guest's linear memory taken before the
 * store is torn down (crash records, pyjinn/debug).
 *
 * layout() reports the sizes and offsets this file assumes; pyjinn compares them with the
 * wasmtime package's own bindings at import and falls back to ctypes when they differ.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* wasmtime 50 C API types, as far as this file needs them. */
typedef struct { size_t size; char *data; } byte_vec;
typedef struct { uint64_t store_id; size_t private_index; } instance_t;
typedef struct { uint8_t kind; uint8_t pad[7]; uint8_t of[24]; } extern_t;
enum { EXTERN_FUNC = 0, EXTERN_MEMORY = 3 };

typedef void *(*epoch_callback_t)(void *, void *, uint64_t *, uint8_t *);
typedef union { int32_t i32; int64_t i64; uint8_t bytes[16]; } val_raw_t;
typedef struct { size_t size; void **data; } frame_vec;

static void *(*store_new)(void *, void *, void *);
static void (*store_epoch_deadline_callback)(void *, epoch_callback_t, void *, void (*)(void *));
static void (*engine_increment_epoch)(void *);
static void *(*error_new)(const char *);
static void *(*store_context)(void *);
static void (*store_limiter)(void *, int64_t, int64_t, int64_t, int64_t, int64_t);
static void (*store_delete)(void *);
static void *(*wasi_config_new)(void);
static void (*wasi_config_delete)(void *);
static bool (*wasi_config_set_argv)(void *, size_t, const char **);
static bool (*wasi_config_set_env)(void *, size_t, const char **, const char **);
static void (*wasi_config_set_stdin_bytes)(void *, byte_vec *);
typedef ptrdiff_t (*output_callback_t)(void *, const unsigned char *, size_t);
static void (*wasi_config_set_stdout_custom)(void *, output_callback_t, void *, void (*)(void *));
static void (*wasi_config_set_stderr_custom)(void *, output_callback_t, void *, void (*)(void *));
static bool (*wasi_config_preopen_dir)(void *, const char *, const char *, bool);
static void (*byte_vec_new)(byte_vec *, size_t, const char *);
static void (*byte_vec_delete)(byte_vec *);
static void *(*context_set_wasi)(void *, void *);
static void (*context_set_epoch_deadline)(void *, uint64_t);
static void *(*context_set_fuel)(void *, uint64_t);
static void *(*context_get_fuel)(void *, uint64_t *);
static void *(*instance_pre_instantiate)(void *, void *, instance_t *, void **);
static bool (*instance_export_get)(void *, instance_t *, const char *, size_t, extern_t *);
static void *(*func_call)(void *, void *, void *, size_t, void *, size_t, void **);
static void *(*func_call_unchecked)(void *, void *, void *, size_t, void **);
static size_t (*memory_data_size)(void *, void *);
static uint8_t *(*memory_data)(void *, void *);
static void *(*memory_grow)(void *, void *, uint64_t, uint64_t *);
static bool (*error_exit_status)(void *, int *);
static void (*error_message)(void *, byte_vec *);
static void (*error_delete)(void *);
static bool (*trap_code)(void *, uint8_t *);
static void (*trap_message)(void *, byte_vec *);
static void (*trap_delete)(void *);
static bool (*caller_export_get)(void *, const char *, size_t, extern_t *);
static void *(*caller_context)(void *);
static uint8_t *(*memory_data)(void *, void *);
static void (*trap_trace)(void *, frame_vec *);
static void (*error_wasm_trace)(void *, frame_vec *);
static uint32_t (*frame_func_index)(void *);
static size_t (*frame_func_offset)(void *);
static size_t (*frame_module_offset)(void *);
static const byte_vec *(*frame_func_name)(void *);
static void (*frame_vec_delete)(frame_vec *);

static bool ready = false;

#define RESOLVE(variable, symbol)                                                   \
    do {                                                                            \
        *(void **)(&variable) = dlsym(handle, symbol);                              \
        if (!variable) {                                                            \
            PyErr_Format(PyExc_RuntimeError, "libwasmtime has no symbol %s", symbol); \
            return NULL;                                                            \
        }                                                                           \
    } while (0)

static PyObject *init(PyObject *self, PyObject *arg) {
    void *handle = PyLong_AsVoidPtr(arg);
    if (!handle && PyErr_Occurred()) return NULL;
    RESOLVE(store_new, "wasmtime_store_new");
    RESOLVE(store_epoch_deadline_callback, "wasmtime_store_epoch_deadline_callback");
    RESOLVE(engine_increment_epoch, "wasmtime_engine_increment_epoch");
    RESOLVE(error_new, "wasmtime_error_new");
    RESOLVE(store_context, "wasmtime_store_context");
    RESOLVE(store_limiter, "wasmtime_store_limiter");
    RESOLVE(store_delete, "wasmtime_store_delete");
    RESOLVE(wasi_config_new, "wasi_config_new");
    RESOLVE(wasi_config_delete, "wasi_config_delete");
    RESOLVE(wasi_config_set_argv, "wasi_config_set_argv");
    RESOLVE(wasi_config_set_env, "wasi_config_set_env");
    RESOLVE(wasi_config_set_stdin_bytes, "wasi_config_set_stdin_bytes");
    RESOLVE(wasi_config_set_stdout_custom, "wasi_config_set_stdout_custom");
    RESOLVE(wasi_config_set_stderr_custom, "wasi_config_set_stderr_custom");
    RESOLVE(wasi_config_preopen_dir, "wasi_config_preopen_dir");
    RESOLVE(byte_vec_new, "wasm_byte_vec_new");
    RESOLVE(byte_vec_delete, "wasm_byte_vec_delete");
    RESOLVE(context_set_wasi, "wasmtime_context_set_wasi");
    RESOLVE(context_set_epoch_deadline, "wasmtime_context_set_epoch_deadline");
    RESOLVE(context_set_fuel, "wasmtime_context_set_fuel");
    RESOLVE(context_get_fuel, "wasmtime_context_get_fuel");
    RESOLVE(instance_pre_instantiate, "wasmtime_instance_pre_instantiate");
    RESOLVE(instance_export_get, "wasmtime_instance_export_get");
    RESOLVE(func_call, "wasmtime_func_call");
    RESOLVE(func_call_unchecked, "wasmtime_func_call_unchecked");
    RESOLVE(memory_data_size, "wasmtime_memory_data_size");
    RESOLVE(memory_data, "wasmtime_memory_data");
    RESOLVE(memory_grow, "wasmtime_memory_grow");
    RESOLVE(error_exit_status, "wasmtime_error_exit_status");
    RESOLVE(error_message, "wasmtime_error_message");
    RESOLVE(error_delete, "wasmtime_error_delete");
    RESOLVE(trap_code, "wasmtime_trap_code");
    RESOLVE(trap_message, "wasm_trap_message");
    RESOLVE(trap_delete, "wasm_trap_delete");
    RESOLVE(caller_export_get, "wasmtime_caller_export_get");
    RESOLVE(caller_context, "wasmtime_caller_context");
    RESOLVE(memory_data, "wasmtime_memory_data");
    RESOLVE(trap_trace, "wasm_trap_trace");
    RESOLVE(error_wasm_trace, "wasmtime_error_wasm_trace");
    RESOLVE(frame_func_index, "wasm_frame_func_index");
    RESOLVE(frame_func_offset, "wasm_frame_func_offset");
    RESOLVE(frame_module_offset, "wasm_frame_module_offset");
    RESOLVE(frame_func_name, "wasmtime_frame_func_name");
    RESOLVE(frame_vec_delete, "wasm_frame_vec_delete");
    ready = true;
    Py_RETURN_NONE;
}

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* WASI's clocks (see pyjinn/engine/clocks.py for what they answer). Each reading is appended
 * to the log of the invocation running on this thread, in the 16-byte entry format of
 * pyjinn.engine.context.CLOCK_ENTRY; the log is kept only while invoke() runs. */
typedef struct {
    uint8_t call; /* 0 clock_time_get, 1 clock_res_get */
    uint8_t errno_value;
    uint8_t padding[2];
    uint32_t clock_id;
    uint64_t value;
} clock_entry;

typedef struct {
    int64_t origin_ns; /* the guest's monotonic clock counts from here */
    clock_entry *entries;
    size_t count, capacity;
} clock_log;

enum { CLOCK_MAX_LOGGED = 1 << 18 };
enum { WASI_SUCCESS = 0, WASI_BADF = 8, WASI_FAULT = 21, WASI_FBIG = 22, WASI_INVAL = 28,
       WASI_NOMEM = 48 };
static __thread clock_log *running_log = NULL;

static void clock_log_append(uint8_t call, uint8_t errno_value, uint32_t clock_id, uint64_t value) {
    clock_log *log = running_log;
    if (!log || log->count >= CLOCK_MAX_LOGGED) return;
    if (log->count == log->capacity) {
        size_t capacity = log->capacity ? log->capacity * 2 : 64;
        clock_entry *grown = realloc(log->entries, capacity * sizeof *grown);
        if (!grown) return; /* the record then holds fewer readings; replay says so */
        log->entries = grown;
        log->capacity = capacity;
    }
    clock_entry *entry = &log->entries[log->count++];
    entry->call = call;
    entry->errno_value = errno_value;
    entry->padding[0] = entry->padding[1] = 0;
    entry->clock_id = clock_id;
    entry->value = value;
}

/* The 8 bytes at ``pointer`` in the calling guest's memory, or NULL when they are not in it. */
static uint8_t *guest_u64(void *caller, uint32_t pointer) {
    extern_t item;
    if (!caller_export_get(caller, "memory", 6, &item) || item.kind != EXTERN_MEMORY) return NULL;
    void *context = caller_context(caller);
    size_t size = memory_data_size(context, item.of);
    if ((uint64_t)pointer + 8 > size) return NULL;
    return memory_data(context, item.of) + pointer;
}

static void *answer_clock(void *caller, val_raw_t *slots, uint8_t call, uint32_t clock_id,
                          uint32_t pointer) {
    uint8_t *target = guest_u64(caller, pointer);
    if (!target) {
        slots[0].i32 = WASI_FAULT;
        return NULL;
    }
    uint8_t errno_value = WASI_SUCCESS;
    uint64_t value = 0;
    if (clock_id > 3) {
        errno_value = WASI_INVAL;
    } else if (clock_id > 1) {
        errno_value = WASI_BADF; /* the CPU-time clocks, as wasmtime answers */
    } else if (call == 1) {
        value = 1;
    } else {
        struct timespec t;
        clock_gettime(clock_id == 0 ? CLOCK_REALTIME : CLOCK_MONOTONIC, &t);
        int64_t ns = (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
        if (clock_id == 1 && running_log) ns -= running_log->origin_ns;
        value = (uint64_t)ns;
    }
    clock_log_append(call, errno_value, clock_id, value);
    if (errno_value == WASI_SUCCESS) memcpy(target, &value, 8);
    slots[0].i32 = errno_value;
    return NULL;
}

static void *clock_time_get_native(void *env, void *caller, val_raw_t *slots, size_t count) {
    (void)env;
    (void)count;
    return answer_clock(caller, slots, 0, (uint32_t)slots[0].i32, (uint32_t)slots[2].i32);
}

static void *clock_res_get_native(void *env, void *caller, val_raw_t *slots, size_t count) {
    (void)env;
    (void)count;
    return answer_clock(caller, slots, 1, (uint32_t)slots[0].i32, (uint32_t)slots[1].i32);
}

static PyObject *clock_functions(PyObject *self, PyObject *unused) {
    return Py_BuildValue("(NN)", PyLong_FromVoidPtr((void *)clock_time_get_native),
                         PyLong_FromVoidPtr((void *)clock_res_get_native));
}

/* The wasm backtrace of a failed run: up to MAX_FRAMES frames, youngest first. */
enum { MAX_FRAMES = 64, MAX_FRAME_NAME = 256 };
typedef struct {
    uint32_t func_index;
    size_t func_offset, module_offset;
    char name[MAX_FRAME_NAME];
} frame_info;

typedef struct {
    frame_info frames[MAX_FRAMES];
    size_t count;
    size_t total; /* frames in the trace, beyond MAX_FRAMES included */
    bool taken;
} backtrace;

/* Keep the frames of ``vec`` in ``*slot`` (allocated here: only failed runs have one). */
static void backtrace_take(backtrace **slot, frame_vec *vec) {
    backtrace *trace = *slot ? *slot : (*slot = malloc(sizeof(backtrace)));
    if (!trace) { frame_vec_delete(vec); return; }
    trace->taken = true;
    trace->total = vec->size;
    trace->count = vec->size < MAX_FRAMES ? vec->size : MAX_FRAMES;
    for (size_t i = 0; i < trace->count; i++) {
        void *frame = vec->data[i];
        frame_info *info = &trace->frames[i];
        info->func_index = frame_func_index(frame);
        info->func_offset = frame_func_offset(frame);
        info->module_offset = frame_module_offset(frame);
        info->name[0] = 0;
        const byte_vec *name = frame_func_name(frame);
        if (name && name->data) {
            size_t length = name->size < MAX_FRAME_NAME - 1 ? name->size : MAX_FRAME_NAME - 1;
            memcpy(info->name, name->data, length);
            info->name[length] = 0;
        }
    }
    frame_vec_delete(vec);
}

static PyObject *backtrace_tuple(const backtrace *trace) {
    if (!trace || !trace->taken) Py_RETURN_NONE;
    PyObject *frames = PyTuple_New((Py_ssize_t)trace->count);
    if (!frames) return NULL;
    for (size_t i = 0; i < trace->count; i++) {
        const frame_info *info = &trace->frames[i];
        PyObject *frame = Py_BuildValue("(Inns)", info->func_index, (Py_ssize_t)info->func_offset,
                                        (Py_ssize_t)info->module_offset, info->name);
        if (!frame) { Py_DECREF(frames); return NULL; }
        PyTuple_SET_ITEM(frames, (Py_ssize_t)i, frame);
    }
    return Py_BuildValue("(Nn)", frames, (Py_ssize_t)trace->total);
}

/* One captured output stream. wasmtime hands every write of the guest's fd 1 or 2 to
 * stream_write() (its custom output stream: no file, no system call), which keeps the first
 * ``limit`` bytes in memory, counts the rest and refuses writes once ``refuse_past`` bytes have
 * been written, so a flooding guest costs at most ``limit`` bytes of memory. Small outputs stay
 * in the inline buffer; larger ones move to the heap. */
typedef struct {
    size_t limit;
    size_t refuse_past;
    size_t written; /* every byte the guest wrote, kept or not */
    char *data;     /* inline, or malloc'ed once past it */
    size_t length;
    size_t capacity;
    bool exceeded;
    char inline_data[1024];
} stream;

static void stream_open(stream *s, size_t limit, size_t grace) {
    s->limit = limit;
    s->refuse_past = limit + grace;
    s->written = 0;
    s->data = s->inline_data;
    s->length = 0;
    s->capacity = sizeof s->inline_data;
    s->exceeded = false;
}

static ptrdiff_t stream_write(void *data, const unsigned char *bytes, size_t count) {
    stream *s = data;
    if (s->written > s->refuse_past) return -EFBIG;
    s->written += count;
    size_t keep = s->length < s->limit ? s->limit - s->length : 0;
    if (keep > count) keep = count;
    if (s->length + keep > s->capacity) {
        size_t capacity = s->capacity * 2;
        while (capacity < s->length + keep) capacity *= 2;
        if (capacity > s->limit) capacity = s->limit;
        char *grown = s->data == s->inline_data ? malloc(capacity) : realloc(s->data, capacity);
        if (!grown) return -ENOMEM;
        if (s->data == s->inline_data) memcpy(grown, s->inline_data, s->length);
        s->data = grown;
        s->capacity = capacity;
    }
    memcpy(s->data + s->length, bytes, keep);
    s->length += keep;
    return (ptrdiff_t)count;
}

/* The streams of the invocation running on this thread, if the native path runs one. */
static __thread stream *running_out = NULL, *running_err = NULL;

/* WASI's fd_write(fd, iovs, iovs_len, nwritten) -> errno, for modules that have no file to
 * write to (no writable mount: pyjinn/engine/guest_writes.py). Writes to fd 1 and 2 land in
 * the running invocation's streams with no system call and no trip through wasmtime's
 * asynchronous streams (which cost tens of microseconds a write); every buffer is taken, in
 * order. Any other descriptor is EBADF, as wasmtime answers for stdin and read-only files. */
static void *fd_write_native(void *env, void *caller, val_raw_t *slots, size_t count) {
    (void)env;
    (void)count;
    uint32_t fd = (uint32_t)slots[0].i32;
    stream *s = fd == 1 ? running_out : fd == 2 ? running_err : NULL;
    if (!s) {
        slots[0].i32 = WASI_BADF;
        return NULL;
    }
    uint32_t vectors = (uint32_t)slots[1].i32, vector_count = (uint32_t)slots[2].i32;
    uint32_t written_at = (uint32_t)slots[3].i32;
    extern_t item;
    if (!caller_export_get(caller, "memory", 6, &item) || item.kind != EXTERN_MEMORY) {
        slots[0].i32 = WASI_FAULT;
        return NULL;
    }
    void *context = caller_context(caller);
    uint64_t size = memory_data_size(context, item.of);
    const uint8_t *base = memory_data(context, item.of);
    if ((uint64_t)vectors + 8 * (uint64_t)vector_count > size || (uint64_t)written_at + 4 > size) {
        slots[0].i32 = WASI_FAULT;
        return NULL;
    }
    for (uint32_t i = 0; i < vector_count; i++) { /* check every buffer before writing any */
        uint32_t pointer, length;
        memcpy(&pointer, base + vectors + 8 * (uint64_t)i, 4);
        memcpy(&length, base + vectors + 8 * (uint64_t)i + 4, 4);
        if ((uint64_t)pointer + length > size) {
            slots[0].i32 = WASI_FAULT;
            return NULL;
        }
    }
    uint64_t total = 0;
    for (uint32_t i = 0; i < vector_count; i++) {
        uint32_t pointer, length;
        memcpy(&pointer, base + vectors + 8 * (uint64_t)i, 4);
        memcpy(&length, base + vectors + 8 * (uint64_t)i + 4, 4);
        ptrdiff_t done = stream_write(s, base + pointer, length);
        if (done < 0) {
            if (total > 0) break; /* report what was written */
            slots[0].i32 = done == -ENOMEM ? WASI_NOMEM : WASI_FBIG;
            return NULL;
        }
        total += (uint64_t)done;
    }
    uint32_t reported = total > UINT32_MAX ? UINT32_MAX : (uint32_t)total;
    memcpy((uint8_t *)base + written_at, &reported, 4);
    slots[0].i32 = WASI_SUCCESS;
    return NULL;
}

static PyObject *fd_write_function(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return PyLong_FromVoidPtr((void *)fd_write_native);
}

static void stream_collect(stream *s) { s->exceeded = s->written > s->limit; }

static void stream_close(stream *s) {
    if (s->data != s->inline_data) free(s->data);
    s->data = s->inline_data;
}

/* The limits watched at every epoch tick; why the guest was stopped, if it was. */
enum { STOP_NONE = 0, STOP_TIMEOUT = 1, STOP_STDOUT = 2, STOP_STDERR = 3 };
/* Past its stderr cap, a guest may write this much more (cut from the log) before it is
 * stopped: enough for a guest that finishes after a burst. */
static const size_t stderr_grace = 1024 * 1024;

typedef struct {
    int64_t deadline_ns;
    /* Where the deadline lives when host calls may move it (an invocation holding a client
     * connection: each message moves its idle deadline), else NULL and deadline_ns holds. The
     * host calls that move it run on this thread, between ticks, so a plain load sees them. */
    const int64_t *moving_deadline;
    const stream *out, *err;
    int stopped;
} watch;

static int64_t watch_deadline(const watch *w) {
    return w->moving_deadline ? *w->moving_deadline : w->deadline_ns;
}

static void *on_epoch_tick(void *context, void *data, uint64_t *delta, uint8_t *update_kind) {
    (void)context;
    watch *w = data;
    if (now_ns() >= watch_deadline(w))
        w->stopped = STOP_TIMEOUT;
    else if (w->out->written > w->out->limit)
        w->stopped = STOP_STDOUT;
    else if (w->err->written > w->err->refuse_past)
        w->stopped = STOP_STDERR;
    if (w->stopped != STOP_NONE) return error_new("pyjinn stopped the guest at a limit");
    *delta = 1;
    *update_kind = 0; /* WASMTIME_UPDATE_DEADLINE_CONTINUE */
    return NULL;
}

/* Raw facts about how an invocation ended; invoke.py turns them into a result or an error. */
enum {
    ENDED_RETURNED = 0,       /* _start returned, or proc_exit(0) */
    ENDED_EXIT = 1,           /* proc_exit(n), n != 0 */
    ENDED_TRAP = 2,           /* a trap while running */
    ENDED_ERROR = 3,          /* another error while running (a host function's, say) */
    ENDED_START_TRAP = 4,     /* a trap while instantiating */
    ENDED_START_ERROR = 5,    /* instantiation failed */
    ENDED_SETUP_ERROR = 6,    /* the sandbox could not be set up (pyjinn's problem) */
};

static void take_message(byte_vec *vec, char *out, size_t size) {
    size_t length = vec->size < size - 1 ? vec->size : size - 1;
    if (length && vec->data) memcpy(out, vec->data, length);
    while (length > 0 && out[length - 1] == 0) length--;
    out[length] = 0;
    byte_vec_delete(vec);
}

static void take_error(void *error, char *out, size_t size, backtrace **trace) {
    if (trace) {
        frame_vec frames = {0, NULL};
        error_wasm_trace(error, &frames);
        backtrace_take(trace, &frames);
    }
    byte_vec vec = {0, NULL};
    error_message(error, &vec);
    take_message(&vec, out, size);
    error_delete(error);
}

static void take_trap(void *trap, int *code, char *out, size_t size, backtrace **trace) {
    frame_vec frames = {0, NULL};
    trap_trace(trap, &frames);
    backtrace_take(trace, &frames);
    uint8_t value = 0;
    *code = trap_code(trap, &value) ? value : -1;
    byte_vec vec = {0, NULL};
    trap_message(trap, &vec);
    take_message(&vec, out, size);
    trap_delete(trap);
}

/* A pre-initialised module's memory image (pyjinn/engine/preinit.py): the memory's size in
 * wasm pages, and the runs of bytes that differ from the module's own initial memory, as
 * (offset, length) pairs of uint32 in `runs` over the concatenated bytes in `data`. */
typedef struct {
    long long pages; /* -1: no image */
    Py_buffer data, runs;
} image;

/* The host's page size, for faulting the image's runs in. */
static const size_t page = 4096;

/* Grow the instance's memory to the image's size and write the image's runs into it. Returns
 * NULL, or a message saying why it could not (the memory limit, usually). */
static const char *restore_image(void *context, instance_t *instance, const image *im,
                                 char *message, size_t size) {
    extern_t item;
    if (!instance_export_get(context, instance, "memory", 6, &item) || item.kind != EXTERN_MEMORY)
        return "the module exports no memory named 'memory' to restore its image into";
    uint64_t current = memory_data_size(context, item.of) / 65536;
    if ((uint64_t)im->pages > current) {
        uint64_t previous = 0;
        void *failure = memory_grow(context, item.of, (uint64_t)im->pages - current, &previous);
        if (failure) {
            char reason[512];
            take_error(failure, reason, sizeof reason, NULL);
            snprintf(message, size, "cannot grow memory to the image's %lld pages (memory limit): %s",
                     im->pages, reason);
            return message;
        }
    }
    uint8_t *base = memory_data(context, item.of);
    size_t limit = memory_data_size(context, item.of);
    const uint32_t *runs = im->runs.buf;
    const uint8_t *data = im->data.buf;
    size_t count = (size_t)im->runs.len / 8, position = 0;
    for (size_t i = 0; i < count; i++) {
        size_t offset = runs[2 * i], length = runs[2 * i + 1];
        if (offset + length > limit || position + length > (size_t)im->data.len)
            return "the memory image does not fit the instance's memory";
        /* Fault the run's pages in with one call rather than one trap per page (the pages are
         * copy-on-write mappings of the module's image); where the kernel cannot, memcpy
         * faults them as usual. */
        uintptr_t first = (uintptr_t)(base + offset) & ~(uintptr_t)(page - 1);
        (void)madvise((void *)first, (uintptr_t)(base + offset + length) - first, MADV_POPULATE_WRITE);
        memcpy(base + offset, data + position, length);
        position += length;
    }
    return NULL;
}

/* Borrow the C string of a bytes object inside a tuple, checking both. */
static const char *tuple_bytes(PyObject *tuple, Py_ssize_t index) {
    PyObject *item = PyTuple_GetItem(tuple, index);
    return item ? PyBytes_AsString(item) : NULL;
}

/* When to copy the guest's linear memory before the store goes (see invoke()). */
enum { SNAPSHOT_NEVER = 0, SNAPSHOT_ON_FAILURE = 1, SNAPSHOT_ALWAYS = 2 };
enum { SNAPSHOT_PAGE = 4096 };

/* A sparse copy of linear memory: the 4 KiB pages that are not all zero, and their numbers
 * (pyjinn/engine/snapshot.py). Most of a guest's memory is pages it never touched: mincore()
 * says which pages are resident, and only those are read (reading the others would fault each
 * one in, a millisecond per few MiB). A page that is not resident is zero, unless the host
 * swapped it out; then the coredump shows it as zero. */
typedef struct {
    uint8_t *data;
    uint32_t *pages;
    size_t count, capacity;
    bool taken, failed;
} sparse_memory;

static bool page_is_zero(const uint8_t *page) {
    uint64_t any = 0;
    for (size_t i = 0; i < SNAPSHOT_PAGE; i += 8) {
        uint64_t word;
        memcpy(&word, page + i, 8); /* alignment-safe; compiles to plain loads */
        any |= word;
    }
    return any == 0;
}

static void sparse_take(sparse_memory *copy, const uint8_t *base, size_t size) {
    copy->taken = true;
    size_t count = size / SNAPSHOT_PAGE;
    unsigned char *resident = count && (uintptr_t)base % SNAPSHOT_PAGE == 0 ? malloc(count) : NULL;
    if (resident && mincore((void *)base, size, resident) != 0) {
        free(resident);
        resident = NULL; /* read every page then */
    }
    for (size_t number = 0; number < count; number++) {
        if (resident && !(resident[number] & 1)) continue;
        const uint8_t *page = base + number * SNAPSHOT_PAGE;
        if (page_is_zero(page)) continue;
        if (copy->count == copy->capacity) {
            size_t capacity = copy->capacity ? copy->capacity * 2 : 64;
            uint8_t *data = realloc(copy->data, capacity * SNAPSHOT_PAGE);
            if (data) copy->data = data;
            uint32_t *pages = data ? realloc(copy->pages, capacity * sizeof *pages) : NULL;
            if (pages) copy->pages = pages;
            if (!data || !pages) { copy->failed = true; break; }
            copy->capacity = capacity;
        }
        memcpy(copy->data + copy->count * SNAPSHOT_PAGE, page, SNAPSHOT_PAGE);
        copy->pages[copy->count++] = (uint32_t)number;
    }
    free(resident);
}

/*
 * invoke(engine, instance_pre, stdin, argv, env, preopens, memory_limit, deadline_ns, fuel,
 *        stdout_limit, stderr_limit, origin_ns, snapshot[, entry, image, deadline_cell])
 *   argv: list of bytes; env: list of (bytes, bytes); preopens: list of (bytes, bytes, bool);
 *   deadline_ns, origin_ns: CLOCK_MONOTONIC nanoseconds (Python's time.monotonic_ns());
 *   origin_ns is where the guest's monotonic clock starts;
 *   entry: None to call _start(), or (name: bytes, args: tuple of up to 4 i32, results: 0 or 1)
 *     to call that export instead, whose i32 result, when not 0, is an exit status;
 *   image: None, or (pages, data: bytes, runs: bytes) to write into memory before the entry
 *   deadline_cell: None, or a writable 8-byte buffer holding the deadline (int64, the same
 *     clock as deadline_ns) that host calls may move while the guest runs; deadline_ns is
 *     then ignored
 * -> (ended, exit_code, trap_code, message, fuel_left, memory_bytes,
 *     stdout, stdout_exceeded, stderr, stderr_exceeded, (setup, instantiate, run, teardown),
 *     stopped, clock_log, backtrace, memory)
 *   clock_log: bytes of 16-byte entries; backtrace: None, or ((func_index, func_offset,
 *   module_offset, name), ...) youngest first and the number of frames in the whole trace;
 *   memory: None, or (size, pages' contents, page numbers as u32) of the guest's linear
 *   memory (with SNAPSHOT_ON_FAILURE: when the run failed or was stopped at a limit)
 */
static PyObject *invoke(PyObject *self, PyObject *args) {
    PyObject *engine_obj, *pre_obj, *argv_obj, *env_obj, *preopens_obj;
    Py_buffer input;
    long long memory_limit, deadline_ns;
    unsigned long long fuel;
    Py_ssize_t stdout_limit, stderr_limit;
    long long origin_ns;
    int snapshot;
    PyObject *entry_obj = Py_None, *image_obj = Py_None, *cell_obj = Py_None;
    Py_buffer cell = {.buf = NULL};
    if (!ready) {
        PyErr_SetString(PyExc_RuntimeError, "_fastinvoke.init() was not called");
        return NULL;
    }
    int native_writes = 0;
    if (!PyArg_ParseTuple(args, "OOy*O!O!O!LLKnnLi|OOOp", &engine_obj, &pre_obj, &input,
                          &PyList_Type, &argv_obj, &PyList_Type, &env_obj,
                          &PyList_Type, &preopens_obj, &memory_limit, &deadline_ns, &fuel,
                          &stdout_limit, &stderr_limit, &origin_ns, &snapshot, &entry_obj,
                          &image_obj, &cell_obj, &native_writes))
        return NULL;
    void *engine = PyLong_AsVoidPtr(engine_obj);
    void *pre = PyLong_AsVoidPtr(pre_obj);
    if (PyErr_Occurred()) { PyBuffer_Release(&input); return NULL; }

    /* The entry export and its i32 arguments (raw 16-byte slots), and the memory image. */
    const char *entry_name = "_start";
    Py_ssize_t entry_length = 6;
    int entry_args = 0, entry_results = 0;
    bool entry_given = entry_obj != Py_None;
    struct { uint8_t bytes[16]; } slots[4];
    memset(slots, 0, sizeof slots);
    image im = {.pages = -1};
    if (entry_given) {
        PyObject *call_args = NULL;
        if (!PyArg_ParseTuple(entry_obj, "y#O!i", &entry_name, &entry_length, &PyTuple_Type,
                              &call_args, &entry_results) ||
            PyTuple_GET_SIZE(call_args) > 4 || entry_results < 0 || entry_results > 1) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "entry takes up to 4 i32 and returns 0 or 1");
            PyBuffer_Release(&input);
            return NULL;
        }
        entry_args = (int)PyTuple_GET_SIZE(call_args);
        for (int i = 0; i < entry_args; i++) {
            int32_t value = (int32_t)PyLong_AsLong(PyTuple_GET_ITEM(call_args, i));
            memcpy(slots[i].bytes, &value, sizeof value);
        }
        if (PyErr_Occurred()) { PyBuffer_Release(&input); return NULL; }
    }
    if (image_obj != Py_None &&
        !PyArg_ParseTuple(image_obj, "Ly*y*", &im.pages, &im.data, &im.runs)) {
        PyBuffer_Release(&input);
        return NULL;
    }
    /* Borrow the C strings of argv, env and preopens before letting go of the GIL. */
    Py_ssize_t argc = PyList_GET_SIZE(argv_obj), envc = PyList_GET_SIZE(env_obj);
    Py_ssize_t preopen_count = PyList_GET_SIZE(preopens_obj);
    const char *argv[argc > 0 ? argc : 1];
    const char *names[envc > 0 ? envc : 1], *values[envc > 0 ? envc : 1];
    const char *hosts[preopen_count > 0 ? preopen_count : 1];
    const char *guests[preopen_count > 0 ? preopen_count : 1];
    bool writable[preopen_count > 0 ? preopen_count : 1];
    for (Py_ssize_t i = 0; i < argc; i++) {
        argv[i] = PyBytes_AsString(PyList_GET_ITEM(argv_obj, i));
        if (!argv[i]) { PyBuffer_Release(&input); return NULL; }
    }
    for (Py_ssize_t i = 0; i < envc; i++) {
        PyObject *pair = PyList_GET_ITEM(env_obj, i);
        names[i] = tuple_bytes(pair, 0);
        values[i] = names[i] ? tuple_bytes(pair, 1) : NULL;
        if (!values[i]) { PyBuffer_Release(&input); return NULL; }
    }
    for (Py_ssize_t i = 0; i < preopen_count; i++) {
        PyObject *entry = PyList_GET_ITEM(preopens_obj, i);
        hosts[i] = tuple_bytes(entry, 0);
        guests[i] = hosts[i] ? tuple_bytes(entry, 1) : NULL;
        PyObject *flag = guests[i] ? PyTuple_GetItem(entry, 2) : NULL;
        int truth = flag ? PyObject_IsTrue(flag) : -1;
        if (truth < 0) { PyBuffer_Release(&input); return NULL; }
        writable[i] = truth == 1;
    }

    /* The movable deadline, if any: borrowed last, so no earlier failure has to give it back. */
    if (cell_obj != Py_None) {
        bool usable = false;
        if (PyObject_GetBuffer(cell_obj, &cell, PyBUF_WRITABLE) == 0) {
            usable = cell.len == 8 && (uintptr_t)cell.buf % 8 == 0;
            if (!usable) PyBuffer_Release(&cell);
        }
        if (!usable) {
            cell.buf = NULL;
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "deadline_cell must be 8 aligned writable bytes");
            if (im.pages >= 0) {
                PyBuffer_Release(&im.data);
                PyBuffer_Release(&im.runs);
            }
            PyBuffer_Release(&input);
            return NULL;
        }
    }

    int ended = ENDED_RETURNED, exit_code = 0, code = -1;
    char message[2048] = "";
    uint64_t fuel_left = 0;
    size_t memory_bytes = 0;
    int64_t started, configured, instantiated, finished, ended_at;
    stream out, err;
    stream_open(&out, (size_t)stdout_limit, 0);
    stream_open(&err, (size_t)stderr_limit, stderr_grace);
    watch limits = {.deadline_ns = deadline_ns, .moving_deadline = cell.buf, .out = &out,
                    .err = &err, .stopped = STOP_NONE};
    clock_log clocks = {.origin_ns = origin_ns, .entries = NULL, .count = 0, .capacity = 0};
    backtrace *trace = NULL; /* only a failed run has one */
    sparse_memory memory_copy = {.data = NULL, .pages = NULL, .count = 0, .capacity = 0,
                                 .taken = false, .failed = false};

    Py_BEGIN_ALLOW_THREADS
    started = configured = instantiated = finished = now_ns();
    running_log = &clocks;
    if (native_writes) { /* the module's fd_write is fd_write_native */
        running_out = &out;
        running_err = &err;
    }
    void *store = NULL, *wasi = NULL;
    store = store_new(engine, NULL, NULL);
    if (!store) {
        ended = ENDED_SETUP_ERROR;
        snprintf(message, sizeof message, "wasmtime could not create a store");
        goto done;
    }
    void *context = store_context(store);
    store_limiter(store, memory_limit, -1, 1, -1, -1);
    wasi = wasi_config_new();
    if (!wasi_config_set_argv(wasi, (size_t)argc, argv) ||
        (envc && !wasi_config_set_env(wasi, (size_t)envc, names, values))) {
        ended = ENDED_SETUP_ERROR;
        snprintf(message, sizeof message, "cannot set the guest's arguments or environment");
        goto done;
    }
    for (Py_ssize_t i = 0; i < preopen_count; i++) {
        if (!wasi_config_preopen_dir(wasi, hosts[i], guests[i], writable[i])) {
            ended = ENDED_SETUP_ERROR;
            snprintf(message, sizeof message, "cannot preopen %s as %s", hosts[i], guests[i]);
            goto done;
        }
    }
    byte_vec stdin_vec;
    byte_vec_new(&stdin_vec, (size_t)input.len, input.buf);
    wasi_config_set_stdin_bytes(wasi, &stdin_vec);
    if (!native_writes) { /* wasmtime's own fd_write: through its (slower) custom streams */
        wasi_config_set_stdout_custom(wasi, stream_write, &out, NULL);
        wasi_config_set_stderr_custom(wasi, stream_write, &err, NULL);
    }
    void *failure = context_set_wasi(context, wasi);
    wasi = NULL; /* owned by the store now, even on failure */
    if (failure) {
        ended = ENDED_SETUP_ERROR;
        take_error(failure, message, sizeof message, NULL);
        goto done;
    }
    /* Check the limits at the next tick, and at every tick after that. */
    store_epoch_deadline_callback(store, on_epoch_tick, &limits, NULL);
    context_set_epoch_deadline(context, 1);
    failure = context_set_fuel(context, fuel);
    if (failure) {
        ended = ENDED_SETUP_ERROR;
        take_error(failure, message, sizeof message, NULL);
        goto done;
    }
    configured = now_ns();

    instance_t instance;
    void *trap = NULL;
    failure = instance_pre_instantiate(pre, context, &instance, &trap);
    instantiated = finished = now_ns();
    if (trap) {
        ended = ENDED_START_TRAP;
        take_trap(trap, &code, message, sizeof message, &trace);
        if (failure) error_delete(failure);
        goto finish;
    }
    if (failure) {
        ended = ENDED_START_ERROR;
        take_error(failure, message, sizeof message, &trace);
        goto finish;
    }
    if (im.pages >= 0) {
        const char *problem = restore_image(context, &instance, &im, message, sizeof message);
        if (problem) {
            ended = ENDED_START_ERROR;
            if (problem != message) snprintf(message, sizeof message, "%s", problem);
            goto finish;
        }
    }
    extern_t item;
    if (!instance_export_get(context, &instance, entry_name, (size_t)entry_length, &item) ||
        item.kind != EXTERN_FUNC) {
        ended = ENDED_START_ERROR;
        snprintf(message, sizeof message, "the instance has no %s function", entry_name);
        goto finish;
    }
    if (entry_given) {
        int count = entry_args > entry_results ? entry_args : entry_results;
        failure = func_call_unchecked(context, item.of, slots, (size_t)count, &trap);
    } else {
        failure = func_call(context, item.of, NULL, 0, NULL, 0, &trap);
    }
    finished = now_ns();
    if (!trap && !failure && entry_results == 1) {
        int32_t status;
        memcpy(&status, slots[0].bytes, sizeof status);
        if (status != 0) {
            ended = ENDED_EXIT;
            exit_code = status;
        }
    }
    if (trap) {
        ended = ENDED_TRAP;
        take_trap(trap, &code, message, sizeof message, &trace);
        if (failure) error_delete(failure);
    } else if (failure) {
        if (error_exit_status(failure, &exit_code)) {
            ended = exit_code == 0 ? ENDED_RETURNED : ENDED_EXIT;
            if (exit_code != 0) {
                frame_vec frames = {0, NULL};
                error_wasm_trace(failure, &frames);
                backtrace_take(&trace, &frames);
            }
            error_delete(failure);
        } else {
            ended = ENDED_ERROR;
            take_error(failure, message, sizeof message, &trace);
        }
    }
    if (instance_export_get(context, &instance, "memory", 6, &item) && item.kind == EXTERN_MEMORY) {
        memory_bytes = memory_data_size(context, item.of);
        bool failed = ended != ENDED_RETURNED || limits.stopped != STOP_NONE;
        if (snapshot == SNAPSHOT_ALWAYS || (snapshot == SNAPSHOT_ON_FAILURE && failed))
            sparse_take(&memory_copy, memory_data(context, item.of), memory_bytes);
    }
finish:
    failure = context_get_fuel(context, &fuel_left);
    if (failure) { error_delete(failure); fuel_left = fuel; }
done:
    running_log = NULL;
    running_out = running_err = NULL;
    if (wasi) wasi_config_delete(wasi);
    if (store) store_delete(store);
    stream_collect(&out);
    stream_collect(&err);
    ended_at = now_ns();
    Py_END_ALLOW_THREADS

    PyBuffer_Release(&input);
    if (cell.buf) PyBuffer_Release(&cell);
    if (im.pages >= 0) {
        PyBuffer_Release(&im.data);
        PyBuffer_Release(&im.runs);
    }
    PyObject *frames = backtrace_tuple(trace);
    PyObject *memory = NULL;
    if (frames) {
        memory = memory_copy.taken && !memory_copy.failed
                     ? Py_BuildValue("(ny#y#)", (Py_ssize_t)memory_bytes,
                                     memory_copy.data ? (const char *)memory_copy.data : "",
                                     (Py_ssize_t)(memory_copy.count * SNAPSHOT_PAGE),
                                     memory_copy.pages ? (const char *)memory_copy.pages : "",
                                     (Py_ssize_t)(memory_copy.count * sizeof(uint32_t)))
                     : Py_NewRef(Py_None);
    }
    PyObject *result = NULL;
    if (frames && memory) {
        result = Py_BuildValue(
            "(iiisKny#Oy#O(LLLL)iy#NN)", ended, exit_code, code, message,
            (unsigned long long)fuel_left, (Py_ssize_t)memory_bytes,
            out.data ? out.data : "", (Py_ssize_t)out.length, out.exceeded ? Py_True : Py_False,
            err.data ? err.data : "", (Py_ssize_t)err.length, err.exceeded ? Py_True : Py_False,
            (long long)(configured - started), (long long)(instantiated - configured),
            (long long)(finished - instantiated), (long long)(ended_at - finished), limits.stopped,
            clocks.entries ? (const char *)clocks.entries : "",
            (Py_ssize_t)(clocks.count * sizeof(clock_entry)), frames, memory);
    } else {
        Py_XDECREF(frames);
        Py_XDECREF(memory);
    }
    free(trace);
    free(clocks.entries);
    free(memory_copy.data);
    free(memory_copy.pages);
    stream_close(&out);
    stream_close(&err);
    return result;
}

/* The epoch ticker: a native thread advancing one engine's epoch at a fixed interval, so
 * timeouts fire on time however busy the interpreter is. */
typedef struct {
    void *engine;
    int64_t interval_ns;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;
} ticker;

static void *tick(void *arg) {
    ticker *t = arg;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    pthread_mutex_lock(&t->lock);
    while (!t->stop) {
        int64_t at = (int64_t)next.tv_nsec + t->interval_ns;
        next.tv_sec += at / 1000000000;
        next.tv_nsec = at % 1000000000;
        int waited = 0;
        while (!t->stop && waited != ETIMEDOUT)
            waited = pthread_cond_timedwait(&t->wake, &t->lock, &next);
        if (!t->stop) engine_increment_epoch(t->engine);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

static PyObject *ticker_start(PyObject *self, PyObject *args) {
    PyObject *engine_obj;
    long long interval_ns;
    if (!ready) {
        PyErr_SetString(PyExc_RuntimeError, "_fastinvoke.init() was not called");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "OL", &engine_obj, &interval_ns)) return NULL;
    void *engine = PyLong_AsVoidPtr(engine_obj);
    if (PyErr_Occurred()) return NULL;
    if (!engine || interval_ns <= 0) {
        PyErr_SetString(PyExc_ValueError, "ticker_start needs an engine and a positive interval");
        return NULL;
    }
    ticker *t = calloc(1, sizeof *t);
    if (!t) return PyErr_NoMemory();
    t->engine = engine;
    t->interval_ns = interval_ns;
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&t->wake, &attributes);
    pthread_condattr_destroy(&attributes);
    pthread_mutex_init(&t->lock, NULL);
    int failed = pthread_create(&t->thread, NULL, tick, t);
    if (failed) {
        pthread_cond_destroy(&t->wake);
        pthread_mutex_destroy(&t->lock);
        free(t);
        errno = failed;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromVoidPtr(t);
}

static PyObject *ticker_stop(PyObject *self, PyObject *arg) {
    ticker *t = PyLong_AsVoidPtr(arg);
    if (!t) return PyErr_Occurred() ? NULL : (PyErr_SetString(PyExc_ValueError, "no ticker"), NULL);
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&t->lock);
    t->stop = true;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    Py_END_ALLOW_THREADS
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t);
    Py_RETURN_NONE;
}

static PyObject *layout(PyObject *self, PyObject *unused) {
    return Py_BuildValue(
        "{s:n,s:n,s:n,s:n,s:i,s:i}", "instance_size", (Py_ssize_t)sizeof(instance_t),
        "extern_size", (Py_ssize_t)sizeof(extern_t), "extern_of_offset",
        (Py_ssize_t)offsetof(extern_t, of), "byte_vec_size", (Py_ssize_t)sizeof(byte_vec),
        "extern_func", EXTERN_FUNC, "extern_memory", EXTERN_MEMORY);
}

static PyMethodDef methods[] = {
    {"init", init, METH_O, "Resolve the wasmtime C API in the library with this dlopen handle."},
    {"invoke", invoke, METH_VARARGS, "Run one invocation; see pyjinn/engine/invoke.py."},
    {"ticker_start", ticker_start, METH_VARARGS, "Advance an engine's epoch every interval_ns."},
    {"ticker_stop", ticker_stop, METH_O, "Stop a ticker from ticker_start and free it."},
    {"layout", layout, METH_NOARGS, "The wasmtime C API struct layout this module assumes."},
    {"clock_functions", clock_functions, METH_NOARGS,
     "The addresses of the native clock_time_get and clock_res_get (unchecked host calls)."},
    {"fd_write_function", fd_write_function, METH_NOARGS,
     "The address of the native fd_write (unchecked host call)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastinvoke",
    "One invocation in one native call: the fast path of pyjinn.engine.invoke.", -1, methods,
};

PyMODINIT_FUNC PyInit__fastinvoke(void) { return PyModule_Create(&module); }
