"""The docs' own examples, run against a running stack, so that the docs cannot drift from the
product: every ```sh block of the README's tour and of docs/api.md, and the curl examples of the
stack's start-up banner; and every relative link of the README and docs/ resolves in the clone. Each command runs as written (in one shell session, so `export`s carry on),
with `localhost:3000` replaced by the stack's address; each answer is compared by shape with the
`# ...` comment under its command: the status when the comment starts with one (else any 2xx),
the keys of every object (`...` allows more; `...balance view...` stands for the balance view's
keys), the type of every value. Commands other than `curl` and variable assignments (`stripe
listen`, `aws ...`, starting the stack) are not run.

Usage: readme_test.py BASE_URL STACK_LOG  (STACK_LOG: scripts/stack's output, whose banner is
checked too). Runs from the repository root (the commands name target/debug/...).
"""

import json
import os
import re
import subprocess
import sys

# The files whose examples run, and their sections (None: every section).
DOCS = {
    "README.md": ["## A short tour"],
    "docs/api.md": None,
}
LINKED = ["README.md", "docs/api.md", "docs/rules.md", "docs/operations.md",
          "docs/architecture.md", "docs/testing.md", "BENCHMARKS.md"]
NAMED = {
    "balance view": {"user_id", "plan", "period", "balance", "monthly", "purchased", "held", "version"},
}
# `NAME=value` or `export NAME=$(...)` alone on its line (its comment removed first).
ASSIGNMENT = re.compile(r"^(export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(\$\(.*\)|\"[^\"]*\"|\S+)$")

passed = 0
failed = 0


class Open(dict):
    """An object shown with `...`: the answer may have more keys."""

    named = ()


def parse(text):
    """The lenient JSON of the README's comments: `...` marks more, `...name...` a named shape."""
    pos = 0

    def ws():
        nonlocal pos
        while pos < len(text) and text[pos] in " \t\n":
            pos += 1

    def ellipsis():
        nonlocal pos
        if not text.startswith("...", pos):
            return None
        pos += 3
        m = re.match(r"([a-z ]+)\.\.\.", text[pos:])
        if m:
            pos += m.end()
            return m.group(1).strip()
        return ""

    def value():
        nonlocal pos
        ws()
        c = text[pos]
        if c == "{":
            pos += 1
            obj, is_open, named = {}, False, []
            while True:
                ws()
                if text[pos] == "}":
                    pos += 1
                    break
                more = ellipsis()
                if more is not None:
                    is_open = True
                    if more:
                        named.append(more)
                else:
                    key = json.loads(string())
                    ws()
                    assert text[pos] == ":", f"expected : at {text[pos:pos + 20]!r}"
                    pos += 1
                    obj[key] = value()
                ws()
                if text[pos] == ",":
                    pos += 1
            if is_open:
                out = Open(obj)
                out.named = tuple(named)
                return out
            return obj
        if c == "[":
            pos += 1
            items = []
            while True:
                ws()
                if text[pos] == "]":
                    pos += 1
                    return items
                if ellipsis() is None:
                    items.append(value())
                ws()
                if text[pos] == ",":
                    pos += 1
        if c == '"':
            return json.loads(string())
        m = re.match(r"-?[0-9][0-9.eE+-]*|true|false|null", text[pos:])
        assert m, f"cannot read {text[pos:pos + 20]!r}"
        pos += m.end()
        return json.loads(m.group(0))

    def string():
        nonlocal pos
        m = re.match(r'"(?:[^"\\]|\\.)*"', text[pos:])
        assert m, f"expected a string at {text[pos:pos + 20]!r}"
        pos += m.end()
        return m.group(0)

    return value()


def kind(v):
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    return type(v).__name__


