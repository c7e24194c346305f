"""The data contract: coercion of the export's quirks, nulling rules and their counts, fatal rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.export_files import VALID_ROW

from creditrisk.data.contract import (
    coerce_and_validate,
    detect_day_first,
    to_datetime,
    to_number,
    AmbiguousDatesError,
    COLUMN_NAMES,
    ContractError,
    DATE,
    TARGET,
)


def text_frame(*overrides: dict[str, str | None]) -> pd.DataFrame:
    """One valid text row per override dict, with the override's cells replaced (None = empty cell)."""
    rows = [{**VALID_ROW, **override} for override in overrides]
    return pd.DataFrame(rows, columns=list(VALID_ROW), dtype="str")


def test_valid_row_template_covers_the_whole_contract() -> None:
    assert list(VALID_ROW) == list(COLUMN_NAMES)
    result = coerce_and_validate(text_frame({}))
    assert result.ok and result.nulled == {} and result.unknown_columns == []
    assert not result.frame.isna().any().any()


def test_comma_decimals_and_floats_for_integers_are_coerced() -> None:
    result = coerce_and_validate(text_frame(
        {"capital_prestado": "88,768094", "plazo_meses": "12.0", "saldo_mora": "0.0", "tipo_credito": "9.0"},
        {"capital_prestado": " 695.0 ", "plazo_meses": "6", "saldo_mora": "0", "tipo_credito": "4"},
    ))
    assert result.ok and result.nulled == {}
    frame = result.frame
    assert frame["capital_prestado"].tolist() == [88.768094, 695.0]
    assert frame["plazo_meses"].tolist() == [12.0, 6.0]
    assert frame["saldo_mora"].tolist() == [0.0, 0.0]
    assert frame["tipo_credito"].tolist() == ["9", "4"]
    assert frame["capital_prestado"].dtype == "float64"
    assert frame["tipo_credito"].dtype == "string"
    assert frame[DATE].dtype == "datetime64[ns]"
    assert frame[TARGET].tolist() == [1.0, 1.0]


def test_each_nulling_rule_nulls_the_value_and_counts_it() -> None:
    result = coerce_and_validate(text_frame(
        {"edad_cliente": "122", "salario_cliente": "2000000000", "tendencia_ingresos": "123.5"},
        {"edad_cliente": "121", "salario_cliente": "0", "puntaje_datacredito": "0"},
        {"edad_cliente": "40.5", "huella_consulta": "-1", "tipo_laboral": "Pensionado"},
        {"edad_cliente": "17", "tipo_credito": "abc", "saldo_total": "n/a"},
        {},
    ))
    assert result.ok
    assert result.nulled == {
        "tipo_credito": {"not_a_category_code": 1},
        "edad_cliente": {"placeholder": 2, "not_an_integer": 1, "below_minimum": 1},
        "tipo_laboral": {"unknown_category": 1},
        "salario_cliente": {"above_maximum": 1, "below_minimum": 1},
        "puntaje_datacredito": {"below_minimum": 1},
        "huella_consulta": {"below_minimum": 1},
        "saldo_total": {"not_a_number": 1},
        "tendencia_ingresos": {"unknown_category": 1},
    }
    assert result.nulled_rows[("edad_cliente", "placeholder")].tolist() == [0, 1]
    frame = result.frame
    assert frame["edad_cliente"].isna().tolist() == [True, True, True, True, False]
    assert frame["salario_cliente"].isna().tolist() == [True, True, False, False, False]
    assert frame["tendencia_ingresos"].isna().tolist() == [True, False, False, False, False]
    assert frame["tipo_credito"].isna().tolist() == [False, False, False, True, False]


def test_empty_cells_become_missing_without_being_counted_as_broken() -> None:
    result = coerce_and_validate(text_frame(
        {"promedio_ingresos_datacredito": None, "tendencia_ingresos": None, "saldo_mora_codeudor": ""},
        {"edad_cliente": "  ", "puntaje": None},
    ))
    assert result.ok and result.nulled == {}
    assert result.frame["promedio_ingresos_datacredito"].isna().sum() == 1
    assert result.frame["tendencia_ingresos"].isna().sum() == 1
    assert result.frame["saldo_mora_codeudor"].isna().sum() == 1
    assert result.frame["edad_cliente"].isna().sum() == 1


