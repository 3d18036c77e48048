"""The operator dashboard, the HTTP API under /api/v1 and Prometheus metrics at /metrics."""
from controller.web.app import create_app  # noqa: F401
from controller.web.auth import TokenStore, ensure_operator_token, hand_over_first_token, is_loopback  # noqa: F401
from controller.web.hosts import HostPolicy  # noqa: F401
from controller.web.metrics import ControllerMetrics  # noqa: F401
from controller.web.server import DashboardServer, parse_listen  # noqa: F401
