/*
 * jarena.c - see jarena.h. Why: a profile of the sink in a boot storm had 70% of its CPU in
 * jansson and the C library parsing and freeing config events, a third of that in malloc
 * alone (malloc_consolidate: each event's large allocations, the hash tables, swept the
 * thousands of small chunks the previous event had just freed).
 *
 * DESIGN: a bump allocator over a list of chunks (64 KiB, below glibc's mmap threshold; a
 * request larger than a quarter of that gets a chunk of its own; an 8832 event takes four).
 * Freed chunks of the standard size wait in a pool for the next arena, up to POOL_MAX
 * (16 MiB): handed back to glibc, they were trimmed to the OS and every new event paid its
 * page faults again (6% of the sink's CPU). The current arena is a thread-local pointer; it
 * and the pool are the mutable state besides jansson's own function pair: jansson offers no
 * per-call allocator.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>

#include "jarena.h"

#define CHUNK    ((size_t)64 * 1024)
#define POOL_MAX 256

typedef struct chunk {
    struct chunk *next;
    size_t size, used; /* bytes of data[] */
    alignas(max_align_t) unsigned char data[];
} chunk;

struct pr_jarena {
    chunk *head; /* the chunk being filled, then the older ones */
    size_t bytes;
};

static _Thread_local pr_jarena *current;
static bool installed;
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static chunk *pool; /* freed chunks of CHUNK bytes, linked by next */
static size_t pooled;

static chunk *chunk_new(size_t size)
{
    chunk *c = NULL;
    if (size == CHUNK) {
        pthread_mutex_lock(&pool_mu);
        if ((c = pool)) {
            pool = c->next;
            pooled--;
        }
        pthread_mutex_unlock(&pool_mu);
    }
    if (!c)
        c = malloc(sizeof *c + size);
    if (c) {
        c->next = NULL;
        c->size = size;
        c->used = 0;
    }
    return c;
}

static void *arena_alloc(pr_jarena *a, size_t n)
{
    const size_t align = alignof(max_align_t);
    n = (n + align - 1) & ~(align - 1);
    if (!a->head || a->head->size - a->head->used < n) {
        chunk *c = chunk_new(n > CHUNK / 4 ? n : CHUNK);
        if (!c)
            return NULL;
        a->bytes += sizeof *c + c->size;
        if (n > CHUNK / 4 && a->head) { /* a chunk of its own: keep filling the current one */
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
        c->used = n;
        return c->data;
    }
    void *p = a->head->data + a->head->used;
    a->head->used += n;
    return p;
}

static void *jarena_malloc(size_t n)
{
    return current ? arena_alloc(current, n) : malloc(n);
}

static void jarena_release(void *p)
{
    if (!current)
        free(p);
}

void pr_jarena_install(void)
{
    json_set_alloc_funcs(jarena_malloc, jarena_release);
    installed = true;
}

bool pr_jarena_installed(void)
{
    return installed;
}

pr_jarena *pr_jarena_new(void)
{
    return installed ? calloc(1, sizeof(pr_jarena)) : NULL;
}

void pr_jarena_free(pr_jarena *a)
{
    if (!a)
        return;
    for (chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        bool keep = false;
        if (c->size == CHUNK) {
            pthread_mutex_lock(&pool_mu);
            if ((keep = pooled < POOL_MAX)) {
                c->next = pool;
                pool = c;
                pooled++;
            }
            pthread_mutex_unlock(&pool_mu);
        }
        if (!keep)
            free(c);
    }
    free(a);
}

void pr_jarena_enter(pr_jarena *a)
{
    current = a;
}

void pr_jarena_leave(void)
{
    current = NULL;
}

size_t pr_jarena_bytes(const pr_jarena *a)
{
    return a ? a->bytes : 0;
}
