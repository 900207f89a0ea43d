"""Which database errors the audit store reports as a refusal of the rows (AuditRejectedError: the
batch is isolated and dead-lettered) and which as an outage (RetriableError: back off and retry).
Triggers make the database refuse; on PostgreSQL they raise the SQLSTATE under test."""

from __future__ import annotations

import dataclasses
import math

import pytest
from sqlalchemy import Engine, event, exc, text
from sqlalchemy.engine import ExceptionContext

from guardstream.audit.store import AuditRejectedError, AuditStore
from guardstream.errors import PoisonInputError, RetriableError
from tests.support.audit_records import event_and_verdict

LONG_LINE = "x" * 400


def refuse_inserts(engine: Engine, message_sql: str, sqlstate: str = "23514") -> None:
    """Make every verdict insert fail with ``message_sql`` (an SQL string expression)."""
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.execute(
                text(f"CREATE TRIGGER refuse BEFORE INSERT ON verdicts BEGIN SELECT RAISE(ABORT, {message_sql}); END")
            )
        else:
            connection.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    f"RAISE EXCEPTION USING MESSAGE = {message_sql}, ERRCODE = '{sqlstate}', DETAIL = 'the row'; "
                    "END $$"
                )
            )
            connection.execute(
                text("CREATE TRIGGER refuse BEFORE INSERT ON verdicts FOR EACH ROW EXECUTE FUNCTION refuse()")
            )


def test_a_refused_row_raises_audit_rejected_with_the_first_line_of_the_database_words_cut_at_300(
    audit_engine: Engine,
) -> None:
    refuse_inserts(audit_engine, f"'\n{LONG_LINE}\nsecond line'")  # SQLite's RAISE takes a literal only
    code = "IntegrityError" if audit_engine.dialect.name == "sqlite" else "23514"
    with pytest.raises(AuditRejectedError) as raised:
        AuditStore(audit_engine).write([event_and_verdict(1)], [])
    assert isinstance(raised.value, PoisonInputError) and raised.value.kind == "audit_rejected"
    assert str(raised.value) == raised.value.reason == f"the audit store refused the row ({code}): {'x' * 300}"


def test_a_refusal_without_words_says_no_message(sqlite_engine: Engine) -> None:
    """SQLite only: PostgreSQL always sends a message."""
    audit_engine = sqlite_engine
    refuse_inserts(audit_engine, "''")
    with pytest.raises(AuditRejectedError, match=r"^the audit store refused the row \(IntegrityError\): no message$"):
        AuditStore(audit_engine).write([event_and_verdict(1)], [])


def test_a_nan_score_is_refused_by_sqlite_which_stores_it_as_null(sqlite_engine: Engine) -> None:
    """PostgreSQL records NaN (see the rows tests)."""
    audit_engine = sqlite_engine
    event_, verdict = event_and_verdict(1)
    with pytest.raises(
        AuditRejectedError, match=r"\(IntegrityError\): NOT NULL constraint failed: verdicts\.p_unsafe$"
    ):
        AuditStore(audit_engine).write([(event_, dataclasses.replace(verdict, p_unsafe=math.nan))], [])


@pytest.mark.parametrize(
    ("sqlstate", "raised"),
    [
        ("22001", AuditRejectedError),  # a value too long: a data exception
        ("23505", AuditRejectedError),  # a constraint
        (
            "54000",
            AuditRejectedError,
        ),  # a program limit: psycopg calls it an OperationalError, the row is still at fault
        ("40001", RetriableError),  # a serialization failure: an OperationalError of the server's state
        ("57014", RetriableError),  # a cancelled statement
        ("42501", exc.ProgrammingError),  # no privilege: neither the rows' fault nor an outage
    ],
)
@pytest.mark.integration
def test_on_postgresql_the_sqlstate_class_decides_whether_the_rows_were_refused(
    postgresql_engine: Engine, sqlstate: str, raised: type[Exception]
) -> None:
    audit_engine = postgresql_engine  # SQLite sends no SQLSTATE
    refuse_inserts(audit_engine, "'refused ' || NEW.event_id", sqlstate)
    with pytest.raises(raised) as caught:
        AuditStore(audit_engine).write([event_and_verdict(1)], [])
    if raised is AuditRejectedError:
        assert str(caught.value) == f"the audit store refused the row ({sqlstate}): refused event-1"
    if raised is RetriableError:
        assert str(caught.value).startswith("audit store unavailable: ")
        assert "refused event-1" in str(caught.value)


def test_an_operational_error_of_sqlite_is_an_outage_to_retry(sqlite_engine: Engine) -> None:
    """SQLite only: a missing table is a ProgrammingError on PostgreSQL (42P01)."""
    audit_engine = sqlite_engine
    with audit_engine.begin() as connection:
        connection.execute(text("DROP TABLE verdicts"))
    with pytest.raises(
        RetriableError, match=r"^audit store unavailable: OperationalError\('no such table: verdicts'\)$"
    ):
        AuditStore(audit_engine).write([event_and_verdict(1)], [])


def test_a_lost_connection_is_an_outage_even_when_the_error_names_the_rows(audit_engine: Engine) -> None:
    refuse_inserts(audit_engine, "'refused'")

    @event.listens_for(audit_engine, "handle_error")
    def connection_lost(context: ExceptionContext) -> None:
        context.is_disconnect = True

    with pytest.raises(RetriableError, match=r"^audit store unavailable: "):
        AuditStore(audit_engine).write([event_and_verdict(1)], [])


def test_text_without_a_utf8_form_is_never_stored_and_both_dialects_raise_the_encoding_error(store: AuditStore) -> None:
    """A lone surrogate (decoding dead-letters it upstream as invalid_utf8) cannot reach a row: the
    PostgreSQL bulk path sends its JSON document unescaped, so it fails to encode as SQLite does."""
    event_, verdict = event_and_verdict(1)
    with pytest.raises(UnicodeEncodeError, match="surrogates not allowed"):
        store.write([(dataclasses.replace(event_, text="a\ud800b"), verdict)], [])
    assert store.verdict_count() == 0


class UnclassifiedDriverError(Exception):
    sqlstate = ""  # a driver that leaves the SQLSTATE empty


def test_an_error_without_a_five_character_sqlstate_is_judged_by_its_db_api_class(audit_engine: Engine) -> None:
    @event.listens_for(audit_engine, "handle_error")
    def unclassified(context: ExceptionContext) -> Exception:
        return exc.IntegrityError("INSERT INTO verdicts", {}, UnclassifiedDriverError("duplicate key"))

    refuse_inserts(audit_engine, "'refused'")
    refusal = r"^the audit store refused the row \(UnclassifiedDriverError\): duplicate key$"
    with pytest.raises(AuditRejectedError, match=refusal):
        AuditStore(audit_engine).write([event_and_verdict(1)], [])
