"""The reference page in headless Chromium (Debian's), driven by Playwright, against a running
local stack: sign in, spend to zero, see the insufficient-credits dialog with purchase options
(v1), switch the flag to v2 in the emulator and see them disappear; each pricing card's preview
of a plan change (upgrades as a Free user, then the caps of downgrades once a signed Stripe event
has moved the user to Pro Yearly); on a phone-sized screen too.

Usage: page_test.py BASE_URL SCREENSHOT_DIR  (the stack's emulator and parameter prefix come from
AWS_ENDPOINT_URL and CREDITS_PARAMETER_PREFIX; CREDITS_FLAG_TTL_SECONDS says how long to wait
for a flag change to take effect; STRIPE_WEBHOOK_SECRET, default whsec_local, signs the event).
"""

import email.utils
import hashlib
import hmac
import json
import os
import shutil
import sys
import time
import urllib.request
import uuid

import boto3
from playwright.sync_api import expect, sync_playwright

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

passed = 0
failed = 0


def check(name, fn):
    global passed, failed
    try:
        fn()
        passed += 1
        print(f"ok     {name}")
    except Exception as e:  # report every failing step, then fail the run
        failed += 1
        print(f"FAILED {name}: {e}")
        raise


def chromium():
    for path in ("/usr/lib/chromium/chromium", "/usr/bin/chromium"):
        if os.path.exists(path):
            return path
    found = shutil.which("chromium")
    if not found:
        sys.exit("page_test: Debian's chromium is not installed (scripts/ensure-chromium)")
    return found


