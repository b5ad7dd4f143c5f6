/*
 * api_console.c - the console's files (sink/console/, compiled in by embed.cmake) on the API
 * port: `/` is the page, `/console/...` its style sheet and script.
 *
 * DESIGN: the files hold no data, so they are served without credentials (the page must load
 * to ask for a token); everything they show comes from the API with the user's token. The
 * headers keep the page to its own origin (a Content-Security-Policy without inline script)
 * and out of frames.
 */
#include <microhttpd.h>
#include <stdint.h>
#include <string.h>

#include "sink_internal.h"

const sink_console_file *sink_console_find(const char *url)
{
    if (strcmp(url, "/index.html") == 0 || strcmp(url, "/console") == 0 ||
        strcmp(url, "/console/") == 0)
        url = "/";
    for (const sink_console_file *f = sink_console_files; f->url; f++)
        if (strcmp(f->url, url) == 0)
            return f;
    return NULL;
}

int sink_console_send(struct MHD_Connection *c, const sink_console_file *f)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(f->len, (void *)(uintptr_t)f->data, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return (int)MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, f->type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; script-src 'self'; style-src 'self'; "
                            "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
                            "base-uri 'none'; form-action 'self'");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return (int)ok;
}
