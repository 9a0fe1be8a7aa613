"""Issue 12, roles and a closed API, tested as an attacker on the same network would try them.

The server runs as ``gan-explorer serve --host 0.0.0.0`` builds it (organiser app behind the login
at ``/``, rater app at ``/rate/``); the attacker is a raw HTTP client or ``gradio_client``.
"""

from __future__ import annotations

import httpx
import pytest

from conftest import fn_index_of, login, queue_call, served
from ui_support import running_app

gradio_client = pytest.importorskip("gradio_client")

#: the only Python functions the raters' app may run
RATER_FUNCTIONS = {"on_join", "answer_real", "answer_fake", "answer_left", "answer_right", "answer_tie"}


@pytest.fixture(scope="module")
def net(shipped, tmp_path_factory):
    with served(tmp_path_factory.mktemp("net"), shipped) as app:
        yield app


def test_loopback_and_network_addresses():
    from explorer.ui.roles import is_loopback

    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.5", "10.0.0.2", "example.org"))


def test_organiser_password_from_option_env_or_generated(monkeypatch):
    from explorer.errors import ExplorerError
    from explorer.ui.roles import PASSWORD_ENV, organiser_password

    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    assert organiser_password("given-secret") == ("given-secret", False)
    monkeypatch.setenv(PASSWORD_ENV, "from-the-env")
    assert organiser_password() == ("from-the-env", False)
    monkeypatch.delenv(PASSWORD_ENV)
    first, generated = organiser_password()
    assert generated and len(first) >= 12 and organiser_password()[0] != first
    with pytest.raises(ExplorerError):
        organiser_password("short")


def test_no_login_no_page_no_config(net):
    r = httpx.get(f"{net.url}config")
    assert r.status_code == 401
    page = httpx.get(net.url)
    assert page.status_code == 200 and "tab-models" not in page.text  # the login page, not the app


def test_every_organiser_handler_refuses_a_caller_without_login(net):
    """All handlers through the queue by fn_index, and every one by direct POST to /api/<name>."""
    with httpx.Client(timeout=30) as attacker:
        for index in net.demo.fns:
            r = attacker.post(f"{net.url}gradio_api/queue/join",
                              json={"data": [], "fn_index": index, "session_hash": "attacker01", "event_data": None})
            assert r.status_code == 401, (index, r.status_code)
        for block_fn in net.demo.fns.values():
            name = block_fn.api_name or getattr(block_fn.fn, "__name__", "x")
            for route in (f"gradio_api/api/{name}", f"gradio_api/run/{name}", f"gradio_api/call/{name}"):
                r = attacker.post(f"{net.url}{route}", json={"data": []})
                assert r.status_code == 401, (route, r.status_code)
    assert len(net.demo.fns) > 50  # the probe covered the whole app, not a handful


@pytest.mark.parametrize("method,route", [
    ("post", "gradio_api/upload"), ("get", "gradio_api/info"), ("get", "gradio_api/queue/data?session_hash=x"),
    ("post", "gradio_api/cancel"), ("post", "gradio_api/reset"), ("get", "gradio_api/heartbeat/x"),
    ("post", "gradio_api/stream/x"), ("get", "gradio_api/file=/etc/hostname"), ("get", "monitoring"),
    ("get", "gradio_api/openapi.json"), ("get", "explorer/preview?key=x&kind=trunc&value=1"),
])
def test_other_routes_refuse_a_caller_without_login(net, method, route):
    r = getattr(httpx, method)(f"{net.url}{route}", **({"json": {}} if method == "post" else {}))
    assert r.status_code in (401, 403), (route, r.status_code, r.text[:200])


def test_the_slider_preview_route_is_the_organisers_only(net):
    # the rater app has no preview route; the organiser reaches it (an unknown key: 404, not 401)
    assert httpx.get(f"{net.rater_url}explorer/preview?key=x&kind=trunc&value=1").status_code == 404
    client, r = login(net.url, net.password)
    try:
        got = client.get(f"{net.url}explorer/preview", params={"key": "not-a-key", "kind": "trunc", "value": "1"})
        assert got.status_code == 404 and "render the image first" in got.text
    finally:
        client.close()


def test_public_api_needs_the_organiser_login(net):
    with pytest.raises(Exception):
        gradio_client.Client(net.url, verbose=False).predict(api_name="/models")
    with pytest.raises(Exception):
        gradio_client.Client(net.url, auth=("organiser", "wrong-password"), verbose=False)
    client = gradio_client.Client(net.url, auth=("organiser", net.password), verbose=False)
    assert {m["id"] for m in client.predict(api_name="/models")} >= {"shipped:dcgan_digits"}


def test_the_organiser_reaches_every_handler(net):
    client, r = login(net.url, net.password)
    try:
        assert r.status_code == 200
        assert client.get(f"{net.url}config").status_code == 200
        # a queue=False handler (the training stop button) answers the organiser: no run is going
        out = queue_call(net.url, fn_index_of(net.demo, "stop"), [], session_hash="organiser01", client=client)
        assert out["success"] is False and "no training run" in str(out["output"])
    finally:
        client.close()
    bad, r = login(net.url, "wrong-password")
    try:
        assert r.status_code >= 400
        assert bad.get(f"{net.url}config").status_code == 401
    finally:
        bad.close()


