"""The one fake GitHub for tests: stateful REST routes, replies built on real recorded bodies.

Every request is recorded in order (`FakeGitHub.calls`, `FakeGitHub.sequence()`), so a test can
assert the exact conversation. Reply bodies start from real GitHub replies recorded by PyGithub
(`pygithub-replay`) and octokit (`api-fixtures`, `webhooks`), read from the reference folder,
with only the fields that identify the object (ids, SHAs, names, bodies) replaced. GitHub's own
validation that the bot relies on is enforced too (≤ 50 annotations per request, comment length,
fast-forward-only ref updates without `force`, one open PR per head and base).
"""

from __future__ import annotations

import ast
import base64
import copy
import hashlib
import itertools
import json
import os
import re
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import git
import github
import pytest
import responses
from requests import PreparedRequest

REFERENCE_GITHUB = Path(__file__).resolve().parents[2] / "shared" / "reference" / "github"
REPLAY = REFERENCE_GITHUB / "pygithub-replay"
API_FIXTURES = REFERENCE_GITHUB / "api-fixtures"
WEBHOOKS = REFERENCE_GITHUB / "webhooks"

BOT_LOGIN = "emac-bot[bot]"
JsonReply = tuple[int, dict[str, str], Any]


# --- PyGithub replay files ------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayExchange:
    """One recorded request/reply in PyGithub's ReplayData format (ten lines per exchange)."""

    protocol: str
    verb: str
    host: str
    port: str
    path: str
    request_headers: dict[str, str]
    request_body: str | None
    status: int
    response_headers: dict[str, str]
    response_body: str

    def reply(self) -> Any:
        return json.loads(self.response_body)


def parse_replay(path: Path) -> list[ReplayExchange]:
    """Exchanges of a replay file: protocol, verb, host, port, path, request headers, request
    body, status, response headers, response body; exchanges separated by one blank line."""
    lines = path.read_text(encoding="utf-8").split("\n")
    exchanges: list[ReplayExchange] = []
    index = 0
    while index < len(lines):
        if lines[index] == "":
            index += 1
            continue
        record = lines[index : index + 10]
        if len(record) < 10 or record[0] not in ("http", "https"):
            raise ValueError(f"{path.name}:{index + 1}: not a replay exchange: {record[:1]}")
        exchanges.append(
            ReplayExchange(
                protocol=record[0],
                verb=record[1],
                host=record[2],
                port=record[3],
                path=record[4],
                request_headers=ast.literal_eval(record[5]),
                request_body=None if record[6] == "None" else record[6],
                status=int(record[7]),
                response_headers={k.lower(): v for k, v in ast.literal_eval(record[8])},
                response_body=record[9],
            )
        )
        index += 10
    return exchanges


@cache
def _replay(name: str) -> tuple[ReplayExchange, ...]:
    return tuple(parse_replay(REPLAY / f"{name}.txt"))


def replay_reply(name: str, index: int = 0) -> Any:
    """A fresh copy of the JSON reply of exchange `index` in `<name>.txt`."""
    return _replay(name)[index].reply()


@cache
def _fixture(name: str) -> tuple[dict[str, Any], ...]:
    return tuple(json.loads((API_FIXTURES / f"{name}.json").read_text(encoding="utf-8")))


def fixture_exchange(name: str, index: int = 0) -> dict[str, Any]:
    """A fresh copy of exchange `index` of an octokit normalized fixture (`api-fixtures`)."""
    return copy.deepcopy(_fixture(name)[index])


@cache
def _webhook(relative: str) -> dict[str, Any]:
    return dict(json.loads((WEBHOOKS / relative).read_text(encoding="utf-8")))


def webhook_payload(relative: str) -> dict[str, Any]:
    """A fresh copy of a real webhook delivery body, e.g. `pull_request/opened.payload.json`."""
    return copy.deepcopy(_webhook(relative))


# --- the fake ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedCall:
    method: str
    path: str  # path and query exactly as sent
    body: Any  # parsed JSON body, or None
    headers: dict[str, str]


@dataclass
class _Fault:
    method: str
    path: str
    status: int
    body: Any
    headers: dict[str, str]
    times: int


