"""The one exception type a user sees: the CLI prints its message as a single line and exits 2."""


class NacosError(Exception):
    """A problem with the user's input or environment, phrased as what was wrong and what to do."""
