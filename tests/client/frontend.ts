// What a frontend does with a client generated from infra/openapi.json by tools nobody here
// wrote (openapi-typescript's default output + openapi-fetch), type-checked with
// `tsc --strict` and run against the stack by scripts/contract-check:
//   node out/frontend.js BASE_URL   (FRONTEND_TOKEN: a token for a user with no history)
// Each step checks what the contract promises; the first that does not hold fails the run.
import createClient from "openapi-fetch";
import type { components, paths } from "./api.js";

type Schemas = components["schemas"];
// The two Node globals the program reads (no @types/node for so little).
declare const process: { argv: string[]; env: Record<string, string | undefined> };

/** Narrows an error body by its `code`: each named error schema fixes `error.code` to one
 *  value, so the check tells which fields are there (the 402's `upgrade_options`...). */
function hasCode<E extends { error: { code: string } }, C extends string>(
  body: E,
  code: C,
): body is Extract<E, { error: { code: C } }> {
  return body.error.code === code;
}

let steps = 0;
function check(condition: boolean, what: string, detail?: unknown): asserts condition {
  if (!condition) {
    throw new Error(`${what}${detail === undefined ? "" : `: ${JSON.stringify(detail)}`}`);
  }
  steps += 1;
  console.log(`pass  ${what}`);
}

const base = process.argv[2];
const token = process.env.FRONTEND_TOKEN;
if (!base || !token) {
  throw new Error("usage: FRONTEND_TOKEN=... node out/frontend.js BASE_URL");
}
const api = createClient<paths>({ baseUrl: base, headers: { Authorization: `Bearer ${token}` } });
const anonymous = createClient<paths>({ baseUrl: base });

// Pricing cards: public, no token.
const plans = await anonymous.GET("/credits/plans");
check(plans.data !== undefined, "plans", plans.error);
const free: Schemas["PlanView"] | undefined = plans.data.plans.find((p) => p.id === "free");
check(free?.monthly_credits === 5, "plans: Free gives 5 credits a month", plans.data);

// The header of the app: the balance.
const balance = await api.GET("/credits/balance");
check(balance.data?.balance === 5, "balance: a new user has 5", balance.data ?? balance.error);
const user = balance.data.user_id;

// Spend with an Idempotency-Key; a retry of the same request replays the answer.
const key = `frontend-${Date.now()}`;
const spend = () =>
  api.POST("/credits/deduct", {
    params: { header: { "Idempotency-Key": key } },
    body: { amount: 2, reason: "export" },
  });
const first = await spend();
check(first.data?.deducted === 2 && first.data.balance === 3, "deduct 2", first.data ?? first.error);
check(first.response.headers.get("Idempotent-Replayed") === null, "deduct: not a replay");
const replay = await spend();
check(
  replay.data?.transaction_id === first.data.transaction_id,
  "deduct again, same key: the same answer",
  replay.data ?? replay.error,
);
check(replay.response.headers.get("Idempotent-Replayed") === "true", "deduct again: Idempotent-Replayed");

// Too much: a 402 whose upgrade options the code check reaches.
const tooMuch = await api.POST("/credits/deduct", {
  params: { header: { "Idempotency-Key": `${key}-big` } },
  body: { amount: 10 },
});
check(tooMuch.response.status === 402 && tooMuch.error !== undefined, "deduct 10: 402", tooMuch.error);
const refusal = tooMuch.error;
if (!hasCode(refusal, "insufficient_credits")) {
  throw new Error(`402 without insufficient_credits: ${JSON.stringify(refusal)}`);
}
const upgrades: Schemas["PlanView"][] = refusal.upgrade_options;
check(upgrades.length > 0 && refusal.required === 10 && refusal.balance === 3, "402: upgrade options", refusal);
const packages = refusal.purchase_options ?? [];
check(Array.isArray(packages), "402: purchase options (v1) or none (v2)");

// A hold without ttl_seconds (optional: 900 s when absent), then commit part of it.
const hold = await api.POST("/credits/holds", {
  params: { header: { "Idempotency-Key": `${key}-hold` } },
  body: { amount: 2 },
});
check(hold.response.status === 201 && hold.data !== undefined, "hold 2 without ttl_seconds", hold.error);
const lasts = (Date.parse(hold.data.expires_at) - Date.now()) / 1000;
check(lasts > 800 && lasts <= 900, "hold: 900 s by default", hold.data.expires_at);
check(hold.data.balance === 1 && hold.data.held === 2, "hold: 2 held, 1 spendable", hold.data);
const id = hold.data.hold_id;
const commit = await api.POST("/credits/holds/{id}/commit", {
  params: { path: { id } },
  body: { amount: 1 },
});
check(commit.data?.deducted === 1 && commit.data.released === 1, "commit 1 of 2", commit.data ?? commit.error);
const again = await api.DELETE("/credits/holds/{id}", { params: { path: { id } } });
const closed = again.error;
check(closed !== undefined && hasCode(closed, "hold_closed"), "release after commit: 409 hold_closed", closed);
check(closed.hold.outcome === "committed" && closed.hold.committed === 1, "409: the hold's record", closed);

// The history, page by page, as a list with "more" does it.
const seen: Schemas["EntryView"][] = [];
let cursor: string | undefined;
for (let page = 0; page < 20; page += 1) {
  const r = await api.GET("/credits/transactions", { params: { query: { limit: 2, cursor } } });
  check(r.data !== undefined && r.data.items.length <= 2, `transactions page ${page + 1}`, r.error);
  seen.push(...r.data.items);
  if (r.data.next_cursor === null || r.data.next_cursor === undefined) {
    cursor = undefined;
    break;
  }
  cursor = r.data.next_cursor;
}
check(cursor === undefined, "transactions: the last page says so");
const all = await api.GET("/credits/transactions", { params: { query: { limit: 100 } } });
check(
  JSON.stringify(seen.map((e) => e.id)) === JSON.stringify(all.data?.items.map((e) => e.id)),
  "transactions: the pages together are the whole history, newest first",
  { pages: seen.map((e) => e.id), whole: all.data?.items.map((e) => e.id) },
);
const kinds = seen.map((e) => e.type).reverse().join(",");
check(kinds === "grant,deduct,hold,deduct,release", "transactions: grant, deduct, hold, commit, release", kinds);
const total = seen.reduce((sum, e) => sum + e.amount, 0);
check(total === 2, "transactions: the amounts add up to the balance", total);

// Without a token: the contract's 401, read through the same error type.
const anon = await anonymous.GET("/credits/balance");
check(anon.error?.error.code === "unauthorized", "no token: 401 unauthorized", anon.error);

console.log(`(user ${user})`);
console.log(`frontend: ${steps} passed, 0 failed`);
