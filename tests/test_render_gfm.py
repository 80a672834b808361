"""The PR comment as a person sees it on GitHub: rendered to HTML with the GFM features GitHub
uses, its structure checked, and its Mermaid diagrams accepted by Mermaid's own parser.

The reviews come from small real git repositories built from our fixtures: the demo, a pull
request touching several journeys (FAIL, REVIEW and PASS at once), one whose only journey needs
review, one whose head does not compile and one that touches no journey.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import git
import pytest
from markdown_it import MarkdownIt
from mdit_py_plugins.tasklists import tasklists_plugin

from bot.review.demo import EXTRA_RULE, WEST_ON_ITS_OWN, build_demo_repo
from bot.review.mermaid import journey_flowchart
from bot.review.model import ReviewResult
from bot.review.pipeline import review_revisions
from bot.review.render import (
    COMMENT_LIMIT,
    ENV,
    MARKER,
    context,
    middle_truncate,
    render_comment,
)
from tests.builders import accepted_model_yaml, leaf, race, series
from tests.conftest import FIXTURES, require_binary

MERMAID_VERSION = "11.17.2"
JSDOM_VERSION = "26.1.0"
MERMAID_SCRIPT = Path(__file__).resolve().parent / "mermaid_check.mjs"
# Where `npm install --prefix` put mermaid and jsdom; tests never install anything themselves.
NODE_PREFIX = Path(os.environ.get("EMAC_NODE_PREFIX", Path(__file__).resolve().parent / ".node"))
AUTHOR = git.Actor("EmaC tests", "tests@emac.invalid")
DATE = "2026-02-02T10:00:00"
SUMMARY_HEADER = [
    "Journey",
    "Decision",
    "Optimistic",
    "Pessimistic",
    "Worst case",
    "Budget used (pessimistic)",
]
CAUSE_HEADER = ["Where", "Field", "Change", "Source"]
FEED_ACCEPTED_AT_LOW_CONFIDENCE = accepted_model_yaml("feed", confidence=0.6)


# --- GFM rendering and a small HTML tree ------------------------------------------------------


def gfm() -> MarkdownIt:
    """CommonMark plus GitHub's comment extras: tables, strikethrough, task lists, raw HTML."""
    return (
        MarkdownIt("commonmark", {"html": True})
        .enable(["table", "strikethrough"])
        .use(tasklists_plugin)
    )


VOID_TAGS = frozenset({"br", "hr", "img", "input", "wbr", "col", "meta", "link", "source"})


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    parent: Element | None = None
    children: list[Element | str] = field(default_factory=list)

    def descendants(self) -> Iterator[Element]:
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.descendants()

    def find_all(self, tag: str) -> list[Element]:
        return [e for e in self.descendants() if e.tag == tag]

    def child_elements(self) -> list[Element]:
        return [c for c in self.children if isinstance(c, Element)]

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    @property
    def ancestor_tags(self) -> list[str]:
        tags, node = [], self.parent
        while node is not None:
            tags.append(node.tag)
            node = node.parent
        return tags


@dataclass
class Page:
    """A rendered comment: its element tree, its HTML comments (with their parent tag) and
    whatever did not nest (end tags that close nothing, elements left open)."""

    root: Element
    comments: list[tuple[str, str]]
    nesting_problems: list[str]

    @property
    def visible_text(self) -> str:
        return self.root.text

    def table_rows(self, header: list[str]) -> list[list[str]]:
        """Body rows (cell texts) of every table with this exact header row."""
        rows: list[list[str]] = []
        for table in self.root.find_all("table"):
            if [th.text.strip() for th in table.find_all("th")] == header:
                for tr in table.find_all("tr"):
                    cells = [td.text.strip() for td in tr.find_all("td")]
                    if cells:
                        rows.append(cells)
        return rows


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.open: list[Element] = [self.root]
        self.comments: list[tuple[str, str]] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs), parent=self.open[-1])
        self.open[-1].children.append(element)
        if tag not in VOID_TAGS:
            self.open.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open[-1].children.append(Element(tag, dict(attrs), parent=self.open[-1]))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID_TAGS:
            return
        if self.open[-1].tag == tag:
            self.open.pop()
            return
        self.problems.append(f"</{tag}> while <{self.open[-1].tag}> is open")
        if any(e.tag == tag for e in self.open[1:]):
            while self.open[-1].tag != tag:
                self.open.pop()
            self.open.pop()

    def handle_data(self, data: str) -> None:
        self.open[-1].children.append(data)

    def handle_comment(self, data: str) -> None:
        self.comments.append((data.strip(), self.open[-1].tag))


