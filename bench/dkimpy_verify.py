#!/usr/bin/python3
# dkimpy's DKIM verification rate on the cases of gatehouse_auth_bench (bench/auth_bench.cpp):
# rsa-2048 and ed25519, 4 KiB and 100 KiB messages built by the same recipe (make_message is a
# byte-for-byte copy), relaxed/relaxed, the same nine signed header fields. Each case: a fresh
# key (openssl genpkey for RSA, PyNaCl for Ed25519), one dkimpy signature, then dkim.verify()
# in a loop; dnsfunc returns the key record from memory, so no network. Prints one line per
# case, "<case> <verifications/s> <iterations>", in the gatehouse_auth_bench names.
# Needs Debian's python3-dkim and python3-nacl (scripts/install-deps --test): run it with
# /usr/bin/python3. Usage: bench/dkimpy_verify.py [SECONDS_PER_CASE]
# Must not: touch the network, or leave key files behind.
import base64
import os
import subprocess
import sys
import tempfile
import time

import dkim
import nacl.signing

SIGNED_AT = 1700000000
SIGNED_HEADERS = [b"from", b"to", b"cc", b"subject", b"date", b"message-id",
                  b"mime-version", b"content-type", b"content-transfer-encoding"]
SIZES = [("4KiB", 4 * 1024), ("100KiB", 100 * 1024)]


def make_message(target):
    m = (b"Received: from mail.example.org (mail.example.org [192.0.2.25])\r\n"
         b"\tby mx.example.net with ESMTPS id 4SVb2k1r9Zz3m\r\n"
         b"\tfor <bob@example.net>; Tue, 14 Nov 2023 22:13:20 +0000\r\n"
         b"From: Alice Example <alice@example.org>\r\n"
         b"To: Bob Example <bob@example.net>\r\n"
         b"Cc: team@example.net\r\n"
         b"Subject: Quarterly report: figures and next steps\r\n"
         b"Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
         b"Message-ID: <20231114221320.4f2a9c@mail.example.org>\r\n"
         b"MIME-Version: 1.0\r\n"
         b"Content-Type: text/plain; charset=utf-8\r\n"
         b"Content-Transfer-Encoding: 7bit\r\n"
         b"\r\n")
    i = 0
    while len(m) < target:
        line = b"Line %05d: the quick brown fox  jumps over the lazy dog;  nothing to see here." % i
        if i % 7 == 6:
            line += b" \t "
        m += line + b"\r\n"
        i += 1
    return m


def rsa_key():
    """(private key PEM, key record) for a new RSA-2048 key."""
    with tempfile.TemporaryDirectory() as d:
        pem = os.path.join(d, "key.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                        "-out", pem], check=True, capture_output=True)
        der = subprocess.run(["openssl", "pkey", "-in", pem, "-pubout", "-outform", "DER"],
                             check=True, capture_output=True).stdout
        with open(pem, "rb") as f:
            private = f.read()
    return private, b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def ed25519_key():
    """(base64 seed, dkimpy's private key format; key record) for a new Ed25519 key."""
    sk = nacl.signing.SigningKey.generate()
    return base64.b64encode(bytes(sk)), b"v=DKIM1; k=ed25519; p=" + base64.b64encode(bytes(sk.verify_key))


def rate(fn, seconds):
    fn()  # warm-up (imports, caches)
    n = 0
    start = time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed, n


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    keys = [("rsa-2048", b"rsa-sha256", *rsa_key()), ("ed25519", b"ed25519-sha256", *ed25519_key())]
    for key_name, algorithm, private, record in keys:
        def dnsfunc(name, timeout=5, record=record):
            return record if name == b"bench._domainkey.example.org." else None
        for size_name, size in SIZES:
            message = make_message(size)
            field = dkim.sign(message, b"bench", b"example.org", private, signature_algorithm=algorithm,
                              canonicalize=(b"relaxed", b"relaxed"), include_headers=SIGNED_HEADERS)
            signed = field + message
            if not dkim.verify(signed, dnsfunc=dnsfunc):
                sys.exit(f"dkimpy did not verify its own {key_name} {size_name} signature")
            per_s, n = rate(lambda: dkim.verify(signed, dnsfunc=dnsfunc), seconds)
            print(f"dkim_verify/{key_name}/{size_name} {per_s:.1f} {n}", flush=True)


if __name__ == "__main__":
    main()
