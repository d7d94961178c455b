"""Images: create, read with visibility rules, list with Glance's filters and keyset pages,
update, delete, and the in-process lookup compute uses to boot.

An "image" here is a dict: the row's columns plus ``tags`` (list) and ``properties``
(custom key → string value).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from pocketstack.common import exceptions
from pocketstack.common.context import RequestContext
from pocketstack.common.db import Database, is_duplicate_error, time_compare, update_generation
from pocketstack.image import tables as t
from pocketstack.image.domain.common import QuotaExceeded, new_id, utcnow
from pocketstack.image.interface import BootImage

#: statuses in which the image has (or is getting) data in the store
IN_PROGRESS = ("saving", "uploading", "importing")

_COLUMN_NAMES = tuple(c.name for c in t.images.columns)


@dataclass(frozen=True)
class Quotas:
    """Per-project limits (negative: unlimited)."""

    image_count_total: int = -1
    image_size_total: int = -1  # bytes of active + in-progress image data
    image_stage_total: int = -1  # bytes of staged data
    image_count_uploading: int = -1
    image_size_cap: int = 1 << 40  # largest single image, bytes
    properties_per_image: int = 128
    tags_per_image: int = 128
    members_per_image: int = 128
    # set when the counts and sizes are the project's keystone unified limits: refusals then
    # read as oslo.limit's, which Glance passes on
    keystone_project: str | None = None


# -- reading -----------------------------------------------------------------------------------
def _decorate(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Attach tags and properties to image rows (two queries for any number of rows)."""
    if not rows:
        return []
    ids = [r["id"] for r in rows]
    out = {r["id"]: dict(r, tags=[], properties={}) for r in rows}
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start:chunk_start + 500]
        for tag in conn.execute(sa.select(t.tags.c.image_id, t.tags.c.value)
                                .where(t.tags.c.image_id.in_(chunk))
                                .order_by(t.tags.c.value)):
            out[tag.image_id]["tags"].append(tag.value)
        for prop in conn.execute(sa.select(t.properties.c.image_id, t.properties.c.name,
                                           t.properties.c.value)
                                 .where(t.properties.c.image_id.in_(chunk))):
            out[prop.image_id]["properties"][prop.name] = prop.value
    return [out[i] for i in ids]


def get(conn: Connection, image_id: str) -> dict[str, Any]:
    """An image by id, whoever may see it (internal use); 404 when absent."""
    row = conn.execute(sa.select(t.images).where(t.images.c.id == image_id)).mappings().first()
    if row is None:
        raise exceptions.NotFound(f"No image found with ID {image_id}")
    return _decorate(conn, [dict(row)])[0]


def member_status(conn: Connection, image_id: str, project_id: str | None) -> str | None:
    if project_id is None:
        return None
    value = conn.execute(sa.select(t.members.c.status).where(
        t.members.c.image_id == image_id, t.members.c.member == project_id)).scalar()
    return None if value is None else str(value)


def can_see(ctx: RequestContext, image: dict[str, Any], status_of_member: str | None) -> bool:
    """Glance's visibility rule for one image."""
    if ctx.is_admin:
        return True
    if image["owner"] is not None and image["owner"] == ctx.project_id:
        return True
    vis = image["visibility"]
    if vis in ("public", "community"):
        return True
    return vis == "shared" and status_of_member is not None


def get_visible(conn: Connection, ctx: RequestContext, image_id: str) -> dict[str, Any]:
    """An image the caller may see (404 otherwise, as Glance answers), with ``member_id``
    set when the caller's project is a member."""
    image = get(conn, image_id)
    status = member_status(conn, image_id, ctx.project_id)
    if not can_see(ctx, image, status):
        raise exceptions.NotFound(f"No image found with ID {image_id}")
    image["member_status"] = status
    return image


def policy_target(image: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    return {
        "project_id": image["owner"] or "",
        "member_id": ctx.project_id if image.get("member_status") else "",
        "visibility": image["visibility"],
    }


# -- listing -----------------------------------------------------------------------------------
_INT_COLUMNS = ("size", "virtual_size", "min_disk", "min_ram")
_BOOL_COLUMNS = ("protected", "os_hidden")
_STR_COLUMNS = ("id", "name", "status", "owner", "container_format", "disk_format", "checksum",
                "os_hash_algo", "os_hash_value")
SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "virtual_size", "id",
             "created_at", "updated_at", "visibility", "owner", "min_disk", "min_ram",
             "protected", "os_hidden")
