/* file.h - reading a whole file (profiles, credentials, keystores), bounded in size. */
#ifndef PR_FILE_H
#define PR_FILE_H

#include <stddef.h>

#include "status.h"

/*
 * Reads path into a NUL-terminated heap buffer (*out, caller frees; *len its length without
 * the NUL, may be NULL). PR_EINVAL when the file cannot be opened or read or is larger than
 * max bytes (the message names the file), PR_EFATAL when out of memory.
 */
pr_status pr_file_read(const char *path, size_t max, char **out, size_t *len, char *err,
                       size_t errlen);

#endif
