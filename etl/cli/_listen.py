"""A port the daemon or the receiver must listen on, refused in one sentence when it is taken (issue 16).

``run`` starts its health endpoint and push receiver before the scheduler; a taken port used to
end it with ``OSError: [Errno 98]`` and a traceback, which systemd then restarted ten times.
"""

from __future__ import annotations

import errno
import os
import socket

from etl.errors import ConfigError

#: The bind failures a user fixes by choosing another port or host (or stopping the other process).
BIND_ERRNOS = frozenset({errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES})


def bind_error(key: str, where: str, error: OSError) -> ConfigError:
    """``key``: the setting or option to change; ``where``: ``host:port``."""
    # os.strerror: socket.create_server's own strerror repeats the address.
    reason = os.strerror(error.errno) if error.errno else str(error)
    hint = " (another instance running?)" if error.errno == errno.EADDRINUSE else ""
    return ConfigError(f"{key}: cannot listen on {where}: {reason}{hint}; choose another port or stop the process holding it")


def check_free(key: str, host: str, port: int) -> None:
    """Raise `ConfigError` naming ``key`` when ``host:port`` cannot be listened on now (0: any port, nothing to check).

    Bound and closed at once, with SO_REUSEADDR as the servers use it, so a port in TIME_WAIT passes."""
    if not port:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        socket.create_server((host, port), family=family).close()
    except OSError as exc:
        raise bind_error(key, f"{host}:{port}", exc) from None