def render_page(markdown: str) -> Page:
    builder = _TreeBuilder()
    builder.feed(gfm().render(markdown))
    builder.close()
    unclosed = [f"<{e.tag}> never closed" for e in builder.open[1:]]
    return Page(builder.root, builder.comments, builder.problems + unclosed)


def table_cell_counts(markdown: str) -> list[tuple[int, int, str]]:
    """(cells, header cells, line) for every table row whose unescaped pipes give another count
    than its header: GFM drops the extra cells and pads the missing ones without a word."""
    wrong: list[tuple[int, int, str]] = []
    header: int | None = None
    for line in markdown.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = len(re.split(r"(?<!\\)\|", line.strip())) - 2
        if header is None:
            header = cells
        elif cells != header:
            wrong.append((cells, header, line))
    return wrong


# --- real repositories with real pull requests -------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    result: ReviewResult
    headline: str
    journeys: list[tuple[str, str]]

    @property
    def comment(self) -> str:
        return render_comment(self.result)


def _commit(repo: git.Repo, message: str) -> str:
    repo.git.add(A=True)
    commit = repo.index.commit(
        message, author=AUTHOR, committer=AUTHOR, author_date=DATE, commit_date=DATE
    )
    return commit.hexsha


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"fixture {path.name} changed: '{old}' not found"
    path.write_text(text.replace(old, new, 1))


def _shop_repo(dest: Path) -> tuple[git.Repo, str]:
    """Checkout (card providers on separate networks), feed, login and search at base."""
    repo = git.Repo.init(dest, initial_branch="main")
    shutil.copytree(FIXTURES / "checkout", dest / "checkout")
    shutil.copytree(FIXTURES / "journeys", dest / "journeys")
    (dest / "README.md").write_text("Shop journeys.\n")
    spec = dest / "checkout" / "spec" / "checkout.yaml"
    _edit(spec, *WEST_ON_ITS_OWN)
    _edit(spec, *EXTRA_RULE)
    return repo, _commit(repo, "Shop journeys")


def _demo(dest: Path) -> Scenario:
    demo = build_demo_repo(dest)
    return Scenario(
        review_revisions(str(demo.path), demo.base, demo.head),
        "❌ EmaC journey bounds: 1 FAIL",
        [("checkout", "FAIL")],
    )


def _several(dest: Path) -> Scenario:
    repo, base = _shop_repo(dest)
    spec = dest / "checkout" / "spec" / "checkout.yaml"
    _edit(spec, WEST_ON_ITS_OWN[1], WEST_ON_ITS_OWN[0])
    _edit(spec, EXTRA_RULE[1], EXTRA_RULE[0])
    _edit(
        dest / "journeys" / "login" / "login.yaml",
        "identity-v1: {availability: 0.997",
        "identity-v1: {availability: 0.998",
    )
    _edit(
        dest / "journeys" / "search" / "search.yaml",
        "availability: 0.9995\n",
        "availability: 0.999\n",
    )
    (dest / "journeys" / "feed" / "accepted.yaml").write_text(FEED_ACCEPTED_AT_LOW_CONFIDENCE)
    head = _commit(repo, "Shared card network, legacy identity, slower ranker, feed model")
    return Scenario(
        review_revisions(str(dest), base, head),
        "❌ EmaC journey bounds: 2 FAIL, 1 REVIEW, 1 PASS",
        [("checkout", "FAIL"), ("feed", "REVIEW"), ("login", "PASS"), ("search", "FAIL")],
    )


def _review_only(dest: Path) -> Scenario:
    repo, base = _shop_repo(dest)
    (dest / "journeys" / "feed" / "accepted.yaml").write_text(FEED_ACCEPTED_AT_LOW_CONFIDENCE)
    head = _commit(repo, "Accept the discovered feed model")
    return Scenario(
        review_revisions(str(dest), base, head),
        "⚠️ EmaC journey bounds: 1 REVIEW",
        [("feed", "REVIEW")],
    )


def _spec_error(dest: Path) -> Scenario:
    repo, base = _shop_repo(dest)
    _edit(
        dest / "journeys" / "login" / "login.yaml",
        "    availability:\n      window: 30d\n      target: 0.998",
        "    availabilty:\n      window: 30d\n      target: 0.998",
    )
    head = _commit(repo, "Typo in the login objective")
    return Scenario(
        review_revisions(str(dest), base, head),
        "❌ EmaC journey bounds: specs at head do not compile",
        [],
    )


def _nothing(dest: Path) -> Scenario:
    repo, base = _shop_repo(dest)
    (dest / "README.md").write_text("Shop journeys, reviewed in pull requests.\n")
    head = _commit(repo, "Reword the readme")
    return Scenario(
        review_revisions(str(dest), base, head),
        "✅ EmaC journey bounds: no journey affected",
        [],
    )