_NULL_SUBSTITUTE: dict[str, Any] = {
    "name": "", "container_format": "", "disk_format": "", "owner": "", "size": -1,
    "virtual_size": -1,
}
#: created_at/updated_at filter operators (``?updated_at=gte:<time>``)
DATE_OPS = ("gt", "gte", "lt", "lte", "eq", "neq")


@dataclass
class ListQuery:
    """What ``GET /v2/images`` asked for, already parsed."""

    filters: dict[str, list[str]]  # column -> accepted values (``in:`` lists)
    properties: dict[str, str]
    tags: list[str]
    visibility: str | None = None
    member_status: str = "accepted"
    os_hidden: bool | None = False
    size_min: int | None = None
    size_max: int | None = None
    time_filters: list[tuple[str, str, Any]] | None = None  # (column, op, datetime)
    sort: list[tuple[str, str]] | None = None
    limit: int = 25
    marker: str | None = None


def _sort_expr(key: str) -> Any:
    col = t.images.c[key]
    if key in _NULL_SUBSTITUTE:
        return sa.func.coalesce(col, _NULL_SUBSTITUTE[key])
    return col


def _marker_value(key: str, row: dict[str, Any]) -> Any:
    value = row[key]
    if value is None and key in _NULL_SUBSTITUTE:
        return _NULL_SUBSTITUTE[key]
    return value


def coerce_filter(column: str, value: str) -> Any:
    """A query-string filter value as the column's type (int, bool or text); 400 if it is not."""
    if column in _INT_COLUMNS:
        try:
            return int(value)
        except ValueError:
            raise exceptions.BadRequest(f"Invalid value for {column}: {value!r}") from None
    if column in _BOOL_COLUMNS:
        low = value.strip().lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise exceptions.BadRequest(f"Invalid value for {column}: {value!r}")
    return value


def _visibility_clause(ctx: RequestContext, q: ListQuery) -> Any:
    img = t.images.c
    proj = ctx.project_id or ""
    statuses = (list(("pending", "accepted", "rejected")) if q.member_status == "all"
                else [q.member_status])
    is_member = sa.exists().where(t.members.c.image_id == img.id,
                                  t.members.c.member == proj,
                                  t.members.c.status.in_(statuses))
    vis = q.visibility
    if ctx.is_admin:
        return sa.true() if vis in (None, "all") else img.visibility == vis
    own = img.owner == proj
    if vis in (None, "all"):
        # The terms are wrapped in coalesce() on purpose: that keeps SQLite from answering
        # the OR with a union of index lookups (which then sorts every match); instead it
        # walks the (created_at, id) index in page order and stops after one page.
        owner_ = sa.func.coalesce(img.owner, "")
        vis_ = sa.func.coalesce(img.visibility, "")
        visible = ("public", "community") if vis == "all" else ("public",)
        return sa.or_(owner_ == proj, vis_.in_(visible),
                      sa.and_(vis_ == "shared", is_member))
    if vis in ("public", "community"):
        return img.visibility == vis
    if vis == "private":
        return sa.and_(img.visibility == "private", own)
    # shared
    return sa.and_(img.visibility == "shared", sa.or_(own, is_member))