def test_rows_are_never_dropped_or_reordered() -> None:
    frame = text_frame({"edad_cliente": "122"}, {}, {"salario_cliente": "x"})
    frame.index = pd.Index([7, 3, 5])
    result = coerce_and_validate(frame)
    assert result.frame.index.tolist() == [7, 3, 5]
    assert result.frame["edad_cliente"].isna().tolist() == [True, False, False]


def test_unknown_columns_are_listed_and_left_out() -> None:
    frame = text_frame({}).assign(observaciones="n/a")
    result = coerce_and_validate(frame)
    assert result.unknown_columns == ["observaciones"]
    assert "observaciones" not in result.frame.columns


def test_missing_required_column_is_fatal() -> None:
    result = coerce_and_validate(text_frame({}).drop(columns=["cuota_pactada"]))
    assert [(issue.column, issue.rule) for issue in result.fatal] == [("cuota_pactada", "required_column_missing")]


def test_optional_leak_column_may_be_absent() -> None:
    assert coerce_and_validate(text_frame({}).drop(columns=["puntaje"])).ok


def test_target_outside_0_1_is_fatal_with_example_rows() -> None:
    result = coerce_and_validate(text_frame({}, {TARGET: "2"}, {TARGET: "si"}, {TARGET: "0.0"}))
    assert len(result.fatal) == 1
    issue = result.fatal[0]
    assert (issue.column, issue.rule, issue.count) == (TARGET, "not_0_or_1", 2)
    assert issue.rows == (1, 2) and issue.values == ("2", "si")


def test_missing_target_is_fatal_for_training_but_not_for_scoring() -> None:
    frame = text_frame({}, {TARGET: None})
    training = coerce_and_validate(frame, purpose="training")
    assert [(i.column, i.rule, i.rows, i.values) for i in training.fatal] == [(TARGET, "missing_value", (1,), ("",))]
    assert coerce_and_validate(frame, purpose="scoring").ok


def test_broken_value_in_a_non_nullable_column_is_fatal() -> None:
    result = coerce_and_validate(text_frame({}, {"capital_prestado": "abc"}))
    assert [(i.column, i.rule, i.rows) for i in result.fatal] == [("capital_prestado", "not_a_number", (1,))]


def test_empty_input_is_fatal_and_the_message_names_source_column_and_rule() -> None:
    result = coerce_and_validate(text_frame({}).iloc[0:0])
    assert [issue.rule for issue in result.fatal] == ["empty_input"]
    message = str(ContractError(result.fatal, source="loans.csv"))
    assert message.startswith("loans.csv: 1 contract violation(s)")
    assert "rule 'empty_input' broken (there are no data rows)" in message


def test_contract_error_message_lists_count_and_example_rows() -> None:
    result = coerce_and_validate(text_frame({}, {TARGET: "2"}))
    message = str(ContractError(result.fatal, source="loans.csv"))
    assert "column 'Pago_atiempo': rule 'not_0_or_1' broken in 1 row(s); e.g. row 1 = '2'" in message


def test_to_number_accepts_comma_and_dot_decimals_and_flags_text() -> None:
    values = pd.Series(["88,768094", "695.0", " 7 ", "", None, "abc", "1e3", "-2,5", "inf"], dtype="str")
    numbers, not_number = to_number(values)
    expected = [88.768094, 695.0, 7.0, np.nan, np.nan, np.nan, 1000.0, -2.5, np.nan]
    np.testing.assert_array_equal(numbers.to_numpy(), expected)
    assert not_number.tolist() == [False, False, False, False, False, True, False, False, True]


def test_to_number_on_spreadsheet_cells_refuses_booleans() -> None:
    values = pd.Series([1, 2.5, "3,5", True, None, "x"], dtype=object)
    numbers, not_number = to_number(values)
    np.testing.assert_array_equal(numbers.to_numpy(), [1.0, 2.5, 3.5, np.nan, np.nan, np.nan])
    assert not_number.tolist() == [False, False, False, True, False, True]


