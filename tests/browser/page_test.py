"""The reference page in headless Chromium (Debian's), driven by Playwright, against a running
local stack: sign in, spend to zero, see the insufficient-credits dialog with purchase options
(v1), switch the flag to v2 in the emulator and see them disappear; on a phone-sized screen too.

Usage: page_test.py BASE_URL SCREENSHOT_DIR  (the stack's emulator and parameter prefix come from
AWS_ENDPOINT_URL and CREDITS_PARAMETER_PREFIX; CREDITS_FLAG_TTL_SECONDS says how long to wait
for a flag change to take effect).
"""

import os
import shutil
import sys
import time
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
            check("Use 1 credit spends to zero", spends_to_zero)
            check("402: the dialog shows upgrade and purchase options (v1)", the_dialog_offers_upgrades_and_purchases_in_v1)
            check("after the switch to v2: upgrade options only", v2_offers_no_purchases)
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