def list_images(conn: Connection, ctx: RequestContext, q: ListQuery
                ) -> tuple[list[dict[str, Any]], bool]:
    """One page of images the caller may see; returns (images, more_pages)."""
    img = t.images.c
    where: list[Any] = [_visibility_clause(ctx, q)]
    if q.os_hidden is not None:
        where.append(img.os_hidden == q.os_hidden)
    for column, values in q.filters.items():
        coerced = [coerce_filter(column, v) for v in values]
        where.append(img[column].in_(coerced) if len(coerced) > 1 else img[column] == coerced[0])
    for name, value in q.properties.items():
        where.append(sa.exists().where(t.properties.c.image_id == img.id,
                                       t.properties.c.name == name,
                                       t.properties.c.value == value))
    for tag in q.tags:
        where.append(sa.exists().where(t.tags.c.image_id == img.id, t.tags.c.value == tag))
    if q.size_min is not None:
        where.append(img.size >= q.size_min)
    if q.size_max is not None:
        where.append(img.size <= q.size_max)
    for column, op, when in q.time_filters or ():
        where.append(time_compare(img[column], op, when))

    sort = list(q.sort or [("created_at", "desc")])
    if not any(key == "id" for key, _ in sort):
        sort.append(("id", sort[-1][1]))
    if q.marker is not None:
        found = conn.execute(sa.select(t.images).where(img.id == q.marker)).mappings().first()
        marker = dict(found) if found is not None else None
        if marker is None or not can_see(ctx, marker,
                                         member_status(conn, q.marker, ctx.project_id)):
            raise exceptions.BadRequest(f"marker not found: {q.marker}")
        ors = []
        for i, (key, direction) in enumerate(sort):
            parts = [_sort_expr(k) == _marker_value(k, marker) for k, _ in sort[:i]]
            expr = _sort_expr(key)
            value = _marker_value(key, marker)
            parts.append(expr > value if direction == "asc" else expr < value)
            ors.append(sa.and_(*parts))
        where.append(sa.or_(*ors))
    order = [(_sort_expr(k).asc() if d == "asc" else _sort_expr(k).desc()) for k, d in sort]
    stmt = sa.select(t.images).where(*where).order_by(*order).limit(q.limit + 1)
    rows = [dict(r) for r in conn.execute(stmt).mappings()]
    more = len(rows) > q.limit
    return _decorate(conn, rows[:q.limit]), more


# -- writing -----------------------------------------------------------------------------------
def _count_owned(conn: Connection, owner: str) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(t.images)
                            .where(t.images.c.owner == owner)).scalar() or 0)


def _count_in_progress(conn: Connection, owner: str) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(t.images).where(
        t.images.c.owner == owner, t.images.c.status.in_(IN_PROGRESS))).scalar() or 0)


def _over_limit(project: str, resource: str, limit: int, used: int, delta: int) -> str:
    """oslo.limit's words for a refusal (Glance answers them as the 413's message)."""
    return (f"Project {project} is over a limit for [Resource {resource} is over limit of "
            f"{limit} due to current usage {used} and delta {delta}]")


def _check_count_quota(conn: Connection, owner: str | None, quotas: Quotas) -> None:
    if quotas.image_count_total < 0 or owner is None:
        return
    count = _count_owned(conn, owner)
    if count >= quotas.image_count_total:
        if quotas.keystone_project is not None:
            raise QuotaExceeded(_over_limit(quotas.keystone_project, "image_count_total",
                                            quotas.image_count_total, count, 1))
        raise QuotaExceeded(
            f"Maximum number of images exceeded: the project may own "
            f"{quotas.image_count_total} image(s).")


def _check_property_quotas(properties: dict[str, str], tags: Iterable[str],
                           quotas: Quotas) -> None:
    if quotas.properties_per_image >= 0 and len(properties) > quotas.properties_per_image:
        raise QuotaExceeded(f"Attempted: {len(properties)}, Maximum: "
                            f"{quotas.properties_per_image} image properties.")
    ntags = len(set(tags))
    if quotas.tags_per_image >= 0 and ntags > quotas.tags_per_image:
        raise QuotaExceeded(f"Attempted: {ntags}, Maximum: {quotas.tags_per_image} image tags.")


