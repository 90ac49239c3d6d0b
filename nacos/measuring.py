"""Where a board's code is timed: on this machine, or on a device behind a TVM RPC tracker.

One decision, made once per command before anything is written: a board of this machine's
architecture is timed here unless a tracker is given; any other board needs a tracker (its
code cannot run here), else the command stops with one line saying how to reach the board.
The tune, search and costmodel commands and the tuner all ask here.
"""

from __future__ import annotations

import os

from .board import Board
from .errors import NacosError

Rpc = tuple[str, int, str]  # tracker host, tracker port, device key


def add_arguments(parser, what: str = "measure") -> None:
    """--rpc-tracker and --rpc-key, as every measuring command takes them."""
    parser.add_argument("--rpc-tracker", help=f"HOST:PORT of a TVM RPC tracker to {what} on a board")
    parser.add_argument("--rpc-key", help="the board's key at the tracker")


def parse_rpc(tracker, key: str | None = None) -> Rpc | None:
    """(host, port, key) from 'HOST:PORT' and a key (the options), or as a (host, port, key)
    tuple (Python callers); None when no tracker is given."""
    if not tracker:
        return None
    if isinstance(tracker, (tuple, list)):
        if len(tracker) != 3 or not str(tracker[1]).isdigit() or not tracker[2]:
            raise NacosError(f"give rpc as (HOST, PORT, KEY) or 'HOST:PORT' with rpc_key=KEY (got {tracker!r})")
        return str(tracker[0]), int(tracker[1]), str(tracker[2])
    host, _, port = str(tracker).rpartition(":")
    if not host or not port.isdigit() or not key:
        raise NacosError("give the tracker as --rpc-tracker HOST:PORT together with --rpc-key KEY")
    return host, int(port), key


def unmeasurable(board: Board) -> NacosError:
    """The error for timing a board this machine cannot run code for, without RPC."""
    return NacosError(f"target '{board.name}' ({board.arch}) cannot be measured on this machine; "
                      f"tune through a board with --rpc-tracker HOST:PORT --rpc-key KEY, or pass --trials 0")


def rpc_for(board: Board, tracker, key: str | None = None, needed: bool = True) -> Rpc | None:
    """The tracker to time `board` through, None for this machine (or when nothing needs timing,
    `needed` False). NacosError when timing is needed and the board cannot be reached."""
    rpc = parse_rpc(tracker, key)
    if rpc is None and needed and not board.runs_locally:
        raise unmeasurable(board)
    return rpc


def from_args(args, board: Board, needed: bool = True) -> Rpc | None:
    """`rpc_for` with a command's --rpc-tracker / --rpc-key."""
    return rpc_for(board, getattr(args, "rpc_tracker", None), getattr(args, "rpc_key", None), needed)


def use_board_threads(board: Board) -> None:
    """Time a board of this machine on its thread count: the TVM runtime reads it once, from the
    environment, at first use."""
    if board.runs_locally:
        os.environ.setdefault("TVM_NUM_THREADS", str(board.threads))