def differences(expected, actual, path="$"):
    """Where `actual` does not have `expected`'s shape."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {json.dumps(actual)[:80]}"]
        out = []
        for name in getattr(expected, "named", ()):
            missing = NAMED[name] - actual.keys()
            out += [f"{path}: no {k} (of the {name})" for k in sorted(missing)]
        for k, v in expected.items():
            if k not in actual:
                out.append(f"{path}: no {k}")
            else:
                out += differences(v, actual[k], f"{path}.{k}")
        if not isinstance(expected, Open):
            out += [f"{path}: unexpected {k}" for k in sorted(actual.keys() - expected.keys())]
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: expected a list, got {json.dumps(actual)[:80]}"]
        if expected and not actual:
            return [f"{path}: empty"]
        return differences(expected[0], actual[0], f"{path}[0]") if expected else []
    if kind(expected) != kind(actual):
        return [f"{path}: expected a {kind(expected)}, got {json.dumps(actual)}"]
    return []


def expectation(comment):
    """(status or None, shape or None) from the comment lines under a command."""
    text = " ".join(line.lstrip("#").strip() for line in comment)
    status = None
    m = re.match(r"(\d{3})\s+", text)
    if m:
        status, text = int(m.group(1)), text[m.end():]
    if not text.startswith("{"):
        return status, None
    return status, parse(text)


def commands(lines):
    """(command, comment lines under it) of a block, continuation lines joined."""
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        while line.rstrip().endswith("\\") and i < len(lines):
            line = line.rstrip()[:-1] + " " + lines[i].strip()
            i += 1
        comment = []
        while i < len(lines) and lines[i].lstrip().startswith("#"):
            comment.append(lines[i])
            i += 1
        out.append((line.strip(), comment))
    return out


def doc_examples(path, sections):
    """{section: [(command, comment)]} for the checked sections of one file."""
    found = {s: [] for s in sections} if sections else {}
    section, block = None, None
    for line in open(path).read().splitlines():
        if line.startswith("## "):
            if sections is None:
                section = line
                found.setdefault(section, [])
            else:
                section = next((s for s in sections if line.startswith(s)), None)
        elif line.startswith("```sh") and section:
            block = []
        elif line.startswith("```") and block is not None:
            found[section] += commands(block)
            block = None
        elif block is not None:
            block.append(line)
    return found


def banner_examples(log):
    """The banner's export and curl lines, as printed by `credits-local serve`."""
    lines = [line for line in open(log).read().splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("A token for user"))
    found = []
    for cmd, _ in commands([line.strip() for line in lines[start + 1:]]):
        if cmd.startswith(("export ", "curl ")):
            found.append((cmd, []))
    return found


def without_comment(cmd):
    """The command without a trailing `# ...` (outside quotes)."""
    quote = None
    for i, c in enumerate(cmd):
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and i > 0 and cmd[i - 1] in " \t":
            return cmd[:i].rstrip()
    return cmd


def run(env, cmd, base):
    cmd = cmd.replace("localhost:3000", base.removeprefix("http://"))
    cmd = cmd.replace("127.0.0.1:3000", base.removeprefix("http://"))
    if os.environ.get("CARGO_TARGET_DIR"):
        cmd = cmd.replace("target/debug/", os.environ["CARGO_TARGET_DIR"] + "/debug/")
    assignment = ASSIGNMENT.match(cmd)
    if assignment:
        name = assignment.group(2)
        out = subprocess.run(["bash", "-c", f'{cmd}\nprintf %s "${name}"'], env=env,
                             capture_output=True, text=True, check=True)
        env[name] = out.stdout
        return None
    out = subprocess.run(["bash", "-c", cmd + " -w '\\n%{http_code}'"], env=env,
                         capture_output=True, text=True)
    body, _, code = out.stdout.rpartition("\n")
    return int(code or 0), body


def check(env, base, where, cmd, comment):
    global passed, failed
    cmd = without_comment(cmd)
    if not (cmd.startswith("curl ") or ASSIGNMENT.match(cmd)):
        print(f"skip   {where}: {cmd[:70]}")
        return False
    answer = run(env, cmd, base)
    if answer is None:
        return False
    status, body = answer
    want_status, shape = expectation(comment)
    problems = []
    if want_status is not None and status != want_status:
        problems.append(f"status {status}, the docs say {want_status}")
    if want_status is None and not 200 <= status < 300:
        problems.append(f"status {status}")
    try:
        actual = json.loads(body)
    except ValueError:
        actual = None
        problems.append(f"not JSON: {body[:120]!r}")
    if shape is not None and actual is not None:
        problems += differences(shape, actual)
    name = f"{where}: {cmd[:70]}"
    if problems:
        failed += 1
        print(f"FAILED {name}\n       " + "\n       ".join(problems) + f"\n       answer: {body[:300]}")
    else:
        passed += 1
        print(f"ok     {name}")
    return True


def broken_links(path):
    """The relative links of a Markdown file whose target is not in the clone."""
    out = []
    text = open(path).read()
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http://", "https://", "mailto:", "#")):
            continue
        file = target.split("#")[0]
        if not os.path.exists(os.path.normpath(os.path.join(os.path.dirname(path), file))):
            out.append(target)
    return out


def main():
    global failed
    base, log = sys.argv[1], sys.argv[2]
    env = dict(os.environ)
    for path in LINKED:
        for target in broken_links(path):
            failed += 1
            print(f"FAILED {path}: the link {target} leads nowhere")
    for path, sections in DOCS.items():
        for section, examples in doc_examples(path, sections).items():
            where = f"{path} {section.lstrip('# ')}"
            ran = sum(check(env, base, where, cmd, comment) for cmd, comment in examples)
            if not ran and sections is not None:
                failed += 1
                print(f"FAILED {where}: no example found (heading renamed?)")
    banner = banner_examples(log)
    ran = sum(check(env, base, "banner", cmd, comment) for cmd, comment in banner)
    if ran < 5:
        failed += 1
        print(f"FAILED banner: {ran} curl examples found")
    print(f"docs examples: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
