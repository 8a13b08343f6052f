"""`cbqa app`: start the Streamlit app (the repository's `app/` directory, installed as `cbqa_app`) on a runs directory."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from cbqa.core.errors import CbqaError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cbqa app",
        description="Start the Streamlit app: probe models, benchmark systems, explore overlap, preview masking, "
        "compare training curves. Headless, no usage statistics, bound to 127.0.0.1 unless --host says otherwise.",
    )
    p.add_argument(
        "--runs", default="runs", help="a run directory (with manifest.json) or a directory of them (default: runs)"
    )
    p.add_argument("--port", type=int, default=8501, help="port to serve on (default: 8501)")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1; 0.0.0.0 exposes it to the network)"
    )
    p.add_argument(
        "--no-warm",
        action="store_true",
        help="plain `streamlit run`: do not import the model stack in the background while the server waits "
        "(the first question then pays ~10 s for it on 2 cores)",
    )
    return p


def streamlit_command(runs: str, port: int, host: str, warm: bool = True) -> list[str]:
    return [
        # Streamlit's command line, through cbqa_app.serve, which warms the first question's imports meanwhile
        sys.executable,
        "-m",
        "cbqa_app.serve" if warm else "streamlit",
        "run",
        _main_file(),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--client.toolbarMode",
        "minimal",
        "--",
        "--runs",
        runs,
    ]


def _main_file() -> str:
    import importlib.util

    spec = importlib.util.find_spec("cbqa_app")
    if spec is None or not spec.submodule_search_locations:
        raise CbqaError("the app package (cbqa_app) is not installed; reinstall cbqa: pip install .")
    main = Path(next(iter(spec.submodule_search_locations))) / "main.py"
    if not main.exists():
        raise CbqaError(f"{main} is missing; reinstall cbqa")
    return str(main)


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if not 0 < args.port < 65536:
        raise CbqaError(f"--port must be between 1 and 65535, got {args.port}")
    runs = str(Path(args.runs).expanduser().resolve())
    if not Path(runs).exists():
        print(
            f"cbqa app: note: {runs} does not exist yet; the app will say so until `cbqa demo --out` writes it",
            file=sys.stderr,
        )
    env = {**os.environ, "CBQA_APP_RUNS": runs}
    cmd = streamlit_command(runs, args.port, args.host, warm=not args.no_warm)
    print(f"cbqa app: serving {runs} on http://{args.host}:{args.port}  (Ctrl-C to stop)", flush=True)
    server = subprocess.Popen(cmd, env=env)
    # Stopping `cbqa app` stops the server too: SIGTERM is passed on (Ctrl-C reaches both already).
    signal.signal(signal.SIGTERM, lambda *_: server.terminate())
    try:
        return server.wait()
    except KeyboardInterrupt:
        server.wait()
        raise
