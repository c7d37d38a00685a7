"""``lm-eval-ext status``: counts from the journal alone."""

from __future__ import annotations

from lm_eval_ext.cli.main import main
from lm_eval_ext.resume.offline.status import journal_status
from lm_eval_ext.resume.storage.journal import Journal, write_json_atomic
from lm_eval_ext.resume.storage.records import PlanRecord, ResponseRecord


def _entry(doc: int, idx: int, err: str | None = None) -> ResponseRecord:
    return ResponseRecord(
        f"{doc}-{idx}", "M", "loglikelihood", "t", doc, idx, None if err else [-1.0, False], err
    )


def test_status_counts_done_errored_missing(tmp_path, capsys):
    root = tmp_path / "journal"
    journal = Journal(root, "main").open()
    write_json_atomic(root / "model-M.json", {"files": {}, "args": {"dtype": "float32"}})
    journal.append(
        [PlanRecord("loglikelihood", "M", "main", None, {"t": {"0": 2, "1": 2, "2": 2}})]
    )
    journal.append(
        [_entry(0, 0), _entry(0, 1), _entry(1, 0), _entry(1, 1, "OOM: too long"), _entry(2, 0)]
    )
    journal.close()
    st = journal_status(root)["M"]["t"]
    assert (st.done, st.errored, st.missing) == (1, 1, 1)
    assert st.errors == {1: "OOM: too long"}
    assert main(["status", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "doc 1: OOM: too long" in out and "t " in out
