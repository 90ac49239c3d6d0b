"""Where NACOS reads what it ships and where it writes what it makes.

Shipped, read-only: the boards (`targets/`) and the x86 record store with its latency model and
data set (`schedules/`). They live at the top of the source tree and are reached through the
package as `nacos/data/targets` and `nacos/data/schedules` (links to them in a checkout, copies
in a wheel), so an installed `nacos` knows the same boards and records as a checkout.

Written: everything a user's runs produce goes to the user store, a platform data folder
(`~/.local/share/nacos` on Linux, from platformdirs), moved by `$NACOS_HOME`. Its record store
is read with the shipped records under it (records.py), so tuning starts from what ships and
never writes into it. `--schedules DIR` or `$NACOS_SCHEDULES` name one store instead, read and
written alone, as a benchmark or a shared team store wants.
"""

from __future__ import annotations

import os
from pathlib import Path

SHIPPED = Path(__file__).resolve().parent / "data"
SHIPPED_TARGETS = SHIPPED / "targets"
SHIPPED_SCHEDULES = SHIPPED / "schedules"


def user_home() -> Path:
    """The user store: `$NACOS_HOME`, else the platform's user data folder for nacos."""
    if os.environ.get("NACOS_HOME"):
        return Path(os.environ["NACOS_HOME"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("nacos", appauthor=False))


def explicit_schedules() -> Path | None:
    """The one store `$NACOS_SCHEDULES` names, if it is set."""
    value = os.environ.get("NACOS_SCHEDULES")
    return Path(value).expanduser() if value else None


def user_schedules() -> Path:
    """The record store root NACOS writes to when no store is named."""
    return explicit_schedules() or user_home() / "schedules"


def shipped_layers(root: Path | None) -> list[Path]:
    """The read-only record store roots read under `root`: the shipped one for the default store,
    none for a store named by --schedules or $NACOS_SCHEDULES (or the shipped root itself)."""
    if root is not None or explicit_schedules() is not None:
        return []
    return [SHIPPED_SCHEDULES] if SHIPPED_SCHEDULES.resolve() != user_schedules().resolve() else []
