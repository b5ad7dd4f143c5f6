/*
 * log.h - JSON-lines logger on stderr: {"ts","level","component","msg", fields...}.
 *
 * One write(2) per line, so lines from threads never interleave. The level is checked before
 * anything is formatted (PR_LOG* macros). Never log payloads, passwords or keys.
 * The minimum level is process-wide, set once at start-up before threads exist.
 */
#ifndef PR_LOG_H
#define PR_LOG_H

#include <jansson.h>
#include <stdbool.h>

typedef enum pr_log_level { PR_LOG_DEBUG, PR_LOG_INFO, PR_LOG_WARN, PR_LOG_ERROR } pr_log_level;

/* Returns 0, or -1 for an unknown name ("debug", "info", "warn", "error"). */
int pr_log_set_level_name(const char *name);
void pr_log_set_level(pr_log_level lvl);
bool pr_log_enabled(pr_log_level lvl);
/* Redirect output to fd (tests); default 2. */
void pr_log_set_fd(int fd);

/* Writes one line. `fields` (may be NULL) is a JSON object whose members are added to the
 * line; the reference is stolen. */
void pr_log_write(pr_log_level lvl, const char *component, const char *msg, json_t *fields);

/* printf-style message, no extra fields. */
void pr_log_writef(pr_log_level lvl, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* PR_LOG(PR_LOG_INFO, "ingest", "listening", json_pack("{si}", "port", port));
 * The fields expression is evaluated only if the level is enabled. */
#define PR_LOG(lvl, comp, msg, fields)                                                             \
    do {                                                                                           \
        if (pr_log_enabled(lvl))                                                                   \
            pr_log_write((lvl), (comp), (msg), (fields));                                          \
    } while (0)

#define PR_LOGF(lvl, comp, ...)                                                                    \
    do {                                                                                           \
        if (pr_log_enabled(lvl))                                                                   \
            pr_log_writef((lvl), (comp), __VA_ARGS__);                                             \
    } while (0)

#endif
