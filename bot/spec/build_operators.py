"""The operator tree: spec operators to Nodes, leaf refs, inlined journeys and their cycles."""

from __future__ import annotations

from collections.abc import Sequence

from bot.spec.build_components import build_components
from bot.spec.build_context import JOURNEY_PREFIX, WEIGHT_TOLERANCE, BuildContext, provenance
from bot.spec.domain import Node, OpKind
from bot.spec.errors import did_you_mean, format_path
from bot.spec.journey import (
    AsyncOp,
    BranchOp,
    FallbackOp,
    LeafRef,
    OptionalOp,
    ParallelOp,
    QuorumOp,
    RaceOp,
    RetryOp,
    SeriesOp,
)
from bot.spec.wire import duration_seconds
from bot.spec.yamlpos import PathKey


def build_node(ctx: BuildContext, op: object, path: PathKey) -> Node | None:
    src = provenance(ctx.doc, path)
    fp = ctx.prefix + format_path(path)
    if isinstance(op, LeafRef):
        return _build_leaf(ctx, op, path)

    def kids(items: Sequence[object], key: str) -> tuple[Node, ...] | None:
        built = [build_node(ctx, item, (*path, key, i)) for i, item in enumerate(items)]
        if any(b is None for b in built):
            return None
        return tuple(b for b in built if b is not None)

    if isinstance(op, SeriesOp):
        children = kids(op.steps, "steps")
        return None if children is None else Node("series", fp, src, children)
    if isinstance(op, ParallelOp):
        children = kids(op.branches, "branches")
        return None if children is None else Node("parallel", fp, src, children)
    if isinstance(op, RaceOp):
        children = kids(op.branches, "branches")
        delay = duration_seconds(op.hedge_delay) if op.hedge_delay else 0.0
        return None if children is None else Node("race", fp, src, children, hedge_delay=delay)
    if isinstance(op, FallbackOp):
        children = kids(op.alternatives, "alternatives")
        timeout = duration_seconds(op.per_try_timeout) if op.per_try_timeout else None
        return None if children is None else Node("fallback", fp, src, children, timeout=timeout)
    if isinstance(op, RetryOp):
        child = build_node(ctx, op.target, (*path, "target"))
        timeout = duration_seconds(op.per_try_timeout) if op.per_try_timeout else None
        return (
            None
            if child is None
            else Node(
                "retry",
                fp,
                src,
                (child,),
                timeout=timeout,
                attempts=op.attempts,
                retriable_share=op.retriable_share,
            )
        )
    if isinstance(op, BranchOp):
        total = sum(r.weight for r in op.routes)
        if abs(total - 1.0) > WEIGHT_TOLERANCE:
            ctx.problems.append(
                ctx.doc.problem((*path, "routes"), f"route weights sum to {total:g}, expected 1")
            )
            return None
        built = [
            build_node(ctx, r.target, (*path, "routes", i, "target"))
            for i, r in enumerate(op.routes)
        ]
        if any(b is None for b in built):
            return None
        return Node(
            "branch",
            fp,
            src,
            tuple(b for b in built if b is not None),
            weights=tuple(r.weight for r in op.routes),
        )
    if isinstance(op, QuorumOp):
        children = kids(op.members, "members")
        if children is None:
            return None
        if op.required > len(children):
            ctx.problems.append(
                ctx.doc.problem(
                    (*path, "required"),
                    f"required {op.required} is more than the {len(children)} members",
                )
            )
            return None
        return Node("quorum", fp, src, children, required=op.required)
    if isinstance(op, OptionalOp | AsyncOp):
        child = build_node(ctx, op.target, (*path, "target"))
        kind: OpKind = "optional" if isinstance(op, OptionalOp) else "async"
        return None if child is None else Node(kind, fp, src, (child,))
    raise TypeError(f"unexpected operator {type(op).__name__}")


def _build_leaf(ctx: BuildContext, op: LeafRef, path: PathKey) -> Node | None:
    ref_path = (*path, "ref")
    timeout = duration_seconds(op.timeout) if op.timeout else None
    if op.ref.startswith(JOURNEY_PREFIX):
        return _build_subjourney(ctx, op.ref[len(JOURNEY_PREFIX) :], ref_path)
    if op.ref not in ctx.intent.spec.components:
        names = sorted(ctx.intent.spec.components)
        ctx.problems.append(
            ctx.doc.problem(
                ref_path,
                f"unknown component '{op.ref}'{did_you_mean(op.ref, names)}; "
                f"components: {', '.join(names)}",
            )
        )
        return None
    return Node(
        "leaf",
        ctx.prefix + format_path(path),
        provenance(ctx.doc, ref_path),
        component=op.ref,
        timeout=timeout,
    )


def _build_subjourney(ctx: BuildContext, name: str, ref_path: PathKey) -> Node | None:
    """Inline another journey's operator tree (`ref: journey:payment`), refusing cycles."""
    if name in ctx.stack:
        cycle = " → ".join((*ctx.stack, name))
        ctx.problems.append(ctx.doc.problem(ref_path, f"journey reference cycle: {cycle}"))
        return None
    target = next((j for j in ctx.ws.journeys if j.model.metadata.name == name), None)
    if target is None:
        names = [j.model.metadata.name for j in ctx.ws.journeys]
        ctx.problems.append(
            ctx.doc.problem(ref_path, f"unknown journey '{name}'{did_you_mean(name, names)}")
        )
        return None
    sub = BuildContext(
        ctx.ws,
        target.doc,
        target.model,
        ctx.problems,
        (*ctx.stack, name),
        ctx.inlined,
        f"{ctx.prefix}{format_path(ref_path)}>{name}:",
    )
    for comp_name, comp in build_components(sub, ctx.ws.accepted.get(name)).items():
        own = ctx.intent.spec.components.get(comp_name)
        if own is not None or (comp_name in ctx.inlined and ctx.inlined[comp_name] != comp):
            ctx.problems.append(
                ctx.doc.problem(
                    ref_path,
                    f"component '{comp_name}' is defined both here and in journey "
                    f"'{name}'; rename one so each name is one component",
                )
            )
            return None
        ctx.inlined[comp_name] = comp
    return build_node(sub, target.model.spec.operator, ("spec", "operator"))