def create(conn: Connection, values: dict[str, Any], properties: dict[str, str],
           tags: Iterable[str], quotas: Quotas) -> dict[str, Any]:
    """Register a queued image. ``values`` holds base attributes (already validated)."""
    tags = list(dict.fromkeys(tags))
    _check_property_quotas(properties, tags, quotas)
    _check_count_quota(conn, values.get("owner"), quotas)
    now = utcnow()
    row = {
        "id": values.get("id") or new_id(),
        "name": values.get("name"),
        "status": "queued",
        "visibility": values.get("visibility") or "shared",
        "protected": bool(values.get("protected", False)),
        "os_hidden": bool(values.get("os_hidden", False)),
        "disk_format": values.get("disk_format"),
        "container_format": values.get("container_format"),
        "size": None,
        "virtual_size": None,
        "checksum": None,
        "os_hash_algo": None,
        "os_hash_value": None,
        "owner": values.get("owner"),
        "min_disk": int(values.get("min_disk") or 0),
        "min_ram": int(values.get("min_ram") or 0),
        "created_at": now,
        "updated_at": now,
        "location": None,
        "upload_id": None,
        "staged": None,
        "generation": 0,
    }
    if conn.execute(sa.select(t.images.c.id).where(t.images.c.id == row["id"])).first():
        raise exceptions.Conflict(f"Image with identifier {row['id']} already exists!")
    try:
        conn.execute(sa.insert(t.images).values(**row))
    except IntegrityError as exc:
        if is_duplicate_error(exc):
            raise exceptions.Conflict(f"Image with identifier {row['id']} already exists!"
                                      ) from None
        raise
    if properties:
        conn.execute(sa.insert(t.properties), [
            {"image_id": row["id"], "name": k, "value": v} for k, v in properties.items()])
    if tags:
        conn.execute(sa.insert(t.tags), [{"image_id": row["id"], "value": v} for v in tags])
    return get(conn, str(row["id"]))


def update(conn: Connection, image_id: str, generation: int, columns: dict[str, Any],
           set_properties: dict[str, str] | None = None,
           remove_properties: Iterable[str] = (), tags: list[str] | None = None,
           quotas: Quotas | None = None) -> dict[str, Any]:
    """Change an image if nobody else changed it since ``generation`` was read."""
    columns = dict(columns, updated_at=utcnow())
    update_generation(conn, t.images, image_id, generation, columns)
    remove = list(remove_properties)
    if remove:
        conn.execute(sa.delete(t.properties).where(t.properties.c.image_id == image_id,
                                                   t.properties.c.name.in_(remove)))
    for name, value in (set_properties or {}).items():
        done = conn.execute(sa.update(t.properties).where(
            t.properties.c.image_id == image_id, t.properties.c.name == name
        ).values(value=value))
        if done.rowcount == 0:
            conn.execute(sa.insert(t.properties).values(image_id=image_id, name=name,
                                                        value=value))
    if tags is not None:
        tags = list(dict.fromkeys(tags))
        conn.execute(sa.delete(t.tags).where(t.tags.c.image_id == image_id))
        if tags:
            conn.execute(sa.insert(t.tags), [{"image_id": image_id, "value": v} for v in tags])
    image = get(conn, image_id)
    if quotas is not None:
        _check_property_quotas(image["properties"], image["tags"], quotas)
    return image


def add_tag(conn: Connection, image_id: str, tag: str, quotas: Quotas) -> None:
    image = get(conn, image_id)
    if tag in image["tags"]:
        return
    _check_property_quotas(image["properties"], [*image["tags"], tag], quotas)
    conn.execute(sa.insert(t.tags).values(image_id=image_id, value=tag))
    update_generation(conn, t.images, image_id, image["generation"], {"updated_at": utcnow()})


def delete_tag(conn: Connection, image_id: str, tag: str) -> None:
    image = get(conn, image_id)
    done = conn.execute(sa.delete(t.tags).where(t.tags.c.image_id == image_id,
                                                t.tags.c.value == tag))
    if done.rowcount == 0:
        raise exceptions.NotFound(f"Tag {tag} not found.")
    update_generation(conn, t.images, image_id, image["generation"], {"updated_at": utcnow()})


def delete(conn: Connection, image_id: str) -> list[str]:
    """Remove an image's rows; returns the store locations to delete once committed."""
    image = get(conn, image_id)
    if image["protected"]:
        raise exceptions.Forbidden(f"Image {image_id} is protected and cannot be deleted.")
    conn.execute(sa.delete(t.members).where(t.members.c.image_id == image_id))
    conn.execute(sa.delete(t.tags).where(t.tags.c.image_id == image_id))
    conn.execute(sa.delete(t.properties).where(t.properties.c.image_id == image_id))
    conn.execute(sa.delete(t.images).where(t.images.c.id == image_id))
    locations = [image["location"]] if image["location"] else []
    if image["staged"] and image["staged"].get("location"):
        locations.append(image["staged"]["location"])
    return locations


