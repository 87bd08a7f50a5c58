"""notun portal token: the token's format, and a TokenHash that an independent
BLAKE2b-256 (Python's hashlib) computes the same; the portal's configuration
takes the printed line, and its errors name file:line:key."""
import base64
import hashlib
import os
import re
import tempfile

from conftest import run

ROUNDS = 10
TOKEN_RE = re.compile(r"^(ntc|ntg)_[A-Za-z0-9_-]{43}$")


def token_and_hash(notun, kind):
    out = run([notun, "portal", "token", kind]).stdout
    lines = out.split("\n")
    assert len(lines) == 3 and lines[2] == "", f"expected two lines, got {out!r}"
    token, hash_line = lines[0], lines[1]
    assert hash_line.startswith("TokenHash = ")
    return token, hash_line[len("TokenHash = "):]


def test_token_format_and_hash_match_hashlib(notun):
    seen = set()
    for kind, prefix in (("client", "ntc_"), ("gateway", "ntg_")):
        for _ in range(ROUNDS):
            token, token_hash = token_and_hash(notun, kind)
            assert TOKEN_RE.match(token) and token.startswith(prefix), token
            raw = base64.urlsafe_b64decode(token[4:] + "=")
            assert len(raw) == 32
            # Canonical: the 43 characters are exactly what 32 bytes encode to.
            assert base64.urlsafe_b64encode(raw).decode().rstrip("=") == token[4:]
            want = base64.b64encode(
                hashlib.blake2b(token.encode(), digest_size=32).digest()).decode()
            assert token_hash == want
            seen.add(token)
    assert len(seen) == 2 * ROUNDS, "a token repeated"


def test_token_usage_errors_exit_2_with_one_line(notun):
    for args in (["portal", "token"], ["portal", "token", "admin"],
                 ["portal", "token", "client", "extra"], ["portal"], ["portal", "nope"],
                 ["portal", "-c"]):
        proc = run([notun] + args, check=False)
        assert proc.returncode == 2, (args, proc.returncode)
        assert proc.stdout == ""
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_printed_hash_line_is_accepted_by_the_portal_config(notun):
    _, client_hash = token_and_hash(notun, "client")
    _, gw_hash = token_and_hash(notun, "gateway")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "portal.conf")
        with open(path, "w") as f:
            f.write("[Site office]\n[Gateway gw1]\nSite = office\n"
                    f"TokenHash = {gw_hash}\n"
                    f"[Client alice]\nTokenHash = {client_hash}\nGroups = eng\n"
                    "[Resource db]\nAddress = 10.20.0.5/32\nFilters = tcp:5432, icmp\n"
                    "Sites = office\nAllow = eng, bob\n")
        proc = run([notun, "portal", "-c", path], check=False)
        # A configuration error is a usage error, named by file:line:key.
        assert proc.returncode == 2
        assert proc.stderr.strip() == (
            f"notun: {path}:12: Allow: 'bob' is neither a [Client] nor a group of one")
