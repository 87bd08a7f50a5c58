"""tests/tools/udprelay as a fixture on a tunnel's UDP path: started with
impairments, its per-direction counters read on SIGUSR1 and at the end,
a blackhole started with SIGUSR2. Stopped by PID."""
import os
import selectors
import signal
import subprocess

from conftest import BUILD

RELAY = os.path.join(BUILD, "tools", "udprelay")
REPLY_TIMEOUT_S = 5


def parse_counters(line):
    return {k: (float(v) if "." in v else int(v) if v.isdigit() else v)
            for k, v in (w.split("=", 1) for w in line.split()[1:] if "=" in w)}


class Relay:
    def __init__(self, to, *impairments, listen="127.0.0.1:0"):
        self.proc = subprocess.Popen([RELAY, "--listen", listen, "--to", to, *impairments],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        words = self.proc.stdout.readline().split()
        if len(words) != 2 or words[0] != "listening":
            self.proc.kill()
            raise AssertionError(f"udprelay did not start: {self.proc.communicate()[1]}")
        self.endpoint = words[1]
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stderr, selectors.EVENT_READ)

    def _line(self):
        assert self.sel.select(REPLY_TIMEOUT_S), "udprelay printed no counters"
        return parse_counters(self.proc.stderr.readline())

    def counters(self):
        self.proc.send_signal(signal.SIGUSR1)
        return self._line()

    def blackhole(self):
        """The --blackhole configured, from now on."""
        self.proc.send_signal(signal.SIGUSR2)

    def stop(self):
        """The final counters (None when it had already ended)."""
        if self.proc.poll() is not None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        last = self._line()
        self.proc.wait(timeout=REPLY_TIMEOUT_S)
        self.sel.close()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return last
