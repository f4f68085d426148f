"""``outsim app``: serve the student dashboard (simulation/app/dashboard.py) with Solara.

    outsim app [--scenario S] [--host 127.0.0.1] [--port 8765] [--out outputs/app]
    python -m simulation.app.cli [same options]

It listens on 127.0.0.1 unless told otherwise, warns when asked to listen on all interfaces, and
prints the address to open. Bad input (a scenario that does not load, a port out of range or in use)
exits 2 with one line per problem and nothing started, like every outsim command.

The page's browser libraries (Solara's Vue app, RequireJS, Vega, Vega-Lite, Vega-Embed, Font Awesome)
are npm packages that Solara's asset proxy normally downloads from a public CDN on first view. This
command puts them into that proxy's cache once, with ``npm pack`` from the npm registry, so the page
also works where the CDN cannot be reached (and offline afterwards).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from simulation.cli_common import EXIT_FAILED, EXIT_INVALID, EXIT_OK, Parser
from simulation.scenario import ScenarioError, load_scenario

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8765
ALL_INTERFACES = {"0.0.0.0", "::", "[::]", ""}
APP_MODULE = "simulation.app.dashboard"


@dataclass(frozen=True)
class Asset:
    """One npm package the page loads: the folder Solara's proxy serves it from and the exact version to fetch."""

    folder: str  # path prefix under /_solara/cdn/, as the page asks for it (may name a major version only)
    spec: str  # exact npm package@version placed there
    keep: tuple[str, ...] = ()  # only these top-level entries of the package (all when empty)


def assets() -> tuple[Asset, ...]:
    """The browser libraries of this Solara version (its app bundle version is read from Solara's page template)."""
    import solara.util

    template = (Path(solara.util.__file__).parent / "server" / "templates" / "solara.html.j2").read_text(encoding="utf-8")
    name = "solara-vuetify3-app" if solara.util.IPYVUETIFY_V3 else "solara-vuetify-app"
    found = re.search(rf"@widgetti/{name}@([0-9][0-9a-z.-]*)/", template)
    app = f"@widgetti/{name}@{found.group(1) if found else '5.2.0'}"
    return (Asset(app, app, ("dist", "package.json")),
            Asset("font-awesome@4.5.0", "font-awesome@4.5.0", ("css", "fonts", "package.json")),
            Asset("requirejs@2.3.6", "requirejs@2.3.6", ("require.js", "package.json")),
            Asset("vega@5", "vega@5.33.1", ("build", "package.json")),
            Asset("vega-lite@5", "vega-lite@5.23.0", ("build", "package.json")),
            Asset("vega-embed@6", "vega-embed@6.29.0", ("build", "package.json")))


def asset_cache_dir() -> Path:
    """Where Solara's asset proxy looks before it asks the CDN (SOLARA_ASSETS_PROXY_CACHE_DIR or <prefix>/share/solara/cdn)."""
    from solara.server import settings

    return Path(settings.assets.proxy_cache_dir)


