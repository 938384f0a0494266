#!/usr/bin/python3
"""dkimpy's ARC verifier (Debian's python3-dkim) for
integration/arc_test.go, asking the test's name server for the keys.
Usage: arcpy.py PORT FILE...; prints, per file, the chain validation
status (pass, fail, none) and the reason."""
import sys

import dkim
import dns.resolver

port = int(sys.argv[1])
resolver = dns.resolver.Resolver(configure=False)
resolver.nameservers = ["127.0.0.1"]
resolver.port = port


def dnsfunc(name, timeout=5):
    try:
        answer = resolver.resolve(name.decode().rstrip("."), "TXT", lifetime=timeout)
    except Exception:
        return None
    for rr in answer:
        return b"".join(rr.strings)
    return None


for path in sys.argv[2:]:
    msg = open(path, "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    cv, results, reason = dkim.arc_verify(msg, dnsfunc=dnsfunc)
    print(cv.decode(), reason)
