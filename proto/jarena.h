/*
 * jarena.h - an arena for jansson trees that are parsed once, read, and dropped whole (the
 * sink's config events: a 30 KB record is ~2,300 jansson allocations).
 *
 * jansson takes one process-wide pair of allocation functions (json_set_alloc_funcs).
 * pr_jarena_install() sets a pair that is exactly malloc/free except on a thread inside
 * pr_jarena_enter/leave: there every jansson allocation is carved from the arena and every
 * jansson free is a no-op. The arena's memory goes back in one piece with pr_jarena_free(),
 * to a pool of at most 16 MiB that the next arenas take their chunks from.
 *
 * Ownership: a tree parsed inside the window belongs to the arena. Borrow from it only (read,
 * iterate); never json_decref it, json_incref any part of it or set a part into another
 * object; pr_jarena_free() ends every pointer into it. Only parse inside the window (a
 * json_dumps there would hand out arena memory to be free()d).
 */
#ifndef PR_JARENA_H
#define PR_JARENA_H

#include <stdbool.h>
#include <stddef.h>

typedef struct pr_jarena pr_jarena;

/* Sets jansson's allocation functions; call first in main, before any other jansson call
 * (they are equivalent to malloc/free outside a window, so this is harmless later too, but a
 * process-wide setting is best made once, before threads start). */
void pr_jarena_install(void);
bool pr_jarena_installed(void);

/* A new, empty arena; NULL when not installed (the caller then parses on the heap) or out of
 * memory. pr_jarena_free(NULL) is a no-op. An arena may be freed on another thread than the
 * one that filled it. */
pr_jarena *pr_jarena_new(void);
void pr_jarena_free(pr_jarena *a);

/* This thread's jansson allocations come from `a` until pr_jarena_leave(). Not nested. */
void pr_jarena_enter(pr_jarena *a);
void pr_jarena_leave(void);

/* Bytes the arena holds (its chunks), for tests and sizing. */
size_t pr_jarena_bytes(const pr_jarena *a);

#endif