BUILDERS: dict[str, Callable[[Path], Scenario]] = {
    "the demo pull request": _demo,
    "a pull request touching four journeys": _several,
    "a pull request whose only journey needs review": _review_only,
    "a pull request whose head does not compile": _spec_error,
    "a pull request touching no journey": _nothing,
}
SEVERAL = "a pull request touching four journeys"
REVIEW_ONLY = "a pull request whose only journey needs review"
SPEC_ERROR = "a pull request whose head does not compile"


def scenarios() -> list[Any]:
    return [pytest.param(name, id=name) for name in BUILDERS]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Scenario]:
    return {name: build(tmp_path_factory.mktemp("repo") / "r") for name, build in BUILDERS.items()}


@pytest.fixture
def scenario(request: pytest.FixtureRequest, built: dict[str, Scenario]) -> Scenario:
    name: str = request.param
    return built[name]


# --- the comment's structure -------------------------------------------------------------------


@pytest.mark.parametrize("scenario", scenarios(), indirect=True)
def test_the_headline_is_one_h2_stating_the_verdict(scenario: Scenario) -> None:
    page = render_page(scenario.comment)

    first = page.root.child_elements()[0]
    assert (first.tag, first.text) == ("h2", scenario.headline)
    assert len(page.root.find_all("h2")) == 1


@pytest.mark.parametrize("scenario", scenarios(), indirect=True)
def test_the_markers_are_hidden_html_comments_at_the_top(scenario: Scenario) -> None:
    page = render_page(scenario.comment)

    assert page.comments[:2] == [
        (MARKER.removeprefix("<!--").removesuffix("-->").strip(), "#document"),
        (f"emac-bot:head={scenario.result.head_sha}", "#document"),
    ]
    assert "emac-bot:" not in page.visible_text


@pytest.mark.parametrize("scenario", scenarios(), indirect=True)
def test_the_journeys_table_has_its_header_and_one_row_per_journey(scenario: Scenario) -> None:
    page = render_page(scenario.comment)

    rows = page.table_rows(SUMMARY_HEADER)
    assert [(r[0], r[1].split()[-1]) for r in rows] == scenario.journeys
    assert all(len(r) == len(SUMMARY_HEADER) for r in rows)
    if not scenario.journeys:
        assert page.root.find_all("table") == []


@pytest.mark.parametrize("scenario", scenarios(), indirect=True)
def test_no_table_row_loses_or_gains_a_cell_to_a_stray_pipe(scenario: Scenario) -> None:
    assert table_cell_counts(scenario.comment) == []


@pytest.mark.parametrize(
    "scenario",
    scenarios(),
    indirect=True,
)
def test_every_journey_has_its_own_h3_section(scenario: Scenario) -> None:
    page = render_page(scenario.comment)
    icons = {"PASS": "✅", "FAIL": "❌", "REVIEW": "⚠️"}

    sections = [h.text for h in page.root.find_all("h3")]
    expected = [f"{icons[d]} {name}: {d}" for name, d in scenario.journeys]
    if scenario.result.errors:
        expected.insert(0, "Specs at head do not compile")
    assert sections == expected
    assert "###" not in page.visible_text


@pytest.mark.parametrize("scenario", scenarios(), indirect=True)
def test_every_details_block_opens_with_a_summary_and_everything_nests(
    scenario: Scenario,
) -> None:
    page = render_page(scenario.comment)

    for details in page.root.find_all("details"):
        first = details.child_elements()[0]
        assert first.tag == "summary"
        assert first.text.strip()
    assert page.nesting_problems == []


@pytest.mark.parametrize("scenario", scenarios(), indirect=True)
def test_each_journey_graph_is_a_mermaid_code_block_inside_details(scenario: Scenario) -> None:
    page = render_page(scenario.comment)

    blocks = [c for c in page.root.find_all("code") if c.attrs.get("class") == "language-mermaid"]
    with_head = [j for j in scenario.result.journeys if j.head is not None]
    assert len(blocks) == len(with_head)
    for block in blocks:
        assert block.parent is not None and block.parent.tag == "pre"
        assert "details" in block.ancestor_tags
        assert block.text.startswith("flowchart TD\n")


@pytest.mark.parametrize(
    "scenario",
    scenarios(),
    indirect=True,
)
def test_a_journey_needing_review_gets_an_unticked_task_list_checkbox(scenario: Scenario) -> None:
    page = render_page(scenario.comment)

    boxes = [i for i in page.root.find_all("input") if i.attrs.get("type") == "checkbox"]
    assert len(boxes) == sum(1 for _, d in scenario.journeys if d == "REVIEW")
    assert all("checked" not in box.attrs for box in boxes)
    assert "[ ]" not in page.visible_text


