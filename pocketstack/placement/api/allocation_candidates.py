"""``GET /allocation_candidates`` (1.10+), granular groups from 1.25."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest
from pocketstack.placement import errors
from pocketstack.placement.api.common import (
    at_least,
    check_params,
    check_uuid,
    enforce,
    http_date,
    parse_member_of,
    parse_required,
    parse_resources,
    require,
    single,
    svc,
)
from pocketstack.placement.domain import candidates, snapshot

_NUMBERED = re.compile(r"^(resources|required|member_of|in_tree)([1-9][0-9]*)$")
_STRING = re.compile(r"^(resources|required|member_of|in_tree)(_[A-Za-z0-9_-]{1,64})$")


def _allowed(req: ApiRequest) -> tuple[set[str], tuple[re.Pattern[str], ...]]:
    names = {"resources"}
    for version, extra in (("1.16", "limit"), ("1.17", "required"), ("1.21", "member_of"),
                           ("1.25", "group_policy"), ("1.31", "in_tree"),
                           ("1.35", "root_required"), ("1.36", "same_subtree")):
        if at_least(req, version):
            names.add(extra)
    patterns: tuple[re.Pattern[str], ...] = ()
    if at_least(req, "1.33"):
        patterns = (_NUMBERED, _STRING)
    elif at_least(req, "1.25"):
        patterns = (_NUMBERED,)
    return names, patterns


def _group(req: ApiRequest, suffix: str) -> candidates.RequestGroup:
    resources_text = single(req, f"resources{suffix}")
    group = candidates.RequestGroup(suffix=suffix)
    if resources_text is not None:
        group.resources = parse_resources(resources_text)
    required_values = req.query.getlist(f"required{suffix}")
    if len(required_values) > 1 and not at_least(req, "1.39"):
        required_values = required_values[-1:]
    if any(not v for v in required_values):
        raise errors.bad_query(f"Invalid query string parameters: 'required{suffix}' is empty")
    group.required, group.forbidden = parse_required(
        req, required_values, at_least(req, "1.22"), at_least(req, "1.39"))
    member_values = req.query.getlist(f"member_of{suffix}")
    if len(member_values) > 1 and not at_least(req, "1.24"):
        member_values = member_values[-1:]
    group.member_of, group.forbidden_aggs = parse_member_of(member_values,
                                                            at_least(req, "1.32"))
    in_tree = single(req, f"in_tree{suffix}")
    if in_tree is not None:
        group.in_tree = check_uuid(in_tree, f"in_tree{suffix}")
    if (group.required or group.forbidden or group.member_of or group.forbidden_aggs
            or group.in_tree) and not group.resources and suffix:
        raise errors.bad_query(
            f"All traits parameters must be associated with resources. Found the following "
            f"suffixed traits parameters: required{suffix}")
    return group


def _query(req: ApiRequest) -> candidates.Query:
    names, patterns = _allowed(req)
    check_params(req, names, patterns)
    suffixes = sorted({m.group(2) for key in req.query.keys()
                       for p in patterns if (m := p.match(key))})
    groups = []
    if any(k in req.query for k in ("resources", "required", "member_of", "in_tree")):
        groups.append(_group(req, ""))
    groups += [_group(req, s) for s in suffixes]
    if not groups or not any(g.resources for g in groups):
        raise exceptions.BadRequest(
            "Invalid query string parameters: 'resources' is a required property",
            code=errors.QUERYPARAM_MISSING_VALUE)
    if groups[0].suffix == "" and not groups[0].resources and len(groups) == 1:
        raise exceptions.BadRequest("'resources' is a required property",
                                    code=errors.QUERYPARAM_MISSING_VALUE)
    policy = single(req, "group_policy")
    if policy is not None and policy not in ("none", "isolate"):
        raise errors.bad_query(f"Invalid group_policy: {policy!r} is not one of "
                               "['none', 'isolate']")
    if len(suffixes) > 1 and policy is None:
        raise exceptions.BadRequest(
            'The "group_policy" parameter is required when specifying more than one '
            '"resources{N}" parameter.', code=errors.QUERYPARAM_MISSING_VALUE)
    query = candidates.Query(groups, group_policy=policy)
    limit = single(req, "limit")
    if limit is not None:
        if not limit.isdigit() or int(limit) < 1:
            raise errors.bad_query(f"Invalid query string parameters: limit must be a positive "
                                   f"integer. Got: {limit}")
        query.limit = int(limit)
    root_required = req.query.getlist("root_required")
    if root_required:
        if any(not v or v.startswith("in:") for v in root_required):
            raise errors.bad_query("Invalid query string parameters: root_required")
        query.root_required, query.root_forbidden = parse_required(req, root_required, True,
                                                                   False)
    for value in req.query.getlist("same_subtree"):
        listed = [s.strip() for s in value.split(",")]
        if any(s not in suffixes for s in listed):
            raise errors.bad_query(
                f"Real suffixes should be specified in same_subtree: {value}")
        query.same_subtree.append(listed)
    return query


def list_candidates(req: ApiRequest) -> Response:
    require(req, "1.10")
    enforce(req, "allocation_candidates:list")
    query = _query(req)
    cache = snapshot.cache_for(svc(req).db)
    snap = cache.get()
    # The document depends only on the data (the revision), the microversion and the query.
    key = ("allocation_candidates", str(req.microversion), str(req.query))

    def build() -> bytes:
        candidates.check_names(snap, query)
        result = candidates.search(snap, query)
        if len(query.groups) == 1 and at_least(req, "1.29"):
            return _render_fast(req, query, result)
        return json.dumps(_render(req, query, result), separators=(",", ":")).encode()

    document = cache.response(snap.revision, key, build)
    headers = {"Cache-Control": "no-cache", "Last-Modified": http_date(None)} \
        if at_least(req, "1.15") else None
    return Response(document, headers=headers, media_type="application/json")


def _render_fast(req: ApiRequest, query: candidates.Query, result: candidates.Result
                 ) -> bytes:
    """The common scheduler request (one group, 1.29+) written straight to JSON text: the
    same document :func:`_render` builds, without a dict per candidate and provider; each
    provider's summary text is built once per snapshot."""
    snap = result.snapshot
    uuid = snap.uuids
    with_mappings = at_least(req, "1.34")
    suffix = json.dumps(query.groups[0].suffix)
    group_suffix = query.groups[0].suffix
    res_text: dict[int, str] = {}
    parts = []
    touched: set[int] = set()
    resources = json.dumps(result.resources, separators=(",", ":"))
    for cand in result.items:
        if isinstance(cand, int):  # the usual: one provider takes it all
            u = uuid[cand]
            if not result.resources:  # (not from the API: it needs resources)
                if with_mappings:
                    touched.add(cand)
                parts.append(f'{{"allocations":{{}},"mappings":{{{suffix}:["{u}"]}}}}'
                             if with_mappings else '{"allocations":{}}')
                continue
            touched.add(cand)
            parts.append(
                f'{{"allocations":{{"{u}":{{"resources":{resources}}}}},"mappings":{{{suffix}:'
                f'["{u}"]}}}}' if with_mappings else
                f'{{"allocations":{{"{u}":{{"resources":{resources}}}}}}}')
            continue
        allocs = []
        for pid, res in cand.allocations.items():
            touched.add(pid)
            text = res_text.get(id(res))
            if text is None:
                text = res_text[id(res)] = json.dumps(res, separators=(",", ":"))
            allocs.append(f'"{uuid[pid]}":{{"resources":{text}}}')
        entry = '{"allocations":{' + ",".join(allocs) + "}"
        if with_mappings:
            used = cand.mappings[group_suffix]
            touched.update(used)
            entry += ',"mappings":{' + suffix + ":[" + ",".join(
                f'"{uuid[p]}"' for p in used) + "]}"
        parts.append(entry + "}")
    providers = snap.providers
    trees = snap.trees
    roots = {providers[p]["root_id"] for p in touched}
    involved = sorted(roots if all(len(trees.get(r, ())) == 1 for r in roots) else
                      [p for r in roots for p in trees.get(r, [])])
    summaries = snap.text
    text = ('{"allocation_requests":[' + ",".join(parts) + '],"provider_summaries":{'
            + ",".join([summaries.get(("summary", pid)) or _summary_text(snap, pid)
                        for pid in involved]) + "}}")
    return text.encode()