def test_the_rater_app_holds_only_rater_handlers(net):
    names = {getattr(f.fn, "__name__", None) for f in net.rater.fns.values()}
    assert names <= RATER_FUNCTIONS | {None}, names - RATER_FUNCTIONS
    assert {"on_join", "answer_real"} <= names
    # fn indices the organiser app uses for deleting / training reach nothing organiser-like here
    with httpx.Client(timeout=30) as rater:
        assert rater.get(f"{net.rater_url}config").status_code == 200  # no login for raters
        for index in (len(net.rater.fns), fn_index_of(net.demo, "do_delete"), fn_index_of(net.demo, "start")):
            if index in net.rater.fns:  # the same number is a rater handler here: checked by name above
                continue
            try:  # Gradio answers an fn_index its app lacks with a KeyError: the connection drops, nothing runs
                r = rater.post(f"{net.rater_url}gradio_api/queue/join",
                               json={"data": [], "fn_index": index, "session_hash": "rater0001", "event_data": None})
                assert r.status_code >= 400
            except httpx.TransportError:
                pass
    client = gradio_client.Client(net.rater_url, verbose=False)
    assert client.view_api(return_format="dict", print_info=False)["named_endpoints"] == {}


@pytest.mark.parametrize("route", ["gradio_api/upload", "gradio_api/file=/etc/hostname", "gradio_api/upload_progress"])
def test_the_rater_app_takes_no_files(net, route):
    r = httpx.post(f"{net.rater_url}{route}", files={"files": ("x.png", b"0" * 1000)}) if route.endswith("upload") \
        else httpx.get(f"{net.rater_url}{route}")
    assert r.status_code == 403, (route, r.status_code)


def test_a_rater_reaches_the_rater_handlers_without_the_organiser_login(net):
    out = queue_call(net.rater_url, fn_index_of(net.rater, "on_join"), ["NOPE-CODE", "eve", None], "rater0003")
    assert out["success"] is False and "code" in str(out["output"]).lower()  # ran, and said the code is unknown


# --------------------------------------------------------------------- training data (item 4)
@pytest.fixture(scope="module")
def local(shipped, tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("local"), shipped) as app:
        yield app


def _start_args(data, zip_payload=None, data_b=None):
    # family, data, data_b, zip, conditional, loss, lr_g, lr_d, batch, iterations, augments, width, name, start_from
    return ["dcgan", data, data_b, zip_payload, False, "default", 2e-4, 2e-4, 8, 1, [], "small", "probe", ""]


@pytest.mark.parametrize("data,zip_payload,data_b", [
    ("/etc", None, None),
    ("/root", None, None),
    ("digits", None, "/etc"),
    ("__upload__", {"path": "/etc/hostname", "orig_name": "x.zip", "meta": {"_type": "gradio.FileData"}}, None),
    ("__upload__", {"path": "/tmp/gradio/../../etc/hostname", "orig_name": "x.zip", "meta": {"_type": "gradio.FileData"}}, None),
])
def test_train_tab_never_takes_a_server_path(local, data, zip_payload, data_b):
    out = queue_call(local.url, fn_index_of(local.demo, "start"), _start_args(data, zip_payload, data_b), "trainer01")
    assert out["success"] is False, out
    text = str(out["output"])
    assert ("shipped data set" in text or "not uploaded" in text), text  # Gradio or the handler refuses
    assert "exist" not in text and "images" not in text  # nothing about what is on the server


@pytest.mark.parametrize("start_from", ["/root/x.safetensors", "checkpoints/dcgan_digits.safetensors", "user:../../etc/passwd"])
def test_train_tab_starts_only_from_listed_models(local, start_from):
    args = _start_args("digits", None, None)
    args[-1] = start_from
    out = queue_call(local.url, fn_index_of(local.demo, "start"), args, "trainer01")
    assert out["success"] is False, out
    assert "choose a model" in str(out["output"]) or "not in the catalog" in str(out["output"]) or "no model" in str(out["output"]), out


def test_uploaded_training_zip_gets_a_unique_home_in_its_run(tmp_path):
    import io
    import zipfile

    from gradio.utils import get_upload_folder
    from PIL import Image

    from explorer.ui.tab_train import UPLOAD, build_config

    upload = __import__("pathlib").Path(get_upload_folder()) / "sec-test" / "digits.zip"
    upload.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(upload, "w") as zf:
        for i in range(2):
            buf = io.BytesIO()
            Image.new("L", (8, 8), i * 50).save(buf, format="PNG")
            zf.writestr(f"d/{i}.png", buf.getvalue())

    class Jobs:
        runs_dir = tmp_path / "runs"

        def fresh_name(self, stem):
            return stem

    payload = {"path": str(upload), "orig_name": "digits.zip"}
    cfg = build_config(Jobs(), "dcgan", UPLOAD, None, payload, False, "default", 2e-4, 2e-4, 8, 1, [], "small", "a")
    cfg2 = build_config(Jobs(), "dcgan", UPLOAD, None, payload, False, "default", 2e-4, 2e-4, 8, 1, [], "small", "b")
    assert cfg.data != cfg2.data
    assert str(cfg.data).startswith(str(tmp_path / "runs" / "a")) and __import__("os").path.isfile(cfg.data)
    upload.unlink()


def test_password_guessing_is_throttled(shipped, tmp_path):
    from explorer.ui import roles

    with served(tmp_path, shipped, password="a-person-chose-this") as app:
        for _ in range(roles.MAX_LOGIN_FAILURES):
            client, r = login(app.url, "guess")
            client.close()
            assert r.status_code in (400, 401)
        client, r = login(app.url, "a-person-chose-this")  # even the right one waits out the window
        client.close()
        assert r.status_code == 429
