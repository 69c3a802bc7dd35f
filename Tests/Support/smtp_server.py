#!/usr/bin/python3
"""A real SMTP server for tests (Debian's python3-aiosmtpd): STARTTLS required (or, with --implicit-tls, TLS
from the first byte), AUTH PLAIN/LOGIN required after it (--only-auth LOGIN offers just that one), one user.
Each accepted message records the AUTH mechanism the client used. Recipients choose the behaviour:
  tempfail-once@...  answered 451 the first time, accepted after that
  reject@...         answered 550
  anything else      accepted
Each accepted message is written to OUTDIR/<n>.eml. Prints "READY <port>" when listening.
usage: smtp_server.py PORT CERT KEY OUTDIR USER PASSWORD [--implicit-tls] [--only-auth MECHANISM]
"""
import asyncio
import os
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

port, cert, key, outdir, user, password = sys.argv[1:7]
options = sys.argv[7:]
implicit_tls = "--implicit-tls" in options
only_auth = options[options.index("--only-auth") + 1].upper() if "--only-auth" in options else None
seen_tempfail = set()


class Handler:
    def __init__(self):
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0].lower()
        if local == "reject":
            return "550 5.1.1 No such user here"
        if local == "tempfail-once" and address not in seen_tempfail:
            seen_tempfail.add(address)
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        path = os.path.join(outdir, f"{self.count}.eml")
        with open(path + ".tmp", "wb") as f:
            f.write(f"X-Test-Envelope-From: {envelope.mail_from}\r\n".encode())
            f.write(f"X-Test-Envelope-To: {','.join(envelope.rcpt_tos)}\r\n".encode())
            f.write(f"X-Test-Auth-Mechanism: {getattr(session, 'test_mechanism', '')}\r\n".encode())
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        return "250 Message accepted"


def authenticate(server, session, envelope, mechanism, auth_data):
    if isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user and auth_data.password.decode() == password:
        session.test_mechanism = mechanism
        return AuthResult(success=True)
    return AuthResult(success=False, handled=False)


context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)
excluded = [m for m in ("PLAIN", "LOGIN") if only_auth and m != only_auth]
if implicit_tls:
    # The whole connection is TLS, which aiosmtpd's STARTTLS bookkeeping does not see: AUTH is allowed at once.
    controller = Controller(
        Handler(), hostname="127.0.0.1", port=int(port), ssl_context=context,
        authenticator=authenticate, auth_required=True, auth_require_tls=False, auth_exclude_mechanism=excluded)
else:
    controller = Controller(
        Handler(), hostname="127.0.0.1", port=int(port), tls_context=context, require_starttls=True,
        authenticator=authenticate, auth_required=True, auth_require_tls=True, auth_exclude_mechanism=excluded)
controller.start()
print(f"READY {controller.port}", flush=True)
try:
    asyncio.get_event_loop().run_forever()
except KeyboardInterrupt:
    pass
finally:
    controller.stop()