@pytest.mark.parametrize("scenario", scenarios(), indirect=True)
def test_base_and_head_shas_are_shown_in_a_visible_footer(scenario: Scenario) -> None:
    page = render_page(scenario.comment)
    result = scenario.result

    [footer] = page.root.find_all("sub")
    assert f"base {result.base_sha}" in footer.text
    assert f"head {result.head_sha}" in footer.text
    assert not {"details", "pre", "table"} & set(footer.ancestor_tags)
    if result.journeys or result.errors:
        codes = [c.text for c in page.root.find_all("code")]
        assert result.base_sha[:7] in codes
        assert result.head_sha[:7] in codes


@pytest.mark.parametrize("scenario", scenarios(), indirect=True)
def test_no_template_syntax_or_python_none_leaks_into_the_comment(scenario: Scenario) -> None:
    page = render_page(scenario.comment)

    # `}}` alone is no leak: a nested mapping in a cause ends with it.
    for jinja in ("{{", "{%", "%}", "{#", "#}"):
        assert jinja not in scenario.comment
    assert re.findall(r"\b(?:None|nan|inf|undefined)\b", page.visible_text) == []


@pytest.mark.parametrize("scenario", scenarios(), indirect=True)
def test_no_cause_row_shows_a_value_changing_into_itself(scenario: Scenario) -> None:
    page = render_page(scenario.comment)

    changes = [row[2] for row in page.table_rows(CAUSE_HEADER)]
    assert [c for c in changes if re.fullmatch(r"(.+) → \1", c)] == []


def test_a_spec_error_at_head_is_listed_with_its_file_line_and_column(
    built: dict[str, Scenario],
) -> None:
    scenario = built[SPEC_ERROR]
    page = render_page(scenario.comment)

    [item] = [li.text for li in page.root.find_all("li")]
    assert item == scenario.result.errors[0]
    assert item.startswith("journeys/login/login.yaml:10:5: spec.objectives.availabilty: ")
    assert "did you mean" in item


# --- Mermaid's own parser ----------------------------------------------------------------------

BROKEN_DIAGRAMS = {
    "an unescaped quote inside a label": 'flowchart TD\n  n0["a "quoted" b"]',
    "an unterminated label": 'flowchart TD\n  n0["series\n  n0 --> n1',
    "an edge with no target": "flowchart TD\n  n0 -->",
    "a misspelt diagram type": "flowchrt TD\n  n0 --> n1",
    "a classDef with no name": "flowchart TD\n  n0 --> n1\n  classDef",
}
DEMO_DEFECT = "the demo's journey graph with one label left unclosed"
AWKWARD_NAMES = ['pay "east"', "<script>v2</script>", "a & b|c", "[brackets](and) {braces}"]


def mermaid_blocks(page: Page) -> list[str]:
    """Each Mermaid block's text, entities decoded: exactly what GitHub hands to Mermaid."""
    return [
        c.text for c in page.root.find_all("code") if c.attrs.get("class") == "language-mermaid"
    ]


def _awkward_chart() -> str:
    root = series(
        *(leaf(n) for n in AWKWARD_NAMES[:2]), race(*(leaf(n) for n in AWKWARD_NAMES[2:]))
    )
    return journey_flowchart(root, {}, frozenset({root.path}))


def _install_hint() -> str:
    return (
        f"npm install --prefix {NODE_PREFIX} --no-save --no-audit --no-fund "
        f"mermaid@{MERMAID_VERSION} jsdom@{JSDOM_VERSION}"
    )


