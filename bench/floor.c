/*
 * floor.c - the benchmark floor for usagectx.
 *
 * A deliberately plain C program that does the same work per message as the
 * usagectx sidecar for `usage/increment`, using Jansson the straightforward way:
 *
 *   - read stdin in 64 KiB chunks with read(2);
 *   - detect the framing from the first bytes: `Content-Length:` (any case,
 *     after optional whitespace) means LSP framing, anything else means
 *     newline-delimited JSON;
 *   - split frames, parse each one with json_loadb, take the `id`, bump the
 *     counter, build the answer with json_pack and serialise it with json_dumps;
 *   - append the answer, framed like the request, to an output buffer, and
 *     write that buffer with one write(2) per burst: when poll(2) with a zero
 *     timeout says no more input is waiting, or when the buffer is large.
 *
 * Everything Jansson allocates is released per message. Exits 0 at EOF after
 * flushing.
 *
 * Build: cc -O2 -Wall -Wextra -o bench/out/floor bench/floor.c \
 *            $(pkg-config --cflags --libs jansson)
 */
#define _GNU_SOURCE /* memmem */

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

enum {
    READ_CHUNK = 64 * 1024,       /* bytes asked of each read(2) */
    FLUSH_THRESHOLD = 256 * 1024, /* write early once this much output is pending */
};

/* The metric's fixed limit, as in the sidecar's default tier. */
static const long long LIMIT = 100;

static const char CL_HEADER[] = "content-length:";
#define CL_HEADER_LEN (sizeof CL_HEADER - 1)

typedef enum { FRAMING_UNKNOWN, FRAMING_NEWLINE, FRAMING_CONTENT_LENGTH } framing_t;

/* A growable byte buffer; `start` marks bytes already consumed. */
typedef struct {
    char *data;
    size_t start, len, cap;
} buffer_t;

static framing_t framing = FRAMING_UNKNOWN;
static long long used = 0; /* increments so far */
static buffer_t in, out;

static void die(const char *what) {
    perror(what);
    exit(1);
}

/* Makes room for `extra` more bytes at the end of `b`, dropping consumed bytes first. */
static void reserve(buffer_t *b, size_t extra) {
    if (b->start > 0) {
        memmove(b->data, b->data + b->start, b->len - b->start);
        b->len -= b->start;
        b->start = 0;
    }
    if (b->len + extra <= b->cap) return;
    size_t cap = b->cap ? b->cap : READ_CHUNK;
    while (cap < b->len + extra) cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data) die("realloc");
    b->data = data;
    b->cap = cap;
}

static void append(buffer_t *b, const char *bytes, size_t n) {
    if (b->len + n > b->cap) reserve(b, n);
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
}

/* Writes all pending output with as few write(2) calls as the pipe allows. */
static void flush_output(void) {
    size_t done = 0;
    while (done < out.len) {
        ssize_t n = write(STDOUT_FILENO, out.data + done, out.len - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("write");
        }
        done += (size_t)n;
    }
    out.len = 0;
}

/* True when more input can be read right now without blocking. */
static bool input_waiting(void) {
    struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
    int r;
    do r = poll(&p, 1, 0);
    while (r < 0 && errno == EINTR);
    return r > 0;
}

/* Frames one answer body like the request and appends it to the output buffer. */
static void emit(const char *body) {
    size_t n = strlen(body);
    if (framing == FRAMING_CONTENT_LENGTH) {
        char header[48];
        int h = snprintf(header, sizeof header, "Content-Length: %zu\r\n\r\n", n);
        append(&out, header, (size_t)h);
        append(&out, body, n);
    } else {
        append(&out, body, n);
        append(&out, "\n", 1);
    }
}

/* Builds, serialises and emits a JSON-RPC error answer. */
static void emit_error(json_t *id, int code, const char *message) {
    json_t *answer = json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id ? id : json_null(),
                               "error", "code", code, "message", message);
    char *text = json_dumps(answer, JSON_COMPACT);
    emit(text);
    free(text);
    json_decref(answer);
}

/* Handles one message body: parse, dispatch, answer. */
static void handle_message(const char *body, size_t n) {
    json_error_t error;
    json_t *message = json_loadb(body, n, 0, &error);
    if (!message) {
        emit_error(NULL, -32700, "Parse error");
        return;
    }
    json_t *id = json_object_get(message, "id"); /* borrowed; NULL for a notification */
    const char *method = json_string_value(json_object_get(message, "method"));
    if (!json_is_object(message) || !method) {
        emit_error(id, -32600, "Invalid Request");
    } else if (strcmp(method, "usage/increment") != 0) {
        if (id) emit_error(id, -32601, "Method not found");
    } else {
        used += 1;
        if (id) {
            long long remaining = used < LIMIT ? LIMIT - used : 0;
            double ratio = (double)used / (double)LIMIT;
            const char *level = used >= LIMIT ? "exceeded" : used * 10 >= LIMIT * 8 ? "warning" : "ok";
            json_t *answer = json_pack(
                "{s:s, s:O, s:{s:s, s:s, s:s, s:I, s:I, s:I, s:f, s:s, s:I, s:s}}",
                "jsonrpc", "2.0", "id", id, "result",
                "name", "documents", "kind", "count", "unit", "documents",
                "used", (json_int_t)used, "limit", (json_int_t)LIMIT, "remaining", (json_int_t)remaining,
                "ratio", ratio, "level", level, "version", (json_int_t)used, "period", "unlimited");
            /* 15 significant digits print U/100 in its shortest form (0.07, not 0.070000000000000007). */
            char *text = json_dumps(answer, JSON_COMPACT | JSON_REAL_PRECISION(15));
            emit(text);
            free(text);
            json_decref(answer);
        }
    }
    json_decref(message);
}

