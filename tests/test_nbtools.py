from course_lib.nbtools import and_list, table


def test_and_list_joins_items_for_a_sentence():
    assert and_list([]) == ""
    assert and_list([0]) == "0"
    assert and_list([0, 1]) == "0 and 1"
    assert and_list([0, 1, 2]) == "0, 1 and 2"


def test_table_aligns_rows_under_their_columns():
    text = table([{"a": 1, "b": 0.5}, {"a": 22, "b": 0.25}])
    lines = text.splitlines()
    assert lines[0].split() == ["a", "b"] and "0.500" in text and "0.250" in text
    assert len({len(line.rstrip()) for line in lines[2:]}) == 1


def test_signed_never_prints_a_signed_zero_for_a_nonzero_value():
    from course_lib.nbtools import signed

    assert signed(0.0351) == "+0.035" and signed(-0.07) == "-0.070"
    assert signed(-0.00021) == "-0.0002" and signed(0.000049) == "+0.00005"
    assert signed(0.0) == "+0.000" and signed(-0.0) == "+0.000"
    assert signed(-1e-9) == "-0.000000"  # beyond max_digits: the sign still says which side of zero
    assert signed(0.5, 1) == "+0.5"