def set_status(conn: Connection, image_id: str, allowed_from: Sequence[str], to: str,
               action: str) -> None:
    image = get(conn, image_id)
    if image["status"] == to:
        return
    if image["status"] not in allowed_from:
        raise exceptions.BadRequest(
            f"Not allowed to {action} image in status '{image['status']}'")
    update_generation(conn, t.images, image_id, image["generation"],
                      {"status": to, "updated_at": utcnow()})


def activate(conn: Connection, image_id: str, location: str, facts: dict[str, Any]) -> None:
    """Mark an image whose data is already stored active (images the cloud makes itself)."""
    conn.execute(t.images.update().where(t.images.c.id == image_id).values(
        status="active", location=location, updated_at=utcnow(), **facts))


def reset_interrupted(conn: Connection) -> int:
    """Put uploads, stages and imports that a restart cut short back to ``queued``."""
    img = t.images.c
    done = conn.execute(sa.update(t.images).where(sa.or_(
        img.status.in_(("saving", "importing")),
        sa.and_(img.status == "uploading", img.upload_id.is_not(None)),
    )).values(status="queued", upload_id=None, staged=None, updated_at=utcnow(),
              generation=img.generation + 1))
    return int(done.rowcount or 0)


def all_ids(conn: Connection) -> set[str]:
    return {str(i) for i in conn.execute(sa.select(t.images.c.id)).scalars()}


def staged_ids(conn: Connection) -> set[str]:
    """Images whose staged data waits for an import."""
    return {str(i) for i in conn.execute(sa.select(t.images.c.id).where(
        t.images.c.staged.is_not(None))).scalars()}


# -- data uploads ------------------------------------------------------------------------------
@dataclass(frozen=True)
class UploadGrant:
    """What an upload may write: the image, its declared format, and how many bytes."""

    image_id: str
    upload_id: str
    disk_format: str
    container_format: str
    owner: str | None
    max_bytes: int  # -1: unlimited
    limit_reason: str


def _used_bytes(conn: Connection, owner: str | None, exclude: str) -> int:
    if owner is None:
        return 0
    total = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(t.images.c.size), 0))
                         .where(t.images.c.owner == owner, t.images.c.id != exclude)).scalar()
    return int(total or 0)


def _staged_bytes(conn: Connection, owner: str | None, exclude: str) -> int:
    if owner is None:
        return 0
    rows = conn.execute(sa.select(t.images.c.staged).where(
        t.images.c.owner == owner, t.images.c.id != exclude,
        t.images.c.staged.is_not(None))).scalars()
    return sum(int((s or {}).get("size") or 0) for s in rows)


@dataclass(frozen=True)
class ProjectUsage:
    """What a project uses of the image quotas (``GET /v2/info/usage``)."""

    image_count: int  # images the project owns
    size_bytes: int  # sum of their sizes
    uploading: int  # of them being uploaded, staged or imported now
    staged_bytes: int  # bytes sitting in the staging area


def project_usage(conn: Connection, owner: str) -> ProjectUsage:
    """Count a project's images, their bytes, its uploads in flight and its staged bytes."""
    return ProjectUsage(image_count=_count_owned(conn, owner),
                        size_bytes=_used_bytes(conn, owner, ""),
                        uploading=_count_in_progress(conn, owner),
                        staged_bytes=_staged_bytes(conn, owner, ""))