/* Decides the framing once enough bytes arrived. Returns false when more bytes are needed. */
static bool detect_framing(bool at_eof) {
    size_t i = in.start;
    while (i < in.len && isspace((unsigned char)in.data[i])) i++;
    size_t avail = in.len - i;
    size_t cmp = avail < CL_HEADER_LEN ? avail : CL_HEADER_LEN;
    if (strncasecmp(in.data + i, CL_HEADER, cmp) != 0) {
        framing = FRAMING_NEWLINE;
    } else if (cmp == CL_HEADER_LEN) {
        framing = FRAMING_CONTENT_LENGTH;
    } else if (at_eof) {
        framing = FRAMING_NEWLINE; /* a lone prefix at EOF: not a header */
    } else {
        return false;
    }
    return true;
}

/* Handles every complete line in the input buffer. */
static void split_newline(void) {
    for (;;) {
        char *begin = in.data + in.start;
        char *nl = memchr(begin, '\n', in.len - in.start);
        if (!nl) return;
        char *end = nl;
        if (end > begin && end[-1] == '\r') end--;
        char *p = begin;
        while (p < end && isspace((unsigned char)*p)) p++;
        if (p < end) handle_message(begin, (size_t)(end - begin)); /* blank lines are skipped */
        in.start = (size_t)(nl + 1 - in.data);
    }
}

/* Reads the Content-Length value from a header block; -1 when missing or malformed. */
static long long header_content_length(const char *h, const char *end) {
    while (h < end) {
        const char *eol = memmem(h, (size_t)(end - h), "\r\n", 2);
        if (!eol) eol = end;
        if ((size_t)(eol - h) > CL_HEADER_LEN && strncasecmp(h, CL_HEADER, CL_HEADER_LEN) == 0) {
            const char *p = h + CL_HEADER_LEN;
            while (p < eol && (*p == ' ' || *p == '\t')) p++;
            long long n = 0;
            const char *digits = p;
            while (p < eol && isdigit((unsigned char)*p) && n < (1LL << 40)) n = n * 10 + (*p++ - '0');
            while (p < eol && (*p == ' ' || *p == '\t')) p++;
            return (p > digits && p == eol) ? n : -1;
        }
        h = eol + 2;
    }
    return -1;
}

/* Handles every complete Content-Length frame in the input buffer. */
static void split_content_length(void) {
    for (;;) {
        while (in.start < in.len && isspace((unsigned char)in.data[in.start])) in.start++;
        char *begin = in.data + in.start;
        size_t avail = in.len - in.start;
        char *sep = memmem(begin, avail, "\r\n\r\n", 4);
        if (!sep) return;
        char *body = sep + 4;
        long long n = header_content_length(begin, sep);
        if (n < 0) {
            fprintf(stderr, "floor: header block without a valid Content-Length, skipped\n");
            in.start = (size_t)(body - in.data);
            continue;
        }
        if ((size_t)(body - begin) + (size_t)n > avail) return; /* body not complete yet */
        handle_message(body, (size_t)n);
        in.start = (size_t)(body + n - in.data);
    }
}

/* Handles whatever complete frames the input buffer holds. */
static void process_input(bool at_eof) {
    if (framing == FRAMING_UNKNOWN && !detect_framing(at_eof)) return;
    if (framing == FRAMING_NEWLINE) {
        split_newline();
        if (at_eof && in.start < in.len) { /* a last line without its newline */
            handle_message(in.data + in.start, in.len - in.start);
            in.start = in.len;
        }
    } else {
        split_content_length();
        if (at_eof && in.start < in.len) fprintf(stderr, "floor: input ended inside a frame\n");
    }
}

int main(void) {
    for (;;) {
        reserve(&in, READ_CHUNK);
        ssize_t n = read(STDIN_FILENO, in.data + in.len, READ_CHUNK);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("read");
        }
        if (n == 0) break;
        in.len += (size_t)n;
        process_input(false);
        /* One write per burst: flush once the input is drained, or early when a lot is pending. */
        if (out.len >= FLUSH_THRESHOLD || (out.len > 0 && !input_waiting())) flush_output();
    }
    process_input(true);
    flush_output();
    free(in.data);
    free(out.data);
    return 0;
}
