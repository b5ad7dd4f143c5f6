/* ops_http.c - /healthz, /readyz and /metrics, one way for every port (ops_http.h). */
#include "ops_http.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

bool pr_ops_is_endpoint(const char *url)
{
    return strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0 ||
           strcmp(url, "/metrics") == 0;
}

static struct MHD_Response *text(const char *s)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(s), (void *)s, MHD_RESPMEM_MUST_COPY);
    if (r) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    }
    return r;
}

struct MHD_Response *pr_ops_response(const char *url, pr_metrics *m, pr_ops_ready_fn ready,
                                     void *ctx, unsigned *code)
{
    *code = MHD_HTTP_OK;
    if (strcmp(url, "/healthz") == 0)
        return text("ok\n");
    if (strcmp(url, "/readyz") == 0) {
        const char *why = ready ? ready(ctx) : NULL;
        char body[256];
        if (!why)
            return text("ready\n");
        *code = MHD_HTTP_SERVICE_UNAVAILABLE;
        snprintf(body, sizeof body, "%s\n", why);
        return text(body);
    }
    size_t len = 0;
    char *t = pr_metrics_render(m, &len);
    if (!t) {
        *code = MHD_HTTP_INTERNAL_SERVER_ERROR;
        return text("out of memory\n");
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(len, t, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(t);
        return NULL;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    return r;
}
