"""A page on ANOTHER origin calling the API in headless Chromium (Debian's, driven by
Playwright), as a frontend's dev server or site does: the browser makes its preflights and
enforces CORS itself. From an allowed origin (another port of 127.0.0.1): a fetch with a token,
a deduct with an Idempotency-Key whose replay's `Idempotent-Replayed` header the page can read,
a 402 read with its upgrade options, a 401 read. From an origin not allowed (127.0.0.2): the
browser refuses to hand the answer over.

Usage: cors_test.py BASE_URL TOKEN  (TOKEN: a token for a user with no history)
"""

import functools
import http.server
import socket
import sys
import tempfile
import threading
import uuid

from playwright.sync_api import sync_playwright

from page_test import CHROMIUM_FLAGS, chromium

passed = 0
failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok     {name}")
    else:
        failed += 1
        print(f"FAILED {name}: {detail}")


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve_page(host):
    """A blank page on host:<free port>, served from a thread; returns its origin."""
    root = tempfile.mkdtemp(prefix="cors-page-")
    with open(f"{root}/index.html", "w") as f:
        f.write("<!doctype html><title>Another origin</title><p>Another origin</p>")
    with socket.socket() as s:
        s.bind((host, 0))
        port = s.getsockname()[1]
    handler = functools.partial(Quiet, directory=root)
    server = http.server.ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://{host}:{port}"


# Runs in the page: every call a frontend makes, returning what the page could read.
CALLS = """async ([base, token, key]) => {
  const auth = {Authorization: `Bearer ${token}`};
  const read = async (r) => ({status: r.status, body: await r.json(),
                              replayed: r.headers.get("Idempotent-Replayed")});
  const deduct = (k, amount) => fetch(`${base}/credits/deduct`, {
    method: "POST",
    headers: {...auth, "Content-Type": "application/json", "Idempotency-Key": k},
    body: JSON.stringify({amount}),
  }).then(read);
  return {
    balance: await fetch(`${base}/credits/balance`, {headers: auth}).then(read),
    first: await deduct(key, 2),
    replay: await deduct(key, 2),
    refused: await deduct(key + "-big", 50),
    anonymous: await fetch(`${base}/credits/balance`).then(read),
  };
}"""

REFUSED = """async (base) => {
  try { await fetch(`${base}/credits/plans`); return "read"; }
  catch (e) { return `refused: ${e.name}`; }
}"""


def main():
    base, token = sys.argv[1], sys.argv[2]
    allowed = serve_page("127.0.0.1")
    other = serve_page("127.0.0.2")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page()
        try:
            page.goto(allowed + "/index.html")
            check("the page is on another origin than the API", allowed != base, allowed)
            r = page.evaluate(CALLS, [base, token, f"cors-{uuid.uuid4().hex[:8]}"])
            check("a fetch with a token reads the balance",
                  r["balance"]["status"] == 200 and r["balance"]["body"].get("balance") == 5, r["balance"])
            check("a deduct with an Idempotency-Key", r["first"]["status"] == 200
                  and r["first"]["body"].get("deducted") == 2 and r["first"]["replayed"] is None, r["first"])
            check("its replay: the page reads Idempotent-Replayed: true",
                  r["replay"]["status"] == 200 and r["replay"]["replayed"] == "true", r["replay"])
            body = r["refused"]["body"]
            check("a 402 is readable, with its upgrade options",
                  r["refused"]["status"] == 402 and body.get("error", {}).get("code") == "insufficient_credits"
                  and len(body.get("upgrade_options", [])) == 3, r["refused"])
            check("a 401 is readable", r["anonymous"]["status"] == 401
                  and r["anonymous"]["body"]["error"]["code"] == "unauthorized", r["anonymous"])
            page.goto(other + "/index.html")
            outcome = page.evaluate(REFUSED, base)
            check("an origin not allowed cannot read an answer", outcome.startswith("refused"), outcome)
        finally:
            browser.close()
    print(f"cors: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
