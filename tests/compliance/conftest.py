"""The compliance tests run the jobs against the simulator like the job tests: same ``env``."""

from tests.jobs.conftest import env, job_env  # noqa: F401 - fixtures re-used

__all__ = ["env", "job_env"]
