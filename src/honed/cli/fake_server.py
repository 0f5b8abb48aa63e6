"""``python -m honed.providers.fake_server``: serve the fake OpenAI + Anthropic API until killed.

The process entry of ``honed.providers.fake_server``: it parses the arguments, starts a
``FakeServer`` and hands its URL to render (one line on stdout, which a parent process reads).
"""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> None:
    from honed.cli import render
    from honed.providers.fake_server import FAULT_KINDS, FakeServer, Faults

    parser = argparse.ArgumentParser(prog="python -m honed.providers.fake_server",
                                     description="Serve a fake OpenAI + Anthropic API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--fault-rate", type=float, default=0.0,
                        help="share of attempts answered with an injected fault")
    parser.add_argument("--fault-kinds", default=",".join(FAULT_KINDS),
                        help="comma-separated: " + ", ".join(FAULT_KINDS))
    parser.add_argument("--fault-seed", type=int, default=0)
    args = parser.parse_args(argv)
    faults = None
    if args.fault_rate > 0:
        faults = Faults(args.fault_rate, tuple(args.fault_kinds.split(",")), args.fault_seed)
    server = FakeServer(latency_s=args.latency, host=args.host, port=args.port, faults=faults)
    render.line(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
