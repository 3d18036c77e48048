"""The operator dashboard, the HTTP API under /api/v1 and Prometheus metrics at /metrics."""
from controller.web.app import create_app  # noqa: F401
from controller.web.auth import TokenStore  # noqa: F401
from controller.web.auth import ensure_operator_token  # noqa: F401
from controller.web.auth import hand_over_first_token  # noqa: F401
from controller.web.auth import is_loopback  # noqa: F401
from controller.web.hosts import HostPolicy  # noqa: F401
from controller.web.metrics import ControllerMetrics  # noqa: F401
from controller.web.server import DashboardServer  # noqa: F401
from controller.web.server import parse_listen  # noqa: F401
