/*
 * sdnotify.c - sd_notify(3) in a few lines (see sdnotify.h). The socket name is a path, or,
 * with a leading '@', a name in the abstract namespace (its first byte becomes NUL).
 */
#include "sdnotify.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

pr_status pr_sd_notify(const char *state, char *err, size_t errlen)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = path ? strlen(path) : 0;
    if (n == 0)
        return PR_OK;
    if ((path[0] != '/' && path[0] != '@') || n < 2 || n > sizeof sa.sun_path)
        return pr_err(PR_EINVAL, err, errlen, "NOTIFY_SOCKET: '%.40s' is not a socket path", path);
    memcpy(sa.sun_path, path, n);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return pr_err(PR_ETRANSIENT, err, errlen, "NOTIFY_SOCKET: socket: %s", strerror(errno));
    ssize_t sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
                          (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
    int saved = errno;
    close(fd);
    if (sent < 0)
        return pr_err(PR_ETRANSIENT, err, errlen, "NOTIFY_SOCKET %s: %s", path, strerror(saved));
    return PR_OK;
}