@dataclass
class _Commit:
    sha: str
    tree: str
    parents: list[str]
    message: str
    author: str | None  # GitHub login the commit maps to; None if no account matches
    committer: str | None


@dataclass
class FakeRepo:
    full_name: str
    id: int
    blobs: dict[str, bytes] = field(default_factory=dict)
    trees: dict[str, dict[str, str]] = field(default_factory=dict)
    commits: dict[str, _Commit] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    check_runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    permissions: dict[str, str] = field(default_factory=dict)

    @property
    def owner(self) -> str:
        return self.full_name.split("/")[0]


def _error(status: int, message: str, doc: str, errors: list[Any] | None = None) -> JsonReply:
    body: dict[str, Any] = {"message": message, "documentation_url": doc}
    if errors is not None:
        body["errors"] = errors
    return status, {}, body


def _not_found(doc: str) -> JsonReply:
    return _error(404, "Not Found", f"https://docs.github.com/rest/{doc}")


def _unprocessable(message: str, doc: str) -> JsonReply:
    return _error(422, message, f"https://docs.github.com/rest/{doc}")


class FakeGitHub:
    """A stateful fake of the REST endpoints the bot uses, mounted on `responses`."""

    def __init__(
        self, base_url: str = "https://api.github.com", *, actor_login: str = BOT_LOGIN
    ) -> None:
        parts = urllib.parse.urlsplit(base_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.prefix = parts.path.rstrip("/")
        self.base_url = base_url.rstrip("/")
        self.actor_login = actor_login
        self.calls: list[RecordedCall] = []
        self.repos: dict[str, FakeRepo] = {}
        self._faults: list[_Fault] = []
        self.installations: set[int] = set()
        self._ids = itertools.count(4_000_001)
        self._commit_counter = itertools.count(1)
        self._mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        self._routes = self._route_table()

    # --- lifecycle and recorder ---------------------------------------------------------------

    def __enter__(self) -> FakeGitHub:
        if not REPLAY.is_dir():
            message = f"recorded GitHub replies missing: {REPLAY}"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
        # PyGithub spells the default port out (https://api.github.com:443/...).
        pattern = re.compile(re.escape(self.origin) + r"(:\d+)?/.*")
        for method in ("GET", "POST", "PATCH", "PUT", "DELETE"):
            self._mock.add_callback(method, pattern, callback=self._handle)
        self._mock.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._mock.stop()
        self._mock.reset()

    def client(self, **kwargs: Any) -> github.Github:
        """A PyGithub client for this fake: token auth, no client-side retry or throttling."""
        settings: dict[str, Any] = {
            "auth": github.Auth.Token("ghs_test_token"),
            "base_url": self.base_url,
            "retry": None,
            "seconds_between_requests": None,
            "seconds_between_writes": None,
        }
        settings.update(kwargs)
        return github.Github(**settings)

    def sequence(self) -> list[tuple[str, str]]:
        """(method, path-with-query) of every call so far, in order."""
        return [(call.method, call.path) for call in self.calls]

    def forget_calls(self) -> None:
        self.calls.clear()

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` calls to `method path` (query ignored) with this reply."""
        reply = body if body is not None else {"message": "Server Error"}
        self._faults.append(_Fault(method, path, status, reply, dict(headers or {}), times))

    # --- seeding state ------------------------------------------------------------------------

    def repo(self, full_name: str, *, repo_id: int | None = None) -> FakeRepo:
        if full_name not in self.repos:
            self.repos[full_name] = FakeRepo(full_name, repo_id or next(self._ids))
        return self.repos[full_name]

    def seed_commit(
        self,
        repo: str,
        files: dict[str, bytes],
        *,
        parents: tuple[str, ...] = (),
        author: str | None = "Codertocat",
        committer: str | None = None,
        message: str = "seed",
    ) -> str:
        state = self.repo(repo)
        tree = self._store_tree(
            state, {path: self._store_blob(state, c) for path, c in files.items()}
        )
        return self._store_commit(state, tree, list(parents), message, author, committer or author)

    def push(self, repo: str, branch: str, files: dict[str, bytes], *, author: str) -> str:
        """A person pushes one commit changing `files` on top of `branch`."""
        state = self.repo(repo)
        tip = state.refs[branch]
        entries = dict(state.trees[state.commits[tip].tree])
        entries.update({path: self._store_blob(state, c) for path, c in files.items()})
        tree = self._store_tree(state, entries)
        state.refs[branch] = self._store_commit(state, tree, [tip], "push", author, author)
        return state.refs[branch]

    def open_pull(
        self,
        repo: str,
        number: int,
        *,
        head_ref: str,
        head_sha: str,
        base_ref: str = "main",
        head_repo: str | None = None,
        base_sha: str | None = None,
    ) -> dict[str, Any]:
        """A PR shaped like the recorded `pull_request` webhook's object."""
        state = self.repo(repo)
        if head_repo is None:
            state.refs[head_ref] = head_sha
        pull = self._pull_object(state, number, head_ref, head_sha, base_ref, head_repo)
        if base_sha is not None:
            pull["base"]["sha"] = base_sha
        state.pulls[number] = pull
        return pull

    def adopt_git_commit(
        self, repo: str, git_dir: Path, sha: str, *, author: str = "Codertocat"
    ) -> str:
        """Mirror a real commit (its files, under its real sha) so a real clone and the fake
        GitHub agree on what the PR head holds."""
        commit = git.Repo(git_dir).commit(sha)
        state = self.repo(repo)
        files = {
            str(item.path): item.data_stream.read()
            for item in commit.tree.traverse()
            if isinstance(item, git.Blob)
        }
        tree = self._store_tree(
            state, {path: self._store_blob(state, c) for path, c in files.items()}
        )
        parents = [p.hexsha for p in commit.parents if p.hexsha in state.commits]
        state.commits[sha] = _Commit(sha, tree, parents, str(commit.message), author, author)
        return sha

    def set_permission(self, repo: str, login: str, role: str) -> None:
        self.repo(repo).permissions[login] = role

    def close_pull(self, repo: str, number: int, *, merged: bool = False) -> None:
        pull = self.repos[repo].pulls[number]
        pull.update(state="closed", closed_at="2019-05-15T15:20:56Z", merged=merged)
        pull["merged_at"] = "2019-05-15T15:20:56Z" if merged else None

    def add_comment(self, repo: str, issue: int, body: str, *, login: str) -> dict[str, Any]:
        return self._store_comment(self.repo(repo), issue, body, login)

    def branch_files(self, repo: str, branch: str) -> dict[str, bytes]:
        state = self.repos[repo]
        tree = state.trees[state.commits[state.refs[branch]].tree]
        return {path: state.blobs[sha] for path, sha in tree.items()}

    def commit(self, repo: str, sha: str) -> _Commit:
        return self.repos[repo].commits[sha]

    # --- content-addressed git objects --------------------------------------------------------

    @staticmethod
    def _store_blob(state: FakeRepo, content: bytes) -> str:
        sha = hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
        state.blobs[sha] = content
        return sha

    @staticmethod
    def _store_tree(state: FakeRepo, entries: dict[str, str]) -> str:
        # Same entries, same SHA: what lets the bot see an identical tree as "unchanged".
        canonical = json.dumps(sorted(entries.items())).encode()
        sha = hashlib.sha1(b"tree " + canonical).hexdigest()
        state.trees[sha] = dict(entries)
        return sha

    def _store_commit(
        self,
        state: FakeRepo,
        tree: str,
        parents: list[str],
        message: str,
        author: str | None,
        committer: str | None,
    ) -> str:
        seed = f"{tree}{parents}{message}{author}{next(self._commit_counter)}"
        sha = hashlib.sha1(seed.encode()).hexdigest()
        state.commits[sha] = _Commit(sha, tree, parents, message, author, committer)
        return sha

    # --- dispatch -----------------------------------------------------------------------------

    def _route_table(self) -> list[tuple[str, re.Pattern[str], Callable[..., JsonReply]]]:
        repo = r"/repos/(?P<repo>[^/]+/[^/]+)"
        table: list[tuple[str, str, Callable[..., JsonReply]]] = [
            ("GET", repo + r"/pulls/(?P<number>\d+)", self._get_pull),
            ("PATCH", repo + r"/pulls/(?P<number>\d+)", self._edit_pull),
            ("GET", repo + r"/pulls", self._list_pulls),
            ("POST", repo + r"/pulls", self._create_pull),
            ("GET", repo + r"/issues/(?P<number>\d+)/comments", self._list_comments),
            ("POST", repo + r"/issues/(?P<number>\d+)/comments", self._create_comment),
            ("PATCH", repo + r"/issues/comments/(?P<id>\d+)", self._edit_comment),
            ("POST", repo + r"/check-runs", self._create_check_run),
            ("PATCH", repo + r"/check-runs/(?P<id>\d+)", self._update_check_run),
            ("POST", repo + r"/statuses/(?P<sha>[0-9a-f]{40})", self._create_status),
            ("GET", repo + r"/git/ref/heads/(?P<branch>.+)", self._get_ref),
            ("POST", repo + r"/git/refs", self._create_ref),
            ("PATCH", repo + r"/git/refs/heads/(?P<branch>.+)", self._update_ref),
            ("GET", repo + r"/commits/(?P<sha>[0-9a-f]{40})", self._get_commit),
            ("GET", repo + r"/git/commits/(?P<sha>[0-9a-f]{40})", self._get_git_commit),
            ("POST", repo + r"/git/blobs", self._create_blob),
            ("POST", repo + r"/git/trees", self._create_tree),
            ("POST", repo + r"/git/commits", self._create_git_commit),
            ("POST", r"/app/installations/(?P<id>\d+)/access_tokens", self._installation_token),
            (
                "GET",
                repo + r"/collaborators/(?P<login>[^/]+)/permission",
                self._collaborator_permission,
            ),
        ]
        return [(method, re.compile(path), handler) for method, path, handler in table]

    def _handle(self, request: PreparedRequest) -> tuple[int, dict[str, str], str]:
        split = urllib.parse.urlsplit(str(request.url))
        path = urllib.parse.unquote(split.path)
        sent = split.path + (f"?{split.query}" if split.query else "")
        raw = request.body
        body = json.loads(raw) if isinstance(raw, str | bytes) and raw else None
        method = str(request.method)
        headers = {key.lower(): str(value) for key, value in request.headers.items()}
        self.calls.append(RecordedCall(method, sent, body, headers))
        status, reply_headers, reply = self._reply(method, path, split.query, body)
        reply_headers = {"Content-Type": "application/json; charset=utf-8", **reply_headers}
        return status, reply_headers, "" if reply is None else json.dumps(reply)

    def _reply(self, method: str, path: str, query: str, body: Any) -> JsonReply:
        for fault in self._faults:
            if fault.times > 0 and fault.method == method and fault.path == path:
                fault.times -= 1
                return fault.status, fault.headers, fault.body
        if not path.startswith(self.prefix):
            return _not_found("")
        route_path = self._canonical(path[len(self.prefix) :])
        params = dict(urllib.parse.parse_qsl(query))
        for route_method, pattern, handler in self._routes:
            found = pattern.fullmatch(route_path)
            if found and route_method == method:
                arguments = found.groupdict()
                if "repo" in arguments and arguments["repo"] not in self.repos:
                    return _not_found("repos/repos#get-a-repository")
                return handler(**arguments, params=params, body=body)
        return _not_found("")

    def _canonical(self, path: str) -> str:
        # Link headers name repositories by id, as GitHub's do.
        found = re.match(r"/repositories/(\d+)(/.*)", path)
        if found:
            for state in self.repos.values():
                if state.id == int(found.group(1)):
                    return f"/repos/{state.full_name}{found.group(2)}"
        return path

    def _url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def _collaborator_permission(self, repo: str, login: str, **_: Any) -> JsonReply:
        # GitHub answers for any user; `permission` folds maintain→write and triage→read.
        role = self.repos[repo].permissions.get(login, "read")
        legacy = {"maintain": "write", "triage": "read"}.get(role, role)
        return 200, {}, {"permission": legacy, "role_name": role, "user": {"login": login}}

    # --- pull requests ------------------------------------------------------------------------

    def _pull_object(
        self,
        state: FakeRepo,
        number: int,
        head_ref: str,
        head_sha: str,
        base_ref: str,
        head_repo: str | None,
    ) -> dict[str, Any]:
        pull: dict[str, Any] = webhook_payload("pull_request/opened.payload.json")["pull_request"]
        base_repo = pull["base"]["repo"]
        base_repo.update(full_name=state.full_name, name=state.full_name.split("/")[1], id=state.id)
        base_repo["owner"]["login"] = state.owner
        fork = copy.deepcopy(base_repo)
        if head_repo is not None:
            fork.update(
                full_name=head_repo, name=head_repo.split("/")[1], fork=True, id=state.id + 1
            )
            fork["owner"]["login"] = head_repo.split("/")[0]
        head_owner = (head_repo or state.full_name).split("/")[0]
        pull.update(
            number=number,
            id=next(self._ids),
            url=self._url(f"/repos/{state.full_name}/pulls/{number}"),
            html_url=f"https://github.com/{state.full_name}/pull/{number}",
            state="open",
            merged=False,
            merged_at=None,
            closed_at=None,
        )
        pull["head"].update(ref=head_ref, sha=head_sha, label=f"{head_owner}:{head_ref}", repo=fork)
        pull["base"].update(ref=base_ref, label=f"{state.owner}:{base_ref}", repo=base_repo)
        return pull

    def _get_pull(self, repo: str, number: str, **_: Any) -> JsonReply:
        pull = self.repos[repo].pulls.get(int(number))
        if pull is None:
            return _not_found("pulls/pulls#get-a-pull-request")
        return 200, {}, pull

    def _list_pulls(self, repo: str, params: dict[str, str], **_: Any) -> JsonReply:
        wanted = params.get("state", "open")
        pulls = [
            pull
            for pull in self.repos[repo].pulls.values()
            if (wanted == "all" or pull["state"] == wanted)
            and ("head" not in params or pull["head"]["label"] == params["head"])
        ]
        return self._page(pulls, params, f"/repositories/{self.repos[repo].id}/pulls")

    def _create_pull(self, repo: str, body: dict[str, Any], **_: Any) -> JsonReply:
        state = self.repos[repo]
        doc = "pulls/pulls#create-a-pull-request"
        if body["head"] not in state.refs or body["base"] not in state.refs:
            return _error(
                422,
                "Validation Failed",
                f"https://docs.github.com/rest/{doc}",
                [{"resource": "PullRequest", "field": "head", "code": "invalid"}],
            )
        label = f"{state.owner}:{body['head']}"
        for pull in state.pulls.values():
            same = pull["head"]["label"] == label and pull["base"]["ref"] == body["base"]
            if same and pull["state"] == "open":
                return _unprocessable(f"A pull request already exists for {label}.", doc)
        number = max([*state.pulls, 0]) + 1
        pull = self._pull_object(
            state, number, body["head"], state.refs[body["head"]], body["base"], None
        )
        pull.update(title=body["title"], body=body["body"])
        pull["user"]["login"] = self.actor_login
        state.pulls[number] = pull
        return 201, {}, pull

    def _edit_pull(self, repo: str, number: str, body: dict[str, Any], **_: Any) -> JsonReply:
        pull = self.repos[repo].pulls.get(int(number))
        if pull is None:
            return _not_found("pulls/pulls#update-a-pull-request")
        pull.update({key: body[key] for key in ("title", "body", "state") if key in body})
        return 200, {}, pull

    def _page(self, items: list[Any], params: dict[str, str], link_path: str) -> JsonReply:
        per_page = int(params.get("per_page", 30))
        page = int(params.get("page", 1))
        chunk = items[(page - 1) * per_page : page * per_page]
        last = max(1, -(-len(items) // per_page))
        links = []
        if page < last:
            links.append(
                f'<{self._url(link_path)}?per_page={per_page}&page={page + 1}>; rel="next"'
            )
            links.append(f'<{self._url(link_path)}?per_page={per_page}&page={last}>; rel="last"')
        return 200, ({"Link": ", ".join(links)} if links else {}), chunk

    # --- comments -----------------------------------------------------------------------------

    def _store_comment(self, state: FakeRepo, issue: int, body: str, login: str) -> dict[str, Any]:
        comment: dict[str, Any] = replay_reply("PullRequest.testCreateIssueComment")
        comment_id = next(self._ids)
        comment.update(
            id=comment_id,
            body=body,
            url=self._url(f"/repos/{state.full_name}/issues/comments/{comment_id}"),
            html_url=f"https://github.com/{state.full_name}/pull/{issue}#issuecomment-{comment_id}",
        )
        comment["user"]["login"] = login
        state.comments.setdefault(issue, []).append(comment)
        return comment

    def _list_comments(self, repo: str, number: str, params: dict[str, str], **_: Any) -> JsonReply:
        state = self.repos[repo]
        link = f"/repositories/{state.id}/issues/{number}/comments"
        return self._page(state.comments.get(int(number), []), params, link)

    def _comment_too_long(self, body: dict[str, Any]) -> JsonReply | None:
        if len(body["body"]) <= 65_536:
            return None
        return _error(
            422,
            "Validation Failed",
            "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
            [
                {
                    "resource": "IssueComment",
                    "code": "unprocessable",
                    "field": "data",
                    "message": "Body is too long (maximum is 65536 characters)",
                }
            ],
        )

    def _create_comment(self, repo: str, number: str, body: dict[str, Any], **_: Any) -> JsonReply:
        state = self.repos[repo]
        if int(number) not in state.pulls:
            return _not_found("issues/comments#create-an-issue-comment")
        too_long = self._comment_too_long(body)
        if too_long:
            return too_long
        return 201, {}, self._store_comment(state, int(number), body["body"], self.actor_login)

    def _edit_comment(self, repo: str, id: str, body: dict[str, Any], **_: Any) -> JsonReply:
        too_long = self._comment_too_long(body)
        if too_long:
            return too_long
        for comments in self.repos[repo].comments.values():
            for comment in comments:
                if comment["id"] == int(id):
                    reply: dict[str, Any] = replay_reply("IssueComment.testEdit")
                    comment["body"] = body["body"]
                    reply.update({key: comment[key] for key in ("id", "body", "url", "html_url")})
                    reply["user"]["login"] = comment["user"]["login"]
                    return 200, {}, reply
        return _not_found("issues/comments#update-an-issue-comment")

    # --- checks and statuses ------------------------------------------------------------------

    def _create_check_run(self, repo: str, body: dict[str, Any], **_: Any) -> JsonReply:
        state = self.repos[repo]
        run: dict[str, Any] = replay_reply("CheckRun.testCreateCheckRunInProgress", 0)
        run_id = next(self._ids)
        run.update(
            id=run_id,
            name=body["name"],
            head_sha=body["head_sha"],
            status=body.get("status", "queued"),
            conclusion=None,
            external_id=body.get("external_id", ""),
            details_url=body.get("details_url"),
            url=self._url(f"/repos/{repo}/check-runs/{run_id}"),
            html_url=f"https://github.com/{repo}/runs/{run_id}",
        )
        run["output"] = {"title": None, "summary": None, "text": None, "annotations_count": 0}
        run["annotations"] = []  # kept by the fake so tests can read them back
        state.check_runs[run_id] = run
        return 201, {}, run

    def _update_check_run(self, repo: str, id: str, body: dict[str, Any], **_: Any) -> JsonReply:
        run = self.repos[repo].check_runs.get(int(id))
        if run is None:
            return _not_found("checks/runs#update-a-check-run")
        output = body.get("output", {})
        annotations = output.get("annotations", [])
        if len(annotations) > 50:
            return _unprocessable(
                "Only 50 annotations may be sent per request", "checks/runs#update-a-check-run"
            )
        if "conclusion" in body:
            run.update(status="completed", conclusion=body["conclusion"])
        for key in ("title", "summary", "text"):
            if key in output:
                run["output"][key] = output[key]
        run["annotations"].extend(annotations)
        run["output"]["annotations_count"] = len(run["annotations"])
        if "actions" in body:
            run["actions"] = body["actions"]
        reply: dict[str, Any] = replay_reply("CheckRun.testCreateCheckRunInProgress", 1)
        reply.update({key: value for key, value in run.items() if key != "annotations"})
        return 200, {}, reply

    def _create_status(self, repo: str, sha: str, body: dict[str, Any], **_: Any) -> JsonReply:
        if len(body.get("description", "")) > 140:
            return _unprocessable(
                "description is too long (maximum is 140 characters)",
                "commits/statuses#create-a-commit-status",
            )
        status: dict[str, Any] = replay_reply("Commit.testCreateStatusWithAllParameters")
        status.update(body)
        status["url"] = self._url(f"/repos/{repo}/statuses/{sha}")
        self.repos[repo].statuses.append({"sha": sha, **body})
        return 201, {}, status

    # --- git data -----------------------------------------------------------------------------

    def _ref_object(self, repo: str, branch: str, sha: str, template: str) -> dict[str, Any]:
        ref: dict[str, Any] = replay_reply(template)
        ref.update(
            ref=f"refs/heads/{branch}", url=self._url(f"/repos/{repo}/git/refs/heads/{branch}")
        )
        ref["object"].update(sha=sha, url=self._url(f"/repos/{repo}/git/commits/{sha}"))
        return ref

    def _get_ref(self, repo: str, branch: str, **_: Any) -> JsonReply:
        sha = self.repos[repo].refs.get(branch)
        if sha is None:
            return _not_found("git/refs#get-a-reference")
        return 200, {}, self._ref_object(repo, branch, sha, "Repository.testCreateGitRef")

    def _create_ref(self, repo: str, body: dict[str, Any], **_: Any) -> JsonReply:
        state = self.repos[repo]
        branch = body["ref"].removeprefix("refs/heads/")
        if branch in state.refs:
            return _unprocessable("Reference already exists", "git/refs#create-a-reference")
        if body["sha"] not in state.commits:
            return _unprocessable("Object does not exist", "git/refs#create-a-reference")
        state.refs[branch] = body["sha"]
        return 201, {}, self._ref_object(repo, branch, body["sha"], "Repository.testCreateGitRef")

    def _is_ancestor(self, state: FakeRepo, ancestor: str, sha: str) -> bool:
        pending = [sha]
        while pending:
            current = pending.pop()
            if current == ancestor:
                return True
            pending.extend(state.commits[current].parents if current in state.commits else [])
        return False

    def _update_ref(self, repo: str, branch: str, body: dict[str, Any], **_: Any) -> JsonReply:
        state = self.repos[repo]
        doc = "git/refs#update-a-reference"
        if branch not in state.refs:
            return _unprocessable("Reference does not exist", doc)
        if not body.get("force") and not self._is_ancestor(state, state.refs[branch], body["sha"]):
            return _unprocessable("Update is not a fast forward", doc)
        state.refs[branch] = body["sha"]
        return 200, {}, self._ref_object(repo, branch, body["sha"], "GitRef.testEditWithForce")

    def _git_commit_object(self, repo: str, commit: _Commit, template: int) -> dict[str, Any]:
        reply: dict[str, Any] = replay_reply("Repository.testCreateGitCommitWithParents", template)
        reply.update(
            sha=commit.sha,
            message=commit.message,
            url=self._url(f"/repos/{repo}/git/commits/{commit.sha}"),
            parents=[
                {"sha": p, "url": self._url(f"/repos/{repo}/git/commits/{p}")}
                for p in commit.parents
            ],
        )
        reply["tree"] = {
            "sha": commit.tree,
            "url": self._url(f"/repos/{repo}/git/trees/{commit.tree}"),
        }
        for role, login in (("author", commit.author), ("committer", commit.committer)):
            reply[role].update(name=login or "A Person", email=f"{login or 'person'}@example.com")
        return reply

    def _get_git_commit(self, repo: str, sha: str, **_: Any) -> JsonReply:
        commit = self.repos[repo].commits.get(sha)
        if commit is None:
            return _not_found("git/commits#get-a-commit-object")
        return 200, {}, self._git_commit_object(repo, commit, 0)

    def _get_commit(self, repo: str, sha: str, **_: Any) -> JsonReply:
        # The REST commit wraps the git commit and adds the GitHub accounts it maps to.
        commit = self.repos[repo].commits.get(sha)
        if commit is None:
            return _not_found("commits/commits#get-a-commit")
        user = webhook_payload("pull_request/opened.payload.json")["sender"]

        def account(login: str | None) -> dict[str, Any] | None:
            return None if login is None else {**user, "login": login}

        git_commit = self._git_commit_object(repo, commit, 0)
        return (
            200,
            {},
            {
                "sha": sha,
                "url": self._url(f"/repos/{repo}/commits/{sha}"),
                "commit": git_commit,
                "author": account(commit.author),
                "committer": account(commit.committer),
                "parents": git_commit["parents"],
            },
        )

    def _create_blob(self, repo: str, body: dict[str, Any], **_: Any) -> JsonReply:
        # No recorded blob reply exists; GitHub's documented reply is exactly these two fields.
        content = (
            base64.b64decode(body["content"])
            if body.get("encoding") == "base64"
            else body["content"].encode()
        )
        sha = self._store_blob(self.repos[repo], content)
        return 201, {}, {"sha": sha, "url": self._url(f"/repos/{repo}/git/blobs/{sha}")}

    def _create_tree(self, repo: str, body: dict[str, Any], **_: Any) -> JsonReply:
        state = self.repos[repo]
        doc = "git/trees#create-a-tree"
        base = body.get("base_tree")
        if base is not None and base not in state.trees:
            return _unprocessable("GitRPC::BadObjectState", doc)
        entries = dict(state.trees[base]) if base else {}
        for entry in body["tree"]:
            if entry["sha"] is None:
                if entry["path"] not in entries:
                    return _unprocessable("GitRPC::BadObjectState", doc)
                del entries[entry["path"]]
            elif entry["sha"] not in state.blobs:
                return _unprocessable(f"tree.sha {entry['sha']} is not a valid blob", doc)
            else:
                entries[entry["path"]] = entry["sha"]
        sha = self._store_tree(state, entries)
        reply: dict[str, Any] = replay_reply("Repository.testCreateGitTree")
        template = reply["tree"][0]
        reply.update(
            sha=sha,
            url=self._url(f"/repos/{repo}/git/trees/{sha}"),
            tree=[
                {
                    **template,
                    "path": path,
                    "sha": blob,
                    "size": len(state.blobs[blob]),
                    "url": self._url(f"/repos/{repo}/git/blobs/{blob}"),
                }
                for path, blob in sorted(entries.items())
            ],
        )
        return 201, {}, reply

    def _create_git_commit(self, repo: str, body: dict[str, Any], **_: Any) -> JsonReply:
        state = self.repos[repo]
        doc = "git/commits#create-a-commit"
        if body["tree"] not in state.trees or any(p not in state.commits for p in body["parents"]):
            return _unprocessable("Tree SHA does not exist", doc)
        # Without an explicit author GitHub records the authenticated actor.
        author = None if "author" in body else self.actor_login
        sha = self._store_commit(
            state, body["tree"], list(body["parents"]), body["message"], author, author
        )
        return 201, {}, self._git_commit_object(repo, state.commits[sha], 3)

    def _installation_token(self, id: str, **_: Any) -> JsonReply:
        recorded = _replay("GithubIntegration.testGetAccessToken")
        for exchange in recorded:
            if exchange.path == f"/app/installations/{id}/access_tokens":
                return exchange.status, {}, exchange.reply()
        if int(id) in self.installations:
            # An installation the test declared: GitHub's recorded reply, as for any id.
            return recorded[0].status, {}, recorded[0].reply()
        return _not_found("apps/apps#create-an-installation-access-token-for-an-app")


def calls_to(fake: FakeGitHub, method: str, path_prefix: str) -> Iterator[RecordedCall]:
    """Recorded calls of one method whose path starts with `path_prefix`."""
    return (c for c in fake.calls if c.method == method and c.path.startswith(path_prefix))
