"""Deployment helpers: render the nginx front and the systemd unit for `stockyard serve`.

Nothing here starts or reloads anything: the renderers return text, the CLI
(`stockyard deploy nginx|systemd`) prints or writes it, and the operator installs it.
"""

from stockyard.deploy.nginx import NginxFront, nginx_front_for, render_nginx, render_nginx_main
from stockyard.deploy.systemd import SystemdUnit, render_systemd_unit, systemd_unit_for

__all__ = [
    "NginxFront",
    "SystemdUnit",
    "nginx_front_for",
    "render_nginx",
    "render_nginx_main",
    "render_systemd_unit",
    "systemd_unit_for",
]
