/*
 * flatprofile.h - the Cisco `<flat-profile>` format, parsed with expat. The decoder reads
 * configuration reports with it, the sink the operator's intended profiles, `rule --check`
 * existing profiles.
 *
 * Rules (DESIGN section 1, reference section 1.1): the flat-profile element is found at any
 * depth (wrappers allowed); each child element is a parameter, its name exact (case, '-',
 * '.', '__' kept); the value is the text with leading and trailing white space removed and
 * inner newlines (CR, LF) turned into spaces; entities and character references decoded; an
 * empty element is the empty string; a repeated name keeps the last value (and is counted);
 * the `ua` attribute (na|ro|rw) is kept. A DOCTYPE is refused, so entity expansion can never
 * happen; limits bound depth, element count, value length and input size.
 *
 * Writing (flatprofile_write.c, the sink's XML export): always well-formed XML 1.0; a
 * parameter XML cannot carry (a name that is not an ASCII name without a colon, a value or
 * ua with a control character, U+FFFE/U+FFFF or invalid UTF-8) is left out and counted in a
 * comment at the end of the document.
 */
#ifndef PR_FLATPROFILE_H
#define PR_FLATPROFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

typedef struct pr_xml_limits {
    size_t max_bytes;     /* input size */
    size_t max_depth;     /* element nesting */
    size_t max_elements;  /* elements in the document */
    size_t max_value_len; /* bytes of one text value or attribute value */
} pr_xml_limits;

/* 16 MiB, depth 64, 100000 elements, 64 KiB values. */
extern const pr_xml_limits pr_xml_limits_default;

typedef enum pr_xml_error {
    PR_XML_OK,
    PR_XML_MALFORMED,         /* not well-formed, invalid UTF-8, empty */
    PR_XML_DOCTYPE_FORBIDDEN, /* a DOCTYPE declaration */
    PR_XML_LIMITS,            /* a limit above was exceeded */
    PR_XML_NOT_PROFILE,       /* well-formed, but no flat-profile element */
} pr_xml_error;

typedef struct pr_fp_param {
    char *name;
    char *value;
    char ua[3]; /* "na", "ro", "rw", or "" when absent (other values are kept truncated) */
} pr_fp_param;

typedef struct pr_flat_profile {
    pr_fp_param *params; /* document order of first appearance; last value wins */
    size_t len;
    size_t duplicates; /* how many repeated names were overwritten */
    void *store;       /* private: holds every name and value (never free them one by one) */
} pr_flat_profile;

/*
 * Parses buf[0..len). On failure returns PR_EINVAL, sets *why and a one-line message in err
 * (with the line number where expat gives one); out is then empty. lim NULL means default.
 * Release out with pr_flatprofile_release() in every case. (PR_EFATAL, why PR_XML_OK, when
 * memory runs out.) The params array may be reordered (e.g. sorted) by the caller; the
 * strings stay valid until release.
 */
pr_status pr_flatprofile_parse(const char *buf, size_t len, const pr_xml_limits *lim,
                               pr_flat_profile *out, pr_xml_error *why, char *err, size_t errlen);
void pr_flatprofile_release(pr_flat_profile *fp);

/* Finds a parameter by exact name; NULL if absent. Linear: for a few lookups only. */
const pr_fp_param *pr_flatprofile_find(const pr_flat_profile *fp, const char *name);

/* ---- writing ------------------------------------------------------------------------ */

typedef struct pr_flatprofile_writer pr_flatprofile_writer;

/*
 * Starts a document: the XML declaration, `<!-- comment -->` (left out if NULL or if XML
 * cannot carry it as a comment), `<flat-profile>`. NULL when memory runs out.
 */
pr_flatprofile_writer *pr_flatprofile_writer_new(const char *comment);

/*
 * Appends one parameter (ua NULL or "" for none; value NULL as ""). A parameter XML cannot
 * carry is left out and counted, and still PR_OK; PR_EFATAL only when memory runs out.
 */
pr_status pr_flatprofile_writer_add(pr_flatprofile_writer *w, const char *name, const char *value,
                                    const char *ua);

/*
 * Ends the document (after the comments that count what was left out) and frees the writer
 * in every case. PR_OK: *out is the NUL-terminated text (caller frees), *len its length,
 * *omitted (if not NULL) how many parameters were left out. PR_EFATAL when memory ran out at
 * any point.
 */
pr_status pr_flatprofile_writer_finish(pr_flatprofile_writer *w, char **out, size_t *len,
                                       size_t *omitted);

/* Discards a writer that will not be finished; NULL is a no-op. */
void pr_flatprofile_writer_free(pr_flatprofile_writer *w);

#endif
