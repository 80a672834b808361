"""Wire model of the optional repository configuration file `.emac.yml`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from bot.spec.errors import SpecError
from bot.spec.validation import validate_document
from bot.spec.wire import WireModel
from bot.spec.yamlpos import parse_yaml_text

CONFIG_FILE = ".emac.yml"


class PathsConfig(WireModel):
    """Where to look. Globs are matched against repository paths; empty means everywhere."""

    specs: list[str] = []
    openslo: list[str] = []
    models: list[str] = []
    routing: list[str] = []
    evidence: list[str] = []
    ignore: list[str] = []


class RegressionPolicy(WireModel):
    gate: Literal["optimistic", "pessimistic", "worstCase"] | None = None
    tolerance: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    review: Literal["blocking", "neutral"] = "blocking"


class CommentPolicy(WireModel):
    mode: Literal["on-change", "always", "never"] = "on-change"


class ArtifactsPolicy(WireModel):
    followup_pr: bool = True
    rules_format: Literal["prometheus-operator", "plain", "sloth"] = "prometheus-operator"
    # Where artifacts go when a spec does not say: relative to the spec's folder, like the
    # paper's layout (spec/ beside compiled/).
    default_dir: str = "../compiled"


class RepoConfig(WireModel):
    """`.emac.yml`: every field optional; the defaults find specs by apiVersion/kind."""

    version: Literal[1] = 1
    paths: PathsConfig = PathsConfig()
    regression: RegressionPolicy = RegressionPolicy()
    comment: CommentPolicy = CommentPolicy()
    artifacts: ArtifactsPolicy = ArtifactsPolicy()


def parse_repo_config(text: str | None, name: str = CONFIG_FILE) -> RepoConfig:
    """The configuration in `text` (None or empty → defaults); SpecError with file:line if bad."""
    if text is None or not text.strip():
        return RepoConfig()
    docs = parse_yaml_text(text, name)
    if not docs:
        return RepoConfig()
    config, problems = validate_document(docs[0], RepoConfig)
    if problems or config is None:
        raise SpecError(problems)
    return config
