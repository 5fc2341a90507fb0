"""A webhook for the browser suite's subscription: answers Graph's validation handshake (the token echoed as
text/plain) and accepts notifications with 202. Usage: webhook.py PORT."""
import http.server
import sys
import urllib.parse


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        token = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query).get("validationToken")
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = token[0].encode() if token else b""
        self.send_response(200 if token else 202)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Hook).serve_forever()