def set_version(version):
    ssm = boto3.client("ssm", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    prefix = os.environ.get("CREDITS_PARAMETER_PREFIX", "/credits")
    ssm.put_parameter(Name=f"{prefix}/system-version", Value=version, Type="String", Overwrite=True)


def request(base, method, path, body=None, headers=None):
    data = None if body is None else body.encode()
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(req) as res:
        return res.headers, json.loads(res.read())


def api_preview(base, user, plan):
    """The API's own answer for the preview a card shows."""
    _, t = request(base, "POST", "/local/token", json.dumps({"user_id": user}))
    _, v = request(base, "GET", f"/credits/preview?plan={plan}", headers={"Authorization": "Bearer " + t["token"]})
    return v


def card_text(v):
    """What the page must say for a preview answer."""
    if v["change"] == "upgrade":
        return f"upgrade now: +{v['granted']} credits this month"
    if v["capped"] > 0:
        return f"downgrade now: -{v['capped']} credits this month"
    return "downgrade now: no credits removed this month"


def subscribe(base, user, price):
    """Stripe tells the stack that `user` subscribed to `price`, signed at the stack's time (its
    Date header: the stack may run on a faked clock)."""
    headers, _ = request(base, "GET", "/credits/plans")
    now = int(email.utils.parsedate_to_datetime(headers["Date"]).timestamp())
    sub = {"id": f"sub_{user}", "object": "subscription", "customer": f"cus_{user}", "status": "active",
           "metadata": {"user_id": user}, "items": {"data": [{"price": {"id": price}}]}}
    body = json.dumps({"id": f"evt_{user}", "object": "event", "api_version": "2026-07-29.dahlia",
                       "created": now, "type": "customer.subscription.created", "data": {"object": sub}})
    secret = os.environ.get("STRIPE_WEBHOOK_SECRET", "whsec_local")
    mac = hmac.new(secret.encode(), f"{now}.{body}".encode(), hashlib.sha256).hexdigest()
    _, answer = request(base, "POST", "/webhook/stripe", body,
                        {"Content-Type": "application/json", "Stripe-Signature": f"t={now},v1={mac}"})
    assert answer.get("outcome") == "applied", answer


def main():
    base, shots = sys.argv[1], sys.argv[2]
    os.makedirs(shots, exist_ok=True)
    flag_ttl = float(os.environ.get("CREDITS_FLAG_TTL_SECONDS", "30"))
    user = f"page-{uuid.uuid4().hex[:8]}"

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(base + "/")
        balance = page.get_by_role("region", name="Balance")
        dialog = page.get_by_role("dialog", name="Not enough credits")
        use = page.get_by_role("button", name="Use 1 credit")
        plans = page.get_by_role("list", name="Plans")
        packages = page.get_by_role("list", name="Credit packages")

        def signs_in():
            expect(use).to_be_disabled()
            page.get_by_label("User id").fill(user)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("status").first).to_have_text(f"Signed in as {user}.")
            expect(balance.locator("#spendable")).to_have_text("5")
            expect(balance).to_contain_text("Free")
            expect(balance).to_contain_text("v1")
            assert "token" not in page.url and user not in page.url, page.url

        def shows_pricing_cards_with_the_current_plan():
            expect(plans.get_by_role("listitem")).to_have_count(4)
            current = plans.locator('[aria-current="true"]')
            expect(current).to_have_count(1)
            expect(current).to_contain_text("Free")
            expect(current).to_contain_text("5 credits / month")
            expect(plans).to_contain_text("Lifetime")
            expect(plans).to_contain_text("500 credits / month")
            expect(packages.get_by_role("listitem")).to_have_count(4)

        def card(plan):
            return plans.locator(f'li[data-plan="{plan}"]')

        def each_other_card_previews_its_upgrade():
            for plan in ("pro_monthly", "pro_yearly", "lifetime"):
                v = api_preview(base, user, plan)
                assert v["change"] == "upgrade", v
                expect(card(plan)).to_contain_text(f"upgrade now: +{v['granted']} credits this month")
            expect(card("free").locator(".preview")).to_have_count(0)

        def after_an_upgrade_the_cards_preview_the_downgrades_caps():
            subscribe(base, user, "price_pro_yearly")
            page.get_by_role("button", name="Sign in").click()
            expect(balance.locator("#plan")).to_have_text("Pro Yearly")
            expect(plans.locator('[aria-current="true"]')).to_contain_text("Pro Yearly")
            expect(card("pro_yearly").locator(".preview")).to_have_count(0)
            for plan, change in (("free", "downgrade"), ("pro_monthly", "downgrade"), ("lifetime", "upgrade")):
                v = api_preview(base, user, plan)
                assert v["change"] == change, v
                expect(card(plan).locator(".preview")).to_have_text(card_text(v))
            page.screenshot(path=os.path.join(shots, "page-previews.png"))

        def spends_to_zero():
            for left in range(4, -1, -1):
                use.click()
                expect(balance.locator("#spendable")).to_have_text(str(left))
            expect(balance.locator("#remaining")).to_have_text("0")

        def the_dialog_offers_upgrades_and_purchases_in_v1():
            use.click()
            expect(dialog).to_be_visible()
            expect(dialog).to_contain_text("This needs 1 credit; you have 0.")
            expect(dialog.get_by_role("list", name="Upgrade your plan").get_by_role("listitem")).to_have_count(3)
            purchases = dialog.get_by_role("list", name="Or buy credits")
            expect(purchases.get_by_role("listitem")).to_have_count(4)
            expect(purchases).to_contain_text("Basic: 100 credits")
            page.screenshot(path=os.path.join(shots, "page-v1-dialog.png"))
            dialog.get_by_role("button", name="Close").click()
            expect(dialog).to_be_hidden()

        def v2_offers_no_purchases():
            set_version("v2")
            time.sleep(flag_ttl + 0.5)
            use.click()
            expect(dialog).to_be_visible()
            expect(dialog.get_by_role("list", name="Upgrade your plan").get_by_role("listitem")).to_have_count(3)
            expect(dialog.get_by_role("list", name="Or buy credits")).to_be_hidden()
            expect(dialog).not_to_contain_text("Basic")
            expect(balance.locator("#version")).to_have_text("v2")
            expect(packages).to_be_hidden()
            page.screenshot(path=os.path.join(shots, "page-v2-dialog.png"))
            dialog.get_by_role("button", name="Close").click()

        def readable_on_a_phone():
            page.set_viewport_size({"width": 375, "height": 740})
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{overflow}px of horizontal scroll"
            font = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
            assert font >= 16, f"body font {font}px"
            box = use.bounding_box()
            assert box and box["height"] >= 44, f"tap target {box}"
            page.screenshot(path=os.path.join(shots, "page-phone.png"), full_page=True)

        try:
            check("signs in with a user id; the token stays out of the URL", signs_in)
            check("pricing cards: every plan's monthly credits, the current plan marked", shows_pricing_cards_with_the_current_plan)
            check("signed in, each other plan's card previews the upgrade", each_other_card_previews_its_upgrade)
            check("Use 1 credit spends to zero", spends_to_zero)
            check("402: the dialog shows upgrade and purchase options (v1)", the_dialog_offers_upgrades_and_purchases_in_v1)
            check("after the switch to v2: upgrade options only", v2_offers_no_purchases)
            check("on Pro Yearly: the cards preview the downgrades' caps and the upgrade", after_an_upgrade_the_cards_preview_the_downgrades_caps)
            check("readable on a phone-sized screen", readable_on_a_phone)
        except Exception:
            page.screenshot(path=os.path.join(shots, "page-failure.png"), full_page=True)
        finally:
            set_version("v1")
            browser.close()

    print(f"browser: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
