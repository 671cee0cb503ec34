"""The process's open-files limit: one socket per bus is far beyond the usual soft limit of 1024."""

import logging
import resource

logger = logging.getLogger(__name__)


def raise_open_files_limit(needed: int, purpose: str) -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; log an error if even that is below `needed`. The new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as error:
            logger.warning("could not raise the open-files limit from %d to %d: %s", soft, target, error)
    if soft < needed:
        logger.error(
            "the open-files limit is %d (hard limit %d), but %s need about %d: connections beyond it fail and retry; "
            "raise the hard limit (ulimit -Hn, systemd LimitNOFILE=, docker --ulimit nofile=)",
            soft,
            hard,
            purpose,
            needed,
        )
    return soft
