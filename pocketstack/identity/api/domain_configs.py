"""Domain configuration: ``/v3/domains/{domain_id}/config[/{group}[/{option}]]`` and the
defaults at ``/v3/domains/config[/{group}[/{option}]]/default``."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.identity.api.common import enforce, svc
from pocketstack.identity.domain import domain_configs, domains

SECURITY_COMPLIANCE = "security_compliance"
READABLE_COMPLIANCE = ("password_regex", "password_regex_description")


def _where(req: ApiRequest) -> tuple[str, str | None, str | None]:
    p = req.path_params
    return p["domain_id"], p.get("group"), p.get("option")


def _config_body(req: ApiRequest) -> Any:
    data = req.json()
    if not isinstance(data, dict) or "config" not in data:
        raise exceptions.ValidationError("Invalid input: 'config' is a required property.")
    return data["config"]


def _security_compliance(req: ApiRequest, domain_id: str, option: str | None) -> Response:
    enforce(req, "identity:get_security_compliance_domain_config")
    if domain_id != domains.DEFAULT_DOMAIN_ID:
        raise exceptions.Forbidden(
            "Invalid domain specific configuration: Reading security compliance information "
            "for any domain other than the default domain is not allowed or supported.")
    rules = svc(req).rules
    values = {"password_regex": rules.password_regex or None,
              "password_regex_description": rules.password_regex_description or None}
    if option is None:
        return json_response({"config": {SECURITY_COMPLIANCE: values}})
    if option not in READABLE_COMPLIANCE:
        raise exceptions.Forbidden(
            "Invalid domain specific configuration: Reading security compliance values other "
            "than password_regex and password_regex_description is not allowed.")
    return json_response({"config": {option: values[option]}})


def get_config(req: ApiRequest) -> Response:
    domain_id, group, option = _where(req)
    if group == SECURITY_COMPLIANCE:
        return _security_compliance(req, domain_id, option)
    enforce(req, "identity:get_domain_config")

    def read(conn):  # type: ignore[no-untyped-def]
        domains.get(conn, domain_id)
        return domain_configs.get(conn, domain_id, group, option)

    return json_response({"config": svc(req).db.read(read)})


def create_config(req: ApiRequest) -> Response:
    domain_id = req.path_params["domain_id"]
    enforce(req, "identity:create_domain_config")
    config = _config_body(req)

    def write(conn):  # type: ignore[no-untyped-def]
        domains.get(conn, domain_id)
        existed = domain_configs.has_any(conn, domain_id)
        return existed, domain_configs.replace(conn, domain_id, config)

    existed, result = svc(req).db.write(write)
    return json_response({"config": result}, status=200 if existed else 201)


def update_config(req: ApiRequest) -> Response:
    domain_id, group, option = _where(req)
    enforce(req, "identity:update_domain_config")
    config = _config_body(req)

    def write(conn):  # type: ignore[no-untyped-def]
        domains.get(conn, domain_id)
        return domain_configs.update(conn, domain_id, config, group, option)

    return json_response({"config": svc(req).db.write(write)})


def delete_config(req: ApiRequest) -> Response:
    domain_id, group, option = _where(req)
    enforce(req, "identity:delete_domain_config")

    def write(conn):  # type: ignore[no-untyped-def]
        domains.get(conn, domain_id)
        domain_configs.delete(conn, domain_id, group, option)

    svc(req).db.write(write)
    return empty_response()


def get_default(req: ApiRequest) -> Response:
    enforce(req, "identity:get_domain_config_default")
    p = req.path_params
    return json_response({"config": domain_configs.default(p.get("group"), p.get("option"))})
