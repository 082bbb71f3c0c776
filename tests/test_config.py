import time

import pytest

from course_lib.config import Profile, resolve_source, start_chapter
from course_lib.results import read_results


def test_profile_pick_and_validation():
    assert Profile("fast").pick(fast=1, full=2) == 1
    assert Profile("FULL").pick(fast=1, full=2) == 2
    with pytest.raises(ValueError, match="Unknown PROFILE 'fsat'; choose one of: fast, full"):
        Profile("fsat")


def test_unknown_source_lists_choices():
    with pytest.raises(ValueError, match="choose one of: auto, hub, offline"):
        resolve_source("cloud")


@pytest.fixture()
def endpoint(monkeypatch):
    """Point huggingface_hub at ``url`` with the network allowed (the test suite otherwise runs with HF_HUB_OFFLINE)."""
    import huggingface_hub.constants as constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)

    def point(url):
        monkeypatch.setattr(constants, "ENDPOINT", url)

    return point


def serve(handler_body, delay=0.0):
    """A one-route HTTP server on 127.0.0.1 answering every GET with ``handler_body`` (after ``delay`` s)."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            time.sleep(delay)
            body = handler_body.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_auto_resolves_offline_fast_without_a_network(endpoint):
    endpoint("https://hub.invalid")  # a name that never resolves
    start = time.perf_counter()
    source, reason = resolve_source("auto")
    assert source == "offline" and "unreachable" in reason
    assert time.perf_counter() - start < 5


def test_hub_without_a_network_fails_fast_naming_the_fix(endpoint):
    endpoint("https://hub.invalid")
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="SOURCE=offline .* or SOURCE=auto"):
        resolve_source("hub")
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("body,source,reason", [
    ("<html>Please log in to the hotel wifi</html>", "offline", "not the hub's API"),  # a captive portal
    ('{"id": "openai-community/gpt2", "downloads": 1}', "hub", "answered"),  # the hub's real API answer
])
def test_only_the_hub_api_answer_counts_as_reachable(endpoint, body, source, reason):
    server, url = serve(body)
    endpoint(url)
    try:
        got, why = resolve_source("auto")
    finally:
        server.shutdown()
    assert got == source and reason in why


def test_a_stalled_connection_is_decided_within_the_timeout(endpoint):
    server, url = serve('{"id": "openai-community/gpt2"}', delay=8)
    endpoint(url)
    start = time.perf_counter()
    try:
        source, reason = resolve_source("auto", timeout=1.0)
    finally:
        server.shutdown()
    assert source == "offline" and time.perf_counter() - start < 3


def test_hub_with_hf_hub_offline_reads_the_local_cache_without_probing(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("course_lib.config.hub_status", lambda timeout: pytest.fail("no probe with HF_HUB_OFFLINE=1"))
    assert resolve_source("hub")[0] == "hub"


def test_auto_respects_hf_hub_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_source("auto") == ("offline", "SOURCE=auto -> offline (HF_HUB_OFFLINE is set)")


def test_run_records_and_saves(tmp_path, capsys):
    run = start_chapter("99_test", "fast", "offline", 3, tmp_path)
    assert "PROFILE=fast SOURCE=offline SEED=3" in capsys.readouterr().out
    run.record("scratch", "sentiment", "accuracy", 0.5, trainable_params=10, total_params=20)
    run.record("scratch", "sentiment", "accuracy", 0.75, trainable_params=10, total_params=20)  # replaces
    run.save()
    saved = read_results("99_test", tmp_path)
    assert saved["profile"] == "fast" and saved["seed"] == 3
    assert [r["value"] for r in saved["runs"]] == [0.75]


def test_missing_results_name_the_chapter(tmp_path):
    with pytest.raises(FileNotFoundError, match="run book/01_transfer_learning.ipynb"):
        read_results("01_transfer_learning", tmp_path)


def test_seed_must_be_int(tmp_path):
    with pytest.raises(ValueError, match="SEED must be an integer"):
        start_chapter("99_test", "fast", "offline", "0", tmp_path, quiet=True)


def test_a_full_run_writes_its_own_results_file(tmp_path):
    """``PROFILE=full`` results go to ``<chapter>.full.json``: they never overwrite the fast run's file."""
    fast = start_chapter("99_test", "fast", "offline", 0, tmp_path, quiet=True)
    fast.record("scratch", "sentiment", "accuracy", 0.5, trainable_params=10, total_params=20)
    fast.save()
    full = start_chapter("99_test", "full", "offline", 0, tmp_path, quiet=True)
    full.record("scratch", "sentiment", "accuracy", 0.9, trainable_params=10, total_params=20)
    assert full.save() == tmp_path / "99_test.full.json"
    assert read_results("99_test", tmp_path)["runs"][0]["value"] == 0.5
    assert read_results("99_test", tmp_path, "full")["runs"][0]["value"] == 0.9
    (tmp_path / "99_test.full.json").replace(tmp_path / "99_test.json")  # renamed by hand
    with pytest.raises(ValueError, match="holds a 'full' run, not a 'fast' one"):
        read_results("99_test", tmp_path)
