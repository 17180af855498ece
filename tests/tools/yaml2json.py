#!/usr/bin/env python3
"""Convert a YAML stream (one or more documents) into one JSON array, for C++ test loaders.

Used at build time for test suites kept as YAML exactly as published upstream (for example the
RFC 7208 SPF suite in tests/data/auth/spf/): the YAML is never edited, the JSON is a build
product. Needs Python 3 + PyYAML (Debian: python3-yaml, installed by `scripts/install-deps --test`).

Usage: yaml2json.py INPUT.yml OUTPUT.json

Output: a JSON array with one element per YAML document, keys in document order, ASCII only
(non-ASCII characters and control characters are written as \\uXXXX escapes, so a YAML "\\xEF"
arrives as U+00EF and a "\\0" as U+0000). Values JSON cannot hold (dates, sets) fail loudly.
Must not: modify the input, or leave a half-written output (it writes a temp file, then renames).
"""
import json
import os
import sys
import tempfile


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: yaml2json.py INPUT.yml OUTPUT.json\n")
        return 2
    try:
        import yaml
    except ImportError:
        sys.stderr.write("yaml2json.py: PyYAML is missing; install the Debian package python3-yaml "
                         "(scripts/install-deps --test)\n")
        return 1
    src, dst = argv[1], argv[2]
    with open(src, "rb") as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    text = json.dumps(docs, ensure_ascii=True, indent=1)
    out_dir = os.path.dirname(os.path.abspath(dst))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".yaml2json-", dir=out_dir)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(text)
            f.write("\n")
        os.replace(tmp, dst)
    except BaseException:
        os.unlink(tmp)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