@pytest.fixture(scope="module")
def mermaid_verdicts(built: dict[str, Scenario]) -> dict[str, dict[str, Any]]:
    """Mermaid's verdict on every diagram these tests need, from one node run (mermaid loads
    slowly). In CI a missing node or mermaid fails the tests; locally it skips them."""
    node = require_binary("node")
    missing = [p for p in ("mermaid", "jsdom") if not (NODE_PREFIX / "node_modules" / p).is_dir()]
    if missing:
        message = f"{', '.join(missing)} not installed under {NODE_PREFIX}: {_install_hint()}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    diagrams: dict[str, str] = {}
    for name, scenario in built.items():
        for i, text in enumerate(mermaid_blocks(render_page(scenario.comment))):
            diagrams[f"{name}, graph {i + 1}"] = text
    diagrams["awkward labels"] = _awkward_chart()
    # Our own output with one defect: the storefront label's closing bracket dropped.
    demo_graph = diagrams["the demo pull request, graph 1"]
    diagrams[f"broken: {DEMO_DEFECT}"] = demo_graph.replace('A=0.9995"])', 'A=0.9995"', 1)
    assert diagrams[f"broken: {DEMO_DEFECT}"] != demo_graph
    diagrams.update({f"broken: {k}": v for k, v in BROKEN_DIAGRAMS.items()})
    done = subprocess.run(
        [node, str(MERMAID_SCRIPT), str(NODE_PREFIX)],
        input=json.dumps(list(diagrams.values())),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results: list[dict[str, Any]] = json.loads(done.stdout)["results"]
    return dict(zip(diagrams, results, strict=True))


def test_every_journey_graph_in_every_comment_is_accepted_by_mermaid(
    built: dict[str, Scenario], mermaid_verdicts: dict[str, dict[str, Any]]
) -> None:
    graphs = {k: v for k, v in mermaid_verdicts.items() if k.split(", graph ")[0] in built}

    assert len(graphs) == sum(len(s.journeys) for s in built.values())
    assert {k: v.get("error") for k, v in graphs.items() if not v["ok"]} == {}
    assert {v["diagramType"] for v in graphs.values()} == {"flowchart-v2"}


def test_labels_with_quotes_and_markup_characters_are_escaped_for_mermaid(
    mermaid_verdicts: dict[str, dict[str, Any]],
) -> None:
    chart = _awkward_chart()

    assert mermaid_verdicts["awkward labels"] == {"ok": True, "diagramType": "flowchart-v2"}
    assert "pay #quot;east#quot;" in chart
    assert "#lt;script#gt;v2#lt;/script#gt;" in chart


@pytest.mark.parametrize("broken", [pytest.param(k, id=k) for k in [*BROKEN_DIAGRAMS, DEMO_DEFECT]])
def test_mermaid_rejects_a_broken_diagram(
    broken: str, mermaid_verdicts: dict[str, dict[str, Any]]
) -> None:
    verdict = mermaid_verdicts[f"broken: {broken}"]

    assert verdict["ok"] is False
    assert re.match(r"(Parse error on line \d+|No diagram type detected)", verdict["error"])


# --- GitHub's 65,536-character limit -----------------------------------------------------------


@pytest.fixture(scope="module")
def two_hundred_journeys(built: dict[str, Scenario]) -> tuple[ReviewResult, str]:
    """The four-journey review with its journeys repeated under 200 names, and its full body."""
    several = built[SEVERAL].result
    journeys = [
        dataclasses.replace(several.journeys[i % len(several.journeys)], name=f"journey-{i:03d}")
        for i in range(200)
    ]
    result = dataclasses.replace(several, journeys=journeys)
    return result, ENV.get_template("comment.md.j2").render(context(result))


def test_a_200_journey_comment_is_cut_in_the_middle_to_fit_github(
    two_hundred_journeys: tuple[ReviewResult, str],
) -> None:
    result, full = two_hundred_journeys
    body = render_comment(result)

    assert len(full) > 5 * COMMENT_LIMIT
    assert len(body) <= COMMENT_LIMIT
    note = re.search(r"\n\n… (\d+) characters omitted to fit GitHub's limit …\n\n", body)
    assert note is not None
    kept_head, kept_tail = body[: note.start()], body[note.end() :]
    assert full.startswith(kept_head) and full.endswith(kept_tail)
    assert int(note.group(1)) == len(full) - len(kept_head) - len(kept_tail)
    assert kept_head.splitlines()[:3] == [
        MARKER,
        f"<!-- emac-bot:head={result.head_sha} -->",
        "## ❌ EmaC journey bounds: 100 FAIL, 50 REVIEW, 50 PASS",
    ]
    assert kept_tail.rstrip().endswith(full.rstrip().splitlines()[-1])
    assert f"base {result.base_sha} · head {result.head_sha}" in kept_tail


def test_a_truncated_comment_still_renders_headline_and_footer_visibly(
    two_hundred_journeys: tuple[ReviewResult, str],
) -> None:
    _, full = two_hundred_journeys
    # Several limits move both cut points across a few sections' worth of text.
    for limit in range(COMMENT_LIMIT, COMMENT_LIMIT - 12_000, -997):
        page = render_page(middle_truncate(full, limit))

        assert page.root.child_elements()[0].tag == "h2", limit
        assert page.nesting_problems == [], limit
        [footer] = page.root.find_all("sub")
        assert not {"details", "summary", "pre", "code", "table"} & set(footer.ancestor_tags), limit