def _summary_text(snap: snapshot.Snapshot, pid: int) -> str:
    """``"uuid":{resources, traits, parent and root uuid}`` (1.29+), kept in the snapshot."""
    uuid = snap.uuids
    row = snap.providers[pid]
    resources = ",".join(f'"{rc}":{{"capacity":{inv.capacity},"used":{inv.used}}}'
                         for rc, inv in snap.inventories.get(pid, {}).items())
    have = snap.traits.get(pid)
    traits_text = json.dumps(sorted(have)) if have else "[]"
    parent = uuid.get(row["parent_id"])
    parent_text = f'"{parent}"' if parent else "null"
    text = (f'"{uuid[pid]}":{{"resources":{{{resources}}},"traits":{traits_text},'
            f'"parent_provider_uuid":{parent_text},'
            f'"root_provider_uuid":"{uuid[row["root_id"]]}"}}')
    snap.text[("summary", pid)] = text
    return text


def _render(req: ApiRequest, query: candidates.Query, result: candidates.Result
            ) -> dict[str, Any]:
    uuid = result.snapshot.uuids
    dict_form = at_least(req, "1.12")
    with_mappings = at_least(req, "1.34")
    requests = []
    touched: list[int] = []
    for cand in result.candidates:
        touched.extend(cand.allocations)
        for used in cand.mappings.values():
            touched.extend(used)
        if dict_form:
            entry: dict[str, Any] = {"allocations": {
                uuid[pid]: {"resources": res} for pid, res in cand.allocations.items()}}
            if with_mappings:
                entry["mappings"] = {s: [uuid[p] for p in used]
                                     for s, used in cand.mappings.items()}
        else:
            entry = {"allocations": [{"resource_provider": {"uuid": uuid[pid]},
                                      "resources": res}
                                     for pid, res in cand.allocations.items()]}
        requests.append(entry)
    involved = set(touched)
    nested = at_least(req, "1.29")
    if nested:
        roots = {result.providers[p]["root_id"] for p in involved}
        involved = {p for r in roots for p in result.trees.get(r, [])}
    all_classes = at_least(req, "1.27")
    requested = {rc for g in query.groups for rc in g.resources}
    with_traits = at_least(req, "1.17")
    summaries: dict[str, Any] = {}
    for pid in sorted(involved):
        invs = result.inventories.get(pid, {})
        summary: dict[str, Any] = {"resources": {
            rc: {"capacity": inv.capacity, "used": inv.used}
            for rc, inv in invs.items() if all_classes or rc in requested}}
        if with_traits:
            summary["traits"] = sorted(result.traits.get(pid, ()))
        if nested:
            row = result.providers[pid]
            summary["parent_provider_uuid"] = uuid.get(row["parent_id"])
            summary["root_provider_uuid"] = uuid[row["root_id"]]
        summaries[uuid[pid]] = summary
    return {"allocation_requests": requests, "provider_summaries": summaries}
