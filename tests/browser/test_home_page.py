"""One notebook, two doors: the hub's home page, spawn form and admin panel in a real browser,
checked against the API."""

import re

from playwright.sync_api import expect

from ..harness import wait_for


def log_in(page, hub, name, password):
    page.goto(hub.public + "/hub/login")
    page.fill("#username_input", name)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_url("**/hub/home")


def server_row(page, server):
    """A named server's row in the home page's table."""
    return page.locator(f'tr.home-server-row[data-server-name="{server}"]')


def only_notebook(api):
    return wait_for(
        lambda: next(iter(api.call("GET", "/api/v1/notebook")[1]["result"]), None),
        30,
        what="the notebook to show up in the API",
    )


def test_a_notebook_from_the_form_runs_and_an_admin_stops_it(hub, browser, unique, notebooks):
    owner, server = f"grace-{unique}", "from-browser"
    api = hub.client(owner)
    notebooks.track_owner(api, owner)
    page = browser("user")
    log_in(page, hub, owner, "user-password")

    page.fill(".new-server-name", server)
    page.click(".new-server-btn")
    server_row(page, server).locator(".start-server").click()

    # the form: a mistake first, answered as the API would
    page.select_option("#submarine-environment", "notebook-env")
    page.fill("#submarine-memory", "1.0Gx")
    page.click("#spawn_form button[type=submit]")
    expect(page.locator(".spawn-error-msg")).to_have_text(
        "Error: spec.resources: memory=1.0Gx: unit 'Gx' is not a memory unit "
        "(Ki, Mi, Gi, Ti, k, M, G, T; e.g. 512Mi, 1.0Gi, 2G)"
    )
    page.fill("#submarine-cpu", "0.5")
    page.fill("#submarine-memory", "512Mi")
    page.locator('input[name="env_name"]').fill("FROM_BROWSER")
    page.locator('input[name="env_value"]').fill("yes")
    page.click("#submarine-add-env")
    page.locator('input[name="env_name"]').nth(1).fill("SECOND")
    page.locator('input[name="env_value"]').nth(1).fill("two words")
    page.click("#spawn_form button[type=submit]")

    # it starts, and JupyterLab opens
    page.wait_for_url(re.compile(rf"/user/{owner}/{server}/lab"))
    expect(page.locator("#jp-main-dock-panel")).to_be_visible()

    # the API has it, with the spec the form made
    notebook = only_notebook(api)
    assert re.match(r"^notebook_\d{13}_\d{4,}$", notebook["notebookId"])
    assert notebook["name"] == server and notebook["url"] == f"/user/{owner}/{server}/lab"
    environment = api.call("GET", "/api/v1/environment/notebook-env")[1]["result"]["environmentSpec"]
    assert notebook["spec"] == {
        "meta": {"name": server, "namespace": "default", "ownerId": owner},
        "environment": environment,
        "spec": {"envVars": {"FROM_BROWSER": "yes", "SECOND": "two words"}, "resources": "cpu=0.5,memory=512Mi"},
    }
    hub.wait_status(api, notebook["notebookId"], "running")

    # the home page says what it runs, next to its name
    page.goto(hub.public + "/hub/home")
    expect(server_row(page, server).locator("td").first).to_contain_text("notebook-env · cpu=0.5,memory=512Mi")

    # an admin stops it from the admin panel: the API says stopped
    admin = browser("admin")
    log_in(admin, hub, "admin", (hub.data_dir / "admin-password").read_text().strip())
    admin.goto(f"{hub.public}/hub/admin")
    admin.get_by_placeholder("Search Users").fill(owner)  # however many users the hub has
    admin_row = admin.locator(f'tr[data-testid="user-row-{owner}-{server}"]')
    admin_row.get_by_role("button", name="Stop Server").click()
    expect(admin_row.get_by_role("button", name="Start Server")).to_be_visible()
    stopped = hub.wait_status(api, notebook["notebookId"], "stopped")
    assert stopped["notebookId"] == notebook["notebookId"]


def test_a_notebook_from_the_api_is_on_the_home_page(hub, browser, unique, notebooks):
    owner = f"heidi-{unique}"
    api = hub.client(owner)
    notebook_id = notebooks.create(api, "from-api", resources="memory=512Mi")["notebookId"]
    other_id = notebooks.create(api, "deleted-by-api", resources="")["notebookId"]
    hub.wait_status(api, notebook_id, "running")

    page = browser("user")
    page.on("dialog", lambda dialog: dialog.accept())  # "Are you sure you want to delete ...?"
    log_in(page, hub, owner, "user-password")
    row = server_row(page, "from-api")
    expect(row.locator("td").first).to_contain_text("from-api")
    expect(row.locator("td").first).to_contain_text("notebook-env · memory=512Mi")
    expect(server_row(page, "deleted-by-api").locator("td").first).to_contain_text(
        "notebook-env · the hub's default resources"
    )

    # deleted through the API: gone from the page
    assert api.call("DELETE", f"/api/v1/notebook/{other_id}")[0] == 200
    page.reload()
    expect(server_row(page, "deleted-by-api")).to_have_count(0)

    # stopped on the home page: stopped in the API
    row.locator(".stop-server").click()
    hub.wait_status(api, notebook_id, "stopped")
    # started again from the home page: no form, the same notebook
    page.reload()
    row.locator(".start-server").click()
    page.wait_for_url(re.compile(rf"/user/{owner}/from-api/lab"))
    assert hub.wait_status(api, notebook_id, "running")["spec"]["spec"]["resources"] == "memory=512Mi"

    # deleted on the home page: gone from the API
    page.goto(hub.public + "/hub/home")
    row.locator(".stop-server").click()
    expect(row.locator(".delete-server")).to_be_visible()
    row.locator(".delete-server").click()
    expect(row).to_have_count(0)
    wait_for(
        lambda: api.call("GET", f"/api/v1/notebook/{notebook_id}")[0] == 404,
        30,
        what="the notebook deleted on the home page to leave the API",
    )