def ensure_assets(cache: Path | None = None, npm: str | None = None) -> list[str]:
    """Fetch missing browser libraries into ``cache`` with ``npm pack``; returns the folders still missing.

    Each package is unpacked beside the cache and moved into place whole, so a folder that exists is complete.
    """
    cache = cache or asset_cache_dir()
    missing = [a for a in assets() if not (cache / a.folder / "package.json").is_file()]
    npm = npm or shutil.which("npm")
    if not missing or npm is None:
        return [a.folder for a in missing]
    print(f"outsim: fetching the dashboard's browser libraries with npm, once ({', '.join(a.spec for a in missing)}) ...",
          flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        for a in missing:
            try:
                packed = subprocess.run([npm, "pack", "--silent", "--pack-destination", tmp, a.spec], capture_output=True,
                                        text=True, timeout=600, check=True).stdout.strip().splitlines()[-1]
                _unpack(Path(tmp) / packed, cache / a.folder, a.keep)
            except (subprocess.SubprocessError, OSError, IndexError, tarfile.TarError) as exc:
                print(f"outsim: could not fetch {a.spec}: {exc}", file=sys.stderr)
    return [a.folder for a in assets() if not (cache / a.folder / "package.json").is_file()]


def _unpack(tgz: Path, target: Path, keep: tuple[str, ...]) -> None:
    """Unpack an npm tarball's package/ folder (only ``keep`` entries) to ``target``, atomically."""
    staging = Path(tempfile.mkdtemp(dir=tgz.parent))
    with tarfile.open(tgz) as tar:
        members = []
        for m in tar.getmembers():
            rel = m.name.split("/", 1)[1] if "/" in m.name else ""
            if rel and (not keep or rel.split("/", 1)[0] in keep):
                m.name = rel
                members.append(m)
        tar.extractall(staging, members=members, filter="data")
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():  # files Solara's proxy cached one by one from the CDN: replace them with the whole package
        shutil.rmtree(target)
    os.replace(staging, target)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``app`` subcommand to ``outsim``'s parser (``cmd_app`` runs it)."""
    p = subparsers.add_parser("app", help="open the interactive dashboard in a browser (for students)")
    _add_arguments(p)
    return p


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scenario", type=Path, default=None, help="scenario TOML to start from (default: scenarios/baseline.toml)")
    p.add_argument("--host", default=DEFAULT_HOST, help="address to listen on (default: %(default)s, this computer only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on (default: %(default)s)")
    p.add_argument("--out", type=Path, default=Path("outputs/app"),
                   help="where the page's Save button writes run folders (default: %(default)s)")


def cmd_app(args: argparse.Namespace) -> int:
    """Check the options, fetch the page's libraries if needed, then serve the dashboard until Ctrl+C."""
    from simulation.app import ENV_OUT, ENV_SCENARIO, default_scenario

    problems: list[str] = []
    scenario = args.scenario
    try:
        cfg = load_scenario(scenario if scenario is not None else default_scenario())
    except ScenarioError as exc:
        problems += [str(p) for p in exc.problems]
    if not 1 <= args.port <= 65535:
        problems.append(f"--port: --port = {args.port}: must be between 1 and 65535")
    elif (busy := _port_problem(args.host, args.port)) is not None:
        problems.append(busy)
    if problems:
        for line in problems:
            print(line, file=sys.stderr)
        print(f"outsim: {len(problems)} problem(s); the dashboard was not started.", file=sys.stderr)
        return EXIT_INVALID
    if args.host in ALL_INTERFACES:
        print(f"outsim: warning: listening on all interfaces ({args.host or 'all'}): anyone who can reach this "
              "computer can open the dashboard and run models on it. Use --host 127.0.0.1 to keep it local.",
              file=sys.stderr)
    os.environ.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "false")  # no usage reports to third parties
    os.environ.setdefault("SOLARA_THEME_SHOW_BANNER", "false")  # its corner banner covers the tables
    if scenario is not None:
        os.environ[ENV_SCENARIO] = str(scenario.resolve())
    os.environ[ENV_OUT] = str(args.out.resolve())
    still = ensure_assets()
    if still:
        print(f"outsim: warning: browser libraries missing ({', '.join(still)}) and npm could not fetch them; "
              "the page will try the public CDN and stays blank without it.", file=sys.stderr)
    print(f"outsim: dashboard of '{cfg.name}': open {_url(args.host, args.port)} in a browser (Ctrl+C stops it)",
          flush=True)
    return _serve(args.host, args.port)


def _serve(host: str, port: int) -> int:
    """Run Solara's server in this process until it is stopped."""
    from solara.__main__ import cli as solara_cli

    argv = ["run", APP_MODULE, "--host", host, "--port", str(port), "--production", "--no-open", "--no-check-version",
            "--log-level", "warning", "--no-access-log"]
    try:
        solara_cli.main(args=argv, prog_name="solara", standalone_mode=False)
    except KeyboardInterrupt:
        pass
    except SystemExit as exc:  # uvicorn exits this way when it cannot start
        return EXIT_OK if exc.code in (0, None) else EXIT_FAILED
    return EXIT_OK


def _port_problem(host: str, port: int) -> str | None:
    """A one-line problem if the address cannot be listened on (unknown host, port taken), else None."""
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                          flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        return f"--host: --host = {host!r}: not an address of this computer ({exc.strerror})"
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as exc:
            return f"--port: --port = {port}: cannot listen on {host or 'all interfaces'} ({exc.strerror}); try another --port"
    return None


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ALL_INTERFACES else host
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


def main(argv: list[str] | None = None) -> int:
    """``python -m simulation.app.cli``: the same as ``outsim app``."""
    parser = Parser(prog="outsim app", description="Serve the interactive outsim dashboard.")
    _add_arguments(parser)
    return cmd_app(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
