#!/usr/bin/env python3
"""clientview.py FILE...: what mail clients find in each message.

For each file, one JSON line: {"file": FILE, "readers": {READER: [[TYPE,
[NAME, ...]], ...]}} with one entry per leaf part (depth first) and every
file name the reader takes from it (the Content-Disposition filename and
the Content-Type name, encoded words and RFC 2231 decoded). Two readers:
Python's email package with the compat32 policy (what most Python mail
tools use) and with the default policy (the modern header parser). Used by
integration/conformance TestBrokenMIME as a reader independent of MIME-tools and
of md-worker; a reader that fails on a message reports {"error": ...}.
"""
import email
import email.header
import email.policy
import email.utils
import json
import sys


def decode(v):
    if v is None:
        return None
    if isinstance(v, tuple):
        v = email.utils.collapse_rfc2231_value(v)
    v = str(v)
    if "=?" in v:
        try:
            v = str(email.header.make_header(email.header.decode_header(v)))
        except Exception:
            pass
    return v


def names(part):
    out = []
    for get in (lambda: part.get_filename(),
                lambda: part.get_param("name"),
                lambda: part.get_param("filename", header="content-disposition")):
        try:
            v = decode(get())
        except Exception:
            v = None
        if v is not None and v not in out:
            out.append(v)
    return out


def view(data, policy):
    msg = email.message_from_bytes(data, policy=policy)
    leaves = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        leaves.append([part.get_content_type(), names(part)])
    return leaves


def main():
    for path in sys.argv[1:]:
        with open(path, "rb") as f:
            data = f.read()
        readers = {}
        for name, policy in (("python-compat32", email.policy.compat32), ("python-default", email.policy.default)):
            try:
                readers[name] = view(data, policy)
            except Exception as e:
                readers[name] = {"error": "%s: %s" % (type(e).__name__, e)}
        print(json.dumps({"file": path, "readers": readers}, sort_keys=True))


if __name__ == "__main__":
    main()
