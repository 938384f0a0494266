#!/usr/bin/python3
"""dkimpy (Debian's python3-dkim) for integration/dkim_test.go, the
independent implementation for Ed25519, which Debian's Mail::DKIM lacks.
Usage:
  dkimpy.py sign KEYFILE SELECTOR DOMAIN FILE   prints the DKIM-Signature line
  dkimpy.py verify KEYTXT FILE                  prints pass or fail
KEYFILE holds the base64 Ed25519 seed; KEYTXT is the key's DNS record."""
import sys
import dkim

cmd = sys.argv[1]
if cmd == "sign":
    key, sel, dom, path = sys.argv[2:6]
    msg = open(path, "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    sig = dkim.sign(msg, sel.encode(), dom.encode(), open(key, "rb").read().strip(),
                    signature_algorithm=b"ed25519-sha256", include_headers=[b"from", b"to", b"subject"])
    sys.stdout.write(sig.decode().replace("\r\n", "\n"))
elif cmd == "verify":
    txt, path = sys.argv[2:4]
    msg = open(path, "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    ok = dkim.verify(msg, dnsfunc=lambda name, timeout=5: txt.encode())
    print("pass" if ok else "fail")
