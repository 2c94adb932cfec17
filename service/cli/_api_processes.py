"""Several API processes on one port, each accepting on a socket of its own.

uvicorn's own way (``workers=N``) hands one listening socket to every process, and whichever
process wakes first accepts every connection waiting: 50 clients connecting at once split
13/37, 15/35, 21/29 and 24/26 between two processes in four runs (measured), and a kept
connection stays with its process, so in the worst split one process served most clients
while the other idled (406 requests/s against 635 in the even one). With ``SO_REUSEPORT``
(Linux) each process listens on a socket of its own and the kernel spreads new connections
over them by their addresses.

The sockets are bound here, in the parent, so a port already taken fails at once; each child
serves its socket, and a child that dies is replaced on the same socket (connections queued
on it meanwhile wait for the replacement).
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import traceback
from multiprocessing.process import BaseProcess
from typing import Any

__all__ = ["STARTUP_FAILURE", "balanced_sockets_supported", "serve_processes"]

log = logging.getLogger(__name__)

# The app factory every API process builds its app with.
APP = "service.cli._serve:app_from_environment"
_JOIN_TIMEOUT_S = 30.0
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
STARTUP_FAILURE = 3  # uvicorn's exit code for an app that never started serving


def balanced_sockets_supported() -> bool:
    """Whether the kernel spreads connections over sockets sharing a port (Linux's
    ``SO_REUSEPORT``; elsewhere the option exists without the balancing, or not at all)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def serve_processes(count: int, options: dict[str, Any], *, app: str = APP) -> None:
    """Run ``count`` API processes until SIGINT or SIGTERM; ``options``: uvicorn's (host,
    port and the rest; ``uvicorn_options``); ``app``: the import string of the app's factory.
    An app that fails to start ends this with uvicorn's ``STARTUP_FAILURE``."""
    try:
        sockets = [_listening_socket(options["host"], options["port"]) for _ in range(count)]
    except OSError as error:  # the port taken by another program, or not ours to bind
        log.error("cannot listen on %s:%s: %s", options["host"], options["port"], error)
        sys.exit(STARTUP_FAILURE)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    context = multiprocessing.get_context("spawn")  # a fresh interpreter, as uvicorn's are
    processes = [_start(context, options, sock, app) for sock in sockets]
    failed_start = False
    try:
        while not failed_start and not stop.wait(0.5):
            for index, process in enumerate(processes):
                if process.is_alive():
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    # The app, its settings or its database fail before serving: every
                    # replacement would fail alike (uvicorn's manager stops too).
                    log.error("API process %s failed to start; stopping", process.pid)
                    failed_start = True
                    break
                log.warning("API process %s ended (exit code %s); starting another",
                            process.pid, process.exitcode)
                processes[index] = _start(context, options, sockets[index], app)
    finally:
        for process in processes:
            process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        for process in processes:
            process.join(_JOIN_TIMEOUT_S)
            if process.is_alive():
                process.kill()
                process.join()
        for sock in sockets:
            sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failed_start:
        sys.exit(STARTUP_FAILURE)


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)  # uvicorn's backlog
    sock.set_inheritable(True)
    return sock


def _start(context: Any, options: dict[str, Any], sock: socket.socket, app: str
           ) -> BaseProcess:
    process: BaseProcess = context.Process(target=_serve_one,
                                           args=(options, sock, os.getpid(), app),
                                           name="rnntune-api")
    process.start()
    return process


def _serve_one(options: dict[str, Any], sock: socket.socket, parent: int, app: str) -> None:
    """One API process: uvicorn on its own socket (runs in the child)."""
    import uvicorn

    _end_with(parent)

    # The parent's SIGINT handler is not inherited by a spawned child; uvicorn installs its
    # own once it runs. A Ctrl-C reaches the whole process group, and the parent's SIGTERM
    # follows.
    server = uvicorn.Server(uvicorn.Config(app, factory=True, **options))
    try:
        server.run(sockets=[sock])
    except BaseException:  # the factory's own error, or uvicorn's exit when loading fails
        if not server.started:
            traceback.print_exc()
            sys.exit(STARTUP_FAILURE)
        raise
    if not server.started:  # the app's startup failed (uvicorn.run exits so as well)
        sys.exit(STARTUP_FAILURE)


def _end_with(parent: int) -> None:
    """Have the kernel send this process SIGTERM when ``parent`` ends, even killed: an API
    process left behind would go on accepting on the port beside a restarted ``serve``'s."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it ended before the request was made
        os._exit(0)
