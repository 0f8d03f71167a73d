"""Every request authenticated by the hub; users see only their own notebooks; admins all."""

import pytest
import requests

from .harness import Api, notebook_body
from .helpers import login, token_of


def test_no_credentials_is_a_401_envelope_not_a_redirect(hub):
    for base in (hub.direct, hub.public + "/services/submarine"):
        for method, url in [
            ("GET", "/api/v1/notebook"),
            ("POST", "/api/v1/notebook"),
            ("GET", "/api/v1/notebook/notebook_1_0001"),
            ("GET", "/api/v1/environment"),
            ("DELETE", "/api/v1/environment/notebook-env"),
        ]:
            response = requests.request(method, base + url, allow_redirects=False, timeout=10)
            assert response.status_code == 401, (base, url)
            body = response.json()
            assert body["status"] == "UNAUTHORIZED" and body["success"] is False
            assert "token" in body["message"]


def test_bad_token_is_refused(hub):
    for header in ("token not-a-token", "Bearer not-a-token", "Basic abc"):
        response = requests.get(hub.direct + "/api/v1/notebook", headers={"Authorization": header}, timeout=10)
        assert response.status_code == 401


def test_bearer_header_works(hub, alice):
    owner, api = alice
    token = token_of(api)
    response = requests.get(hub.direct + "/api/v1/notebook", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200


def test_users_see_and_change_only_their_own(hub, alice, bob, notebooks):
    (_, api), (other, other_api) = alice, bob
    bobs = notebooks.create(other_api, "bobs", resources="")["notebookId"]

    for method, url in [
        ("GET", f"/api/v1/notebook/{bobs}"),
        ("DELETE", f"/api/v1/notebook/{bobs}"),
        ("GET", f"/api/v1/notebook?id={other}"),
    ]:
        code, body = api.call(method, url)
        assert code == 403, (url, body)
        assert body["status"] == "FORBIDDEN" and other in body["message"]
    code, body = api.call("POST", "/api/v1/notebook", notebook_body("for-bob", other))
    assert code == 403 and "only the owner and admins" in body["message"]
    assert set(hub.hub_user(other)["servers"]) - {""} == {"bobs"}

    code, body = api.call("GET", "/api/v1/notebook")
    assert code == 200 and body["result"] == []

    # the admin sees and deletes anyone's
    code, body = hub.admin.call("GET", f"/api/v1/notebook/{bobs}")
    assert code == 200 and body["result"]["spec"]["meta"]["ownerId"] == other
    assert hub.admin.call("DELETE", f"/api/v1/notebook/{bobs}")[0] == 200


def test_a_token_without_the_service_scope_is_forbidden(hub, unique):
    name = f"erin-{unique}"
    api = hub.client(name, scopes=["read:servers!user"])
    code, body = api.call("GET", "/api/v1/notebook")
    assert code == 403 and "access:services" in body["message"]


def test_an_admins_narrow_token_is_not_an_admin(hub, alice, unique, notebooks):
    owner, api = alice
    mine = notebooks.create(api, "mine", resources="")["notebookId"]
    narrow = Api(hub.direct, hub.user_token("admin", scopes=["access:services!service=submarine"]))
    code, body = narrow.call("GET", f"/api/v1/notebook/{mine}")
    assert code == 403
    code, body = narrow.call("POST", "/api/v1/environment", {"name": f"e-{unique}", "dockerImage": "x"})
    assert code == 403


@pytest.mark.parametrize("admin", [False, True])
def test_browsers_use_the_hubs_oauth_cookie(hub, unique, admin, notebooks):
    name = "admin" if admin else f"frank-{unique}"
    password = (hub.data_dir / "admin-password").read_text().strip() if admin else "user-password"
    browser = login(hub, name, password)
    # the service's page sends the browser through the hub's OAuth and back
    home = browser.get(hub.public + "/services/submarine/", timeout=30)
    assert home.status_code == 200, home.text[:500]
    assert home.json()["result"] == {
        "name": name,
        "admin": admin,
        "notebooks": "/services/submarine/api/v1/notebook",
        "environments": "/services/submarine/api/v1/environment",
    }
    listed = browser.get(hub.public + "/services/submarine/api/v1/notebook", timeout=30)
    assert listed.status_code == 200 and listed.json()["success"]
    # a cookie alone does not authorize changes (no XSRF token): a cross-site form cannot create
    posted = browser.post(
        hub.public + "/services/submarine/api/v1/notebook", json=notebook_body("from-cookie"), timeout=30
    )
    assert posted.status_code == 401
    # with the XSRF token the service set at login, as the hub's own pages send it, it can
    xsrf = browser.cookies.get("_xsrf", path="/services/submarine/")
    posted = browser.post(
        hub.public + "/services/submarine/api/v1/notebook",
        json=notebook_body("from-cookie"),
        headers={"X-XSRFToken": xsrf},
        timeout=30,
    )
    assert posted.status_code == 200, posted.text
    notebook_id = notebooks.track(hub.admin, posted.json()["result"]["notebookId"])
    deleted = browser.delete(
        hub.public + f"/services/submarine/api/v1/notebook/{notebook_id}", headers={"X-XSRFToken": xsrf}, timeout=30
    )
    assert deleted.status_code == 200


# --- a token's power ends when the hub says so -------------------------------------------------


def test_a_revoked_token_may_change_nothing_at_once(hub, unique):
    name = f"rita-{unique}"
    hub.hub_api.post(f"/users/{name}")
    made = hub.hub_api.post(f"/users/{name}/tokens", json={"note": "revoked"}).json()
    api = Api(hub.direct, made["token"])
    assert api.call("GET", "/api/v1/notebook")[0] == 200  # the hub's answer is cached for reads
    assert hub.hub_api.delete(f"/users/{name}/tokens/{made['id']}").status_code == 204
    code, body = api.call("POST", "/api/v1/notebook", notebook_body("after-revoke", resources=""))
    assert code == 401, body
    assert "after-revoke" not in hub.hub_user(name)["servers"]


def test_a_deleted_users_token_makes_no_user_again(hub, unique):
    name = f"dora-{unique}"
    api = hub.client(name)
    assert api.call("GET", "/api/v1/notebook")[0] == 200
    assert hub.hub_api.delete(f"/users/{name}").status_code == 204
    code, body = api.call("POST", "/api/v1/notebook", notebook_body("ghost", resources=""))
    assert code == 401, body
    assert hub.hub_user(name) is None


def test_a_demoted_admin_changes_only_their_own(hub, alice, unique, notebooks):
    owner, api = alice
    notebook_id = notebooks.create(api, "kept", resources="")["notebookId"]
    name = f"ada-{unique}"
    hub.hub_api.post(f"/users/{name}", json={"admin": True})
    former = Api(hub.direct, hub.user_token(name))
    assert former.call("GET", f"/api/v1/notebook/{notebook_id}")[0] == 200  # an admin, cached for reads
    assert hub.hub_api.patch(f"/users/{name}", json={"admin": False}).status_code == 200
    code, body = former.call("DELETE", f"/api/v1/notebook/{notebook_id}")
    assert code == 403, body
    assert api.call("GET", f"/api/v1/notebook/{notebook_id}")[0] == 200
    assert api.call("DELETE", f"/api/v1/notebook/{notebook_id}")[0] == 200


def test_the_api_description_needs_no_token(hub):
    response = requests.get(hub.direct + "/api/v1/openapi.json", timeout=10)
    assert response.status_code == 200 and response.json()["openapi"].startswith("3.")
