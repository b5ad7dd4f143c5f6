/* hex.h - hexadecimal digits, the one decoder and encoder (keystore keys, MACs, Digest). */
#ifndef PR_HEX_H
#define PR_HEX_H

#include <stdbool.h>
#include <stddef.h>

/* 0..15 for a hex digit of either case, -1 otherwise. */
int pr_hex_val(char c);
/* Decodes exactly len hex digits (len even) into out (at least len/2 bytes). False on an odd
 * length or a non-hex character; out is then unspecified. */
bool pr_hex_decode(const char *s, size_t len, unsigned char *out);
/* Writes 2*n lower-case hex digits and a NUL into out (at least 2*n+1 bytes). */
void pr_hex_encode(const unsigned char *in, size_t n, char *out);

#endif
