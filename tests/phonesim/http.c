/*
 * http.c - the simulator's HTTP, over libcurl: one upload as a phone makes it, and a GET.
 *
 * A handle is reused for every request of one worker, so connections are kept alive;
 * curl_easy_reset() clears options between requests but keeps the live connections.
 * Credentials are sent only after a 401 challenge, as the phone does (`--uid/--pwd` answer
 * challenges): Digest always probes, Basic probes because of CURLAUTH_ONLY.
 */
#include "phonesim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

typedef struct upload {
    const char *p;
    size_t len, off;
} upload;

static size_t read_cb(char *dst, size_t size, size_t nmemb, void *ud)
{
    upload *u = ud;
    size_t n = size * nmemb, left = u->len - u->off;
    if (n > left)
        n = left;
    memcpy(dst, u->p + u->off, n);
    u->off += n;
    return n;
}

/* Rewinds for a resend after a 401 challenge. */
static int seek_cb(void *ud, curl_off_t offset, int origin)
{
    upload *u = ud;
    if (origin != SEEK_SET || offset < 0 || (size_t)offset > u->len)
        return CURL_SEEKFUNC_CANTSEEK;
    u->off = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

static size_t discard_cb(char *p, size_t size, size_t nmemb, void *ud)
{
    (void)p;
    (void)ud;
    return size * nmemb;
}

/* Keeps Retry-After and X-Request-Id of the last response (a new status line resets them:
 * a 401 challenge precedes the final answer). */
static size_t header_cb(char *line, size_t size, size_t nmemb, void *ud)
{
    sim_resp *rs = ud;
    size_t n = size * nmemb, vlen;
    if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        rs->retry_after_s = -1;
        rs->request_id[0] = '\0';
        return n;
    }
    const char *colon = memchr(line, ':', n);
    if (!colon)
        return n;
    size_t nlen = (size_t)(colon - line);
    const char *v = colon + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    vlen = (size_t)(end - v);
    if (nlen == 11 && strncasecmp(line, "Retry-After", 11) == 0) {
        char tmp[32];
        if (vlen < sizeof tmp) {
            memcpy(tmp, v, vlen);
            tmp[vlen] = '\0';
            char *e;
            long s = strtol(tmp, &e, 10);
            rs->retry_after_s = (e != tmp && *e == '\0' && s >= 0) ? s : -1;
        }
    } else if (nlen == 12 && strncasecmp(line, "X-Request-Id", 12) == 0) {
        if (vlen >= sizeof rs->request_id)
            vlen = sizeof rs->request_id - 1;
        memcpy(rs->request_id, v, vlen);
        rs->request_id[vlen] = '\0';
    }
    return n;
}

int sim_http_upload(void *handle, const sim_req *rq, sim_resp *rs)
{
    CURL *c = handle;
    struct curl_slist *hdrs = NULL, *h;
    upload u = {.p = rq->body, .len = rq->len, .off = 0};
    char ce[96];
    int rc = -1;

    memset(rs, 0, sizeof *rs);
    rs->retry_after_s = -1;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, rq->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, rq->user_agent);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(c, CURLOPT_READDATA, &u);
    curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, seek_cb);
    curl_easy_setopt(c, CURLOPT_SEEKDATA, &u);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_cb);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, rs);

    /* No "Expect: 100-continue": the phone sends its body at once. */
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (rq->content_encoding) {
        snprintf(ce, sizeof ce, "Content-Encoding: %s", rq->content_encoding);
        if ((h = curl_slist_append(hdrs, ce)))
            hdrs = h;
    }
    if (rq->put) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        if (!rq->chunked) /* without a size curl sends HTTP/1.1 chunked */
            curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->len);
    } else {
        /* curl labels it application/x-www-form-urlencoded, as phones are reported to. */
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        if (rq->chunked) {
            if ((h = curl_slist_append(hdrs, "Transfer-Encoding: chunked")))
                hdrs = h;
        } else {
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->len);
        }
    }
    if (!hdrs)
        return -1;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    if (rq->auth != SIM_AUTH_NONE) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH,
                         rq->auth == SIM_AUTH_BASIC ? (long)(CURLAUTH_BASIC | CURLAUTH_ONLY)
                                                    : (long)CURLAUTH_DIGEST);
        curl_easy_setopt(c, CURLOPT_USERNAME, rq->user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, rq->password);
    }

    CURLcode cc = curl_easy_perform(c);
    rs->curl_code = (int)cc;
    if (cc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rs->status);
        rc = 0;
    } else {
        /* Refused or unresolvable: the edge never saw it. Anything else (time-out, reset
         * after sending) may have been acknowledged and published. */
        rs->maybe_delivered = !(cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    return rc;
}

static size_t collect_cb(char *p, size_t size, size_t nmemb, void *ud)
{
    return sim_buf_put(ud, p, size * nmemb) == 0 ? size * nmemb : 0;
}

long sim_http_get(void *handle, const char *url, sim_buf *body)
{
    CURL *c = handle;
    long status = 0;
    body->len = 0;
    if (body->data)
        body->data[0] = '\0';
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    if (curl_easy_perform(c) != CURLE_OK)
        return -1;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    return status;
}
