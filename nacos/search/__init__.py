"""The co-search: candidates, their estimates and the study store that keeps them (Pareto tools too).

The package is also callable: `nacos.search(...)` is `nacos.api.search(...)`. Python sets the
attribute `nacos.search` to this package as soon as any of its modules is imported, which would
hide a function of that name, so the package module itself answers the call.
"""

import sys
import types


class _CallablePackage(types.ModuleType):
    def __call__(self, *args, **kwargs):
        """Run a co-search: see `nacos.api.search`."""
        from ..api import search

        return search(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
