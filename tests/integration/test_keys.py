"""notun's keys are wg(8)'s keys: same text, same derivation, both directions."""
import base64
import os
import stat
import subprocess

from conftest import run

ROUNDS = 20


def decode_key(text):
    assert len(text) == 44 and text.endswith("=")
    raw = base64.b64decode(text, validate=True)
    assert len(raw) == 32
    return raw


def test_genkey_pubkey_matches_wg_pubkey_for_20_keys(notun, wg):
    seen = set()
    for _ in range(ROUNDS):
        priv = run([notun, "genkey"]).stdout
        ours = run([notun, "pubkey"], stdin=priv).stdout
        theirs = run([wg, "pubkey"], stdin=priv).stdout
        assert ours == theirs, "pubkey mismatch for a generated key"
        decode_key(ours.strip())
        seen.add(priv)
    assert len(seen) == ROUNDS, "genkey repeated a key"


def test_genkey_output_is_clamped_like_wg(notun):
    for _ in range(ROUNDS):
        raw = decode_key(run([notun, "genkey"]).stdout.strip())
        assert raw[0] & 7 == 0
        assert raw[31] & 0x80 == 0 and raw[31] & 0x40 == 0x40


def test_pubkey_of_wg_generated_keys_matches_wg(notun, wg):
    for _ in range(ROUNDS):
        priv = run([wg, "genkey"]).stdout
        assert run([notun, "pubkey"], stdin=priv).stdout == run([wg, "pubkey"], stdin=priv).stdout


def test_pubkey_accepts_unclamped_key_as_wg_does(notun, wg):
    priv = base64.b64encode(bytes(range(0xff, 0xdf, -1))).decode() + "\n"
    assert run([notun, "pubkey"], stdin=priv).stdout == run([wg, "pubkey"], stdin=priv).stdout


def test_genpsk_is_32_random_bytes_wg_accepts(notun, wg):
    psks = {run([notun, "genpsk"]).stdout.strip() for _ in range(ROUNDS)}
    assert len(psks) == ROUNDS
    for psk in psks:
        decode_key(psk)
        # wg pubkey parses any 32-byte key: it must take the PSK text too, and
        # read the same 32 bytes notun reads from it.
        theirs = run([wg, "pubkey"], stdin=psk + "\n").stdout
        assert theirs == run([notun, "pubkey"], stdin=psk + "\n").stdout
        assert len(decode_key(theirs.strip())) == 32


def test_pubkey_rejects_bad_input_with_one_line_and_exit_2(notun):
    good = run([notun, "genkey"]).stdout.strip()
    bad_inputs = [
        "",
        "not a key\n",
        good[:-2] + "\n",                      # truncated
        good[:-1] + "A\n",                     # no padding
        good[:42] + "B=\n",                    # non-canonical padding bits
        good + good + "\n",                    # two keys
        "A" * 4096,                            # far too long
    ]
    for text in bad_inputs:
        proc = run([notun, "pubkey"], stdin=text, check=False)
        assert proc.returncode == 2, (text[:50], proc.returncode)
        assert proc.stdout == ""
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("notun pubkey: "), proc.stderr


def test_genkey_warns_when_writing_to_world_readable_file(notun, tmp_path):
    target = tmp_path / "key"
    with open(target, "w") as out:
        os.chmod(target, 0o644)
        proc = subprocess_run_to(notun, out)
    assert "world-accessible" in proc.stderr
    decode_key(target.read_text().strip())

    private = tmp_path / "private"
    fd = os.open(private, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as out:
        proc = subprocess_run_to(notun, out)
    assert proc.stderr == ""
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600


def subprocess_run_to(notun, out):
    return subprocess.run([notun, "genkey"], stdout=out, stderr=subprocess.PIPE, text=True,
                          timeout=30, check=True)
