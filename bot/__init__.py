"""emac-bot: compile Emergence-as-Code journey specs into bounded journey SLOs and review them in pull requests."""

__version__ = "0.1.0"
