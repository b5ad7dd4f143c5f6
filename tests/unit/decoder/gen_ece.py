#!/usr/bin/env python3
"""Independent RFC 8188 (aes128gcm) vectors for the decoder's tests.

usage: gen_ece.py OUTDIR
Writes OUTDIR/<name>.bin (the body) and OUTDIR/<name>.txt (the plaintext) for:
  multi      http_ece, rs 64, 1000-byte plaintext -> 22 records, empty key id
  keyid      http_ece, key id "k1", rs 4096
  exact      http_ece, rs 66, plaintext a whole number of 49-byte chunks
  padded     the `cryptography` package directly: 2 records, each with zero padding after
             its delimiter (http_ece never pads)
Every IKM is the 16 bytes of hex 000102...0f, except keyid which uses "kid-ikm-16-bytes".
None of this uses phonereport code.
"""
import os
import struct
import sys

import http_ece
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

IKM = bytes(range(16))
SALT = bytes(range(100, 116))


def hkdf(salt, ikm, info, n):
    return HKDF(algorithm=hashes.SHA256(), length=n, salt=salt, info=info).derive(ikm)


def padded(plain_parts, rs, pad):
    cek = hkdf(SALT, IKM, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = hkdf(SALT, IKM, b"Content-Encoding: nonce\x00", 12)
    out = SALT + struct.pack("!LB", rs, 0)
    for i, part in enumerate(plain_parts):
        last = i == len(plain_parts) - 1
        rec = part + (b"\x02" if last else b"\x01")
        if not last:
            rec += b"\x00" * (rs - 16 - len(rec))
        else:
            rec += b"\x00" * pad
        n = bytes(a ^ b for a, b in zip(nonce, (i).to_bytes(12, "big")))
        out += AESGCM(cek).encrypt(n, rec, None)
    return out


def main():
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    text = ("<flat-profile>" + "".join(
        f'<P_{i}_ ua="na">value {i}</P_{i}_>' for i in range(40)) + "</flat-profile>").encode()
    cases = {
        "multi": (http_ece.encrypt(text[:1000], salt=SALT, key=IKM, rs=64), text[:1000]),
        "keyid": (http_ece.encrypt(text, salt=SALT, key=b"kid-ikm-16-bytes", keyid="k1"), text),
        "exact": (http_ece.encrypt(text[:49 * 3], salt=SALT, key=IKM, rs=66), text[:49 * 3]),
    }
    parts = [text[:30], text[30:57]]
    cases["padded"] = (padded(parts, 64, 10), text[:57])
    for name, (body, plain) in cases.items():
        # Check with http_ece's own decrypt that the vector is sound.
        assert http_ece.decrypt(body, key=b"kid-ikm-16-bytes" if name == "keyid" else IKM) == plain
        open(os.path.join(d, name + ".bin"), "wb").write(body)
        open(os.path.join(d, name + ".txt"), "wb").write(plain)
    return 0


if __name__ == "__main__":
    sys.exit(main())
