"""The judge against real HTTP servers on 127.0.0.1 that the tests start themselves."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from billy_interp.scoring.judge import Judge, JudgeConfig, JudgeError, parse_score


def _server(reply_for):
    calls = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            calls.append(body)
            status, content = reply_for(body, len(calls))
            if status == "sleep":
                time.sleep(content)
                status, content = 200, "[[3]]"
            payload = {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
                ],
            }
            data = json.dumps(payload).encode() if status == 200 else b'{"error": "boom"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, calls


@pytest.fixture
def serve():
    servers = []

    def start(reply_for):
        server, calls = _server(reply_for)
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1", calls

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _judge(url, tmp_path=None, **kw):
    base = dict(
        model="judge-test",
        base_url=url,
        api_key="k",
        backoff_seconds=0.01,
        timeout_seconds=2.0,
        cache_dir=str(tmp_path) if tmp_path else None,
    )
    base.update(kw)
    return Judge(JudgeConfig(**base))


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Good ideas. [[4]]", 4.0),
        ("[[ 3.5 ]]", 3.5),
        ("score [[7]]", 5.0),
        ("[[0]]", 1.0),
        ("[[4]] and again [[4]]", 4.0),
    ],
)
def test_parse_score_strict_and_clamped(text, expected):
    assert parse_score(text, 1, 5) == expected


@pytest.mark.parametrize("text", ["no score here", "[[four]]", "[4]", "[[3]] or maybe [[5]]", ""])
def test_parse_score_failures(text):
    with pytest.raises(ValueError):
        parse_score(text, 1, 5)


def test_scores_average_samples_and_cache(serve, tmp_path):
    url, calls = serve(lambda body, n: (200, f"Reasoning. [[{2 + n}]]"))
    judge = _judge(url, tmp_path)
    result = judge.score("originality", question="Uses for a brick", response="A doorstop")
    assert result.samples == (3.0, 4.0, 5.0) and result.score == 4.0 and result.ok
    assert calls[0]["temperature"] == 1.0 and calls[0]["model"] == "judge-test"
    again = _judge(url, tmp_path).score("originality", question="Uses for a brick", response="A doorstop")
    assert again == result and len(calls) == 3  # served from the on-disk cache


def test_garbage_replies_are_failures_not_zeros(serve):
    url, _ = serve(lambda body, n: (200, "I refuse to give a number." if n != 2 else "fine [[2]]"))
    result = _judge(url).score("elaboration", question="q", response="r")
    assert result.samples == (None, 2.0, None) and result.score == 2.0
    assert len(result.failures) == 2 and "no [[score]]" in result.failures[0]
    url2, _ = serve(lambda body, n: (200, "nonsense"))
    all_bad = _judge(url2).score("elaboration", question="q", response="r")
    assert all_bad.score is None and not all_bad.ok


def test_retries_then_succeeds(serve):
    url, calls = serve(lambda body, n: (500, "") if n <= 2 else (200, "[[4]]"))
    result = _judge(url, n_samples=1, max_retries=3).score("originality", question="q", response="r")
    assert result.score == 4.0 and len(calls) == 3


def test_timeout_and_down_server_raise_a_clear_error(serve):
    url, _ = serve(lambda body, n: ("sleep", 3.0))
    with pytest.raises(JudgeError, match="failed 2 times"):
        _judge(url, n_samples=1, max_retries=1, timeout_seconds=0.5).score("originality", question="q", response="r")
    with pytest.raises(JudgeError, match="127.0.0.1:9"):
        _judge("http://127.0.0.1:9/v1", n_samples=1, max_retries=0).score("coherence", question="q", response="r")


def test_judge_filter_uses_the_papers_thresholds(serve, tiny_model, tmp_path):
    from billy_interp.vectors.contrast import ContrastPlan, filter_contrast, generate_contrast
    from billy_interp.vectors.personas import load_persona

    def reply(body, n):
        prompt = body["messages"][0]["content"]
        if "coherent" in prompt:
            return 200, "[[80]]"
        return 200, "[[90]]" if "You are an environmentalist" in prompt or n % 3 == 0 else "[[10]]"

    url, _ = serve(reply)
    persona = load_persona("environmentalist")
    plan = ContrastPlan(splits=("extract",), n_samples=1, max_new_tokens=3, batch_size=25)
    table = generate_contrast(tiny_model, persona, plan, tmp_path, progress=False).head(6)
    filtered = filter_contrast(table, persona, judge=_judge(url, n_samples=1))
    assert {"judge_trait", "judge_coherence"} <= set(filtered.columns)
    for _, row in filtered.iterrows():
        expected = row["judge_trait"] >= 50 if row["sign"] == 1 else row["judge_trait"] < 50
        assert row["kept"] == expected, row["filter_reason"]


def test_benchmark_scoring_with_a_judge(serve):
    import pandas as pd

    from billy_interp.evaluation.benchmark import score, summarize

    url, calls = serve(lambda body, n: (200, "[[4]]" if "Originality" in body["messages"][0]["content"] else "meh"))
    records = pd.DataFrame(
        [
            {
                "task": "aut",
                "method": "sa",
                "item_id": "aut-000",
                "subject": "brick",
                "prompt": "Uses for a brick?",
                "response": "1. Doorstop\n2. Bookend",
            }
        ]
    )
    scored, _ = score(records, _judge(url))
    assert scored.loc[0, "judge_originality"] == 4.0
    assert pd.isna(scored.loc[0, "judge_elaboration"]) and scored.loc[0, "judge_elaboration_failures"] == 3
    summary = summarize(scored)
    assert summary.set_index("metric").loc["judge_originality", "scorer"] == "LLM judge"