def test_day_first_and_month_first_dates_parse_to_the_same_moments() -> None:
    day_first = pd.Series(["21/12/24 11:31", "05/01/2025 07:05", "13/02/25"], dtype="str")
    month_first = pd.Series(["12/21/2024 11:31", "01/05/25 07:05", "2/13/2025"], dtype="str")
    assert detect_day_first(day_first) is True
    assert detect_day_first(month_first) is False
    parsed_day_first, bad_day_first = to_datetime(day_first)
    parsed_month_first, bad_month_first = to_datetime(month_first)
    expected = [pd.Timestamp("2024-12-21 11:31"), pd.Timestamp("2025-01-05 07:05"), pd.Timestamp("2025-02-13")]
    assert parsed_day_first.tolist() == parsed_month_first.tolist() == expected
    assert not bad_day_first.any() and not bad_month_first.any()


def test_iso_text_and_real_datetimes_need_no_order() -> None:
    iso, bad = to_datetime(pd.Series(["2025-01-02T03:04:05", "2025-01-02 03:04", "not a date"], dtype="str"))
    assert iso.iloc[0] == pd.Timestamp("2025-01-02 03:04:05") and bad.tolist() == [False, False, True]
    real, bad = to_datetime(pd.Series(pd.to_datetime(["2024-12-21 11:31"])))
    assert real.iloc[0] == pd.Timestamp("2024-12-21 11:31") and not bad.any()


def test_undecidable_date_order_is_refused_unless_forced() -> None:
    dates = pd.Series(["01/02/25 10:00", "03/04/25 11:00"], dtype="str")
    with pytest.raises(AmbiguousDatesError, match="prepare.day_first"):
        detect_day_first(dates)
    forced, _ = to_datetime(dates, day_first=True)
    assert forced.iloc[0] == pd.Timestamp("2025-02-01 10:00")


def test_mixed_date_orders_are_refused_naming_both_examples() -> None:
    with pytest.raises(AmbiguousDatesError, match="'21/12/24 11:31' and '12/21/24 09:00'"):
        detect_day_first(pd.Series(["21/12/24 11:31", "12/21/24 09:00"], dtype="str"))


def test_ambiguous_dates_are_a_fatal_contract_issue() -> None:
    result = coerce_and_validate(text_frame({DATE: "01/02/25 10:00"}, {DATE: "03/04/25 11:00"}))
    assert [(issue.column, issue.rule) for issue in result.fatal] == [(DATE, "ambiguous_date_order")]
    assert coerce_and_validate(text_frame({DATE: "01/02/25 10:00"}), day_first=False).ok


def test_unparseable_loan_date_is_fatal_for_training() -> None:
    result = coerce_and_validate(text_frame({}, {DATE: "ayer"}))
    assert [(i.column, i.rule, i.rows) for i in result.fatal] == [(DATE, "unparseable_date", (1,))]


def test_non_ascii_digits_are_not_numbers_and_do_not_crash() -> None:
    from creditrisk.data.contract import to_number

    numbers, not_number = to_number(pd.Series(["٠", "１２", "12"], dtype="object"))
    assert not_number.tolist() == [True, True, False]
    assert numbers.iloc[2] == 12.0 and numbers.iloc[:2].isna().all()


def test_dates_outside_the_representable_range_are_unparseable_not_a_crash() -> None:
    from creditrisk.data.contract import to_datetime

    dates, unparseable = to_datetime(pd.Series(["2999-12-31", "2025-03-04T10:00:00+05:00", "99999-01-01"]))
    assert unparseable.tolist() == [True, False, True]
    assert dates.iloc[1] == pd.Timestamp("2025-03-04 05:00:00")
    slash_dates, slash_bad = to_datetime(pd.Series(["12/31/2999 10:00", "12/31/2025 10:00"]))
    assert slash_bad.tolist() == [True, False]
