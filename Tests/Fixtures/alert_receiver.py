#!/usr/bin/env python3
"""Alert receivers for Sundial's tests: an HTTP server for webhooks and, with --smtp, a mail
server that insists on STARTTLS and a login (aiosmtpd). Everything received is appended to --out
as JSON lines; once both listen, one line {"http": PORT, "smtp": PORT} goes to stdout.

HTTP paths choose the answer: /ok → 200, /status/NNN → NNN, /flaky/N/... → 503 for the first N
requests to that path, then 200.
"""
import argparse, base64, json, os, socket, ssl, subprocess, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
seen = {}


def record(out, entry):
    with lock, open(out, "a") as f:
        f.write(json.dumps(entry) + "\n")


def http_server(out):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            parts = self.path.strip("/").split("/")
            status = 200
            if parts[0] == "status":
                status = int(parts[1])
            elif parts[0] == "flaky":
                with lock:
                    seen[self.path] = seen.get(self.path, 0) + 1
                    status = 503 if seen[self.path] <= int(parts[1]) else 200
            record(out, {"kind": "http", "path": self.path, "status": status,
                         "headers": {k.lower(): v for k, v in self.headers.items()},
                         "body": base64.b64encode(body).decode()})
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def smtp_server(out, certs):
    import logging
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)  # refused handshakes are expected
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    key, cert = os.path.join(certs, "key.pem"), os.path.join(certs, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            record(out, {"kind": "smtp", "from": envelope.mail_from, "to": envelope.rcpt_tos,
                         "tls": session.ssl is not None, "login": login(session),
                         "data": envelope.content.decode("utf-8", "replace")})
            return "250 OK"

    def login(session):
        data = getattr(session, "auth_data", None)
        name = getattr(data, "login", None)
        return name.decode() if isinstance(name, bytes) else name

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"sundial" and auth_data.password == b"s3cret"
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, tls_context=context,
                            require_starttls=True, auth_required=True, auth_require_tls=True,
                            authenticator=authenticate)
    controller.start()
    return port, cert


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--smtp-certs")
    args = parser.parse_args()
    ready = {"http": http_server(args.out)}
    if args.smtp_certs:
        ready["smtp"], ready["cert"] = smtp_server(args.out, args.smtp_certs)
    print(json.dumps(ready), flush=True)
    sys.stdin.read()  # until the test closes our stdin (or dies)


if __name__ == "__main__":
    main()