def begin_upload(conn: Connection, image_id: str, stage: bool, quotas: Quotas) -> UploadGrant:
    """queued → saving (upload) or uploading (stage), or 409."""
    image = get(conn, image_id)
    target = "uploading" if stage else "saving"
    if image["status"] != "queued":
        if image["status"] in IN_PROGRESS:
            raise exceptions.Conflict(
                f"Image {image_id} is already being {'staged' if stage else 'uploaded'} "
                f"(status {image['status']}).")
        raise exceptions.Conflict(
            f"Image status transition from {image['status']} to {target} is not allowed")
    if not image["disk_format"] or not image["container_format"]:
        raise exceptions.BadRequest("Properties disk_format, container_format must be set "
                                    "prior to saving data.")
    if quotas.image_count_uploading >= 0 and image["owner"]:
        uploading = _count_in_progress(conn, image["owner"])
        if uploading >= quotas.image_count_uploading:
            if quotas.keystone_project is not None:
                raise QuotaExceeded(_over_limit(quotas.keystone_project, "image_count_uploading",
                                                quotas.image_count_uploading, uploading, 1))
            raise QuotaExceeded("Maximum number of concurrent uploads exceeded.")
    limits: list[tuple[int, str]] = []
    if quotas.image_size_cap >= 0:
        limits.append((quotas.image_size_cap, "Image exceeds the storage quota: the largest "
                       f"image allowed is {quotas.image_size_cap} bytes."))
    if quotas.image_size_total >= 0:
        left = quotas.image_size_total - _used_bytes(conn, image["owner"], image_id)
        limits.append((max(0, left), "Image exceeds the storage quota: the project has "
                       f"{max(0, left)} bytes left of {quotas.image_size_total}."))
    if stage and quotas.image_stage_total >= 0:
        left = quotas.image_stage_total - _staged_bytes(conn, image["owner"], image_id)
        limits.append((max(0, left), "Image exceeds the staging quota: the project has "
                       f"{max(0, left)} bytes left of {quotas.image_stage_total}."))
    max_bytes, reason = min(limits) if limits else (-1, "")
    upload_id = new_id()
    update_generation(conn, t.images, image_id, image["generation"],
                      {"status": target, "upload_id": upload_id, "updated_at": utcnow()})
    return UploadGrant(image_id, upload_id, image["disk_format"], image["container_format"],
                       image["owner"], max_bytes, reason)


def _in_flight(conn: Connection, grant: UploadGrant) -> dict[str, Any] | None:
    row = conn.execute(sa.select(t.images).where(
        t.images.c.id == grant.image_id, t.images.c.upload_id == grant.upload_id
    )).mappings().first()
    return None if row is None else dict(row)


def finish_upload(conn: Connection, grant: UploadGrant, location: str, facts: dict[str, Any],
                  quotas: Quotas, stage: bool) -> None:
    """saving → active with the data's facts (or uploading + staged facts for a stage)."""
    row = _in_flight(conn, grant)
    if row is None:
        raise exceptions.Gone("Image was deleted during the upload.")
    if quotas.image_size_total >= 0 and not stage:
        used = _used_bytes(conn, grant.owner, grant.image_id)
        if used + facts["size"] > quotas.image_size_total:
            raise QuotaExceeded("Image exceeds the storage quota (concurrent uploads used the "
                                "space first).")
    if stage:
        values: dict[str, Any] = {"staged": dict(facts, location=location), "upload_id": None}
    else:
        values = {
            "status": "active", "location": location, "upload_id": None,
            "size": facts["size"], "virtual_size": facts["virtual_size"],
            "checksum": facts["checksum"], "os_hash_algo": facts["os_hash_algo"],
            "os_hash_value": facts["os_hash_value"],
        }
    values["updated_at"] = utcnow()
    update_generation(conn, t.images, grant.image_id, row["generation"], values)


def abort_upload(conn: Connection, grant: UploadGrant) -> None:
    """Back to queued after a failed upload or stage (no-op if the image is gone)."""
    row = _in_flight(conn, grant)
    if row is None:
        return
    update_generation(conn, t.images, grant.image_id, row["generation"],
                      {"status": "queued", "upload_id": None, "staged": None,
                       "updated_at": utcnow()})


# -- compute's view (the BootImage type is in pocketstack.image.interface) --------------------
def get_image_for_boot(db: Database, ctx: RequestContext, image_id: str) -> BootImage:
    """The image ``ctx`` wants to boot: 404 if it cannot see it, 400 unless it is active."""

    def read(conn: Connection) -> dict[str, Any]:
        return get_visible(conn, ctx, image_id)

    image: dict[str, Any] = db.read(read)
    if image["status"] != "active":
        raise exceptions.BadRequest(f"Image {image_id} is not active.")
    return BootImage(
        id=image["id"], name=image["name"], status=image["status"],
        disk_format=image["disk_format"], container_format=image["container_format"],
        size=image["size"], virtual_size=image["virtual_size"], min_disk=image["min_disk"],
        min_ram=image["min_ram"], location=image["location"],
        properties=dict(image["properties"]),
    )
