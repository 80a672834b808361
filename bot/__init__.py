"""emac-bot: bounded journey SLOs compiled from Emergence-as-Code specs, reviewed in PRs."""

__version__ = "0.1.0"
