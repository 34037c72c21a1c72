"""A threading HTTP/1.1 server for the request-capture tests: fixed routes
with known statuses, bodies and framings (keep-alive, chunked, HEAD, 204,
304, 404, 500). Usage: http_app.py PORT"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class App(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def body(self, status, data=b"ok\n", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        p = self.path.split("?")[0]
        if p == "/ok":
            self.body(200)
        elif p.startswith("/users/"):
            self.body(200, b'{"user": 1}\n')
        elif p == "/empty":
            self.send_response(204)
            self.end_headers()
        elif p == "/cached":
            self.send_response(304)
            self.end_headers()
        elif p == "/fail":
            self.body(500, b"boom\n")
        elif p == "/hit":
            self.body(200, b"h\n", [("X-Cache", "HIT")])
        elif p == "/miss":
            self.body(200, b"m\n", [("X-Cache", "MISS")])
        elif p == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"hello ", b"chunked ", b"world\n"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.body(404, b"not found\n")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(n)
        self.body(201, b"%d\n" % len(data))


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), App).serve_forever()
