"""Roll CSV import: encodings, headers, Civil Code counting, and every refusal."""

import pytest

from identity.csvfile import CsvError
from identity.roll import read_roll
from identity.scope import Scope, Totals, totals, voters_in_scope

ENGLISH = """building,unit,room,area,area_source,owner,owner_name,developer_held
1,1,101,88.50,registered,O1,Zhang San,no
1,1,102,90,surveyed,O1,Zhang San,no
1,2,201,100.05,contract,O2,Li Si,no
2,1,101,120.00,,D,Developer,yes
2,1,102,60.10,,D,Developer,yes
2,1,103,75.25,,O3,,0
"""

CHINESE = """楼栋,单元,房号,面积,面积来源,业主编号,业主姓名,开发商持有
1,1,101,88.50,登记,O1,张三,否
1,1,102,90,实测,O1,张三,否
1,2,201,100.05,合同,O2,李四,否
2,1,101,120.00,,D,开发商,是
2,1,102,60.10,,D,开发商,是
2,1,103,75.25,,O3,,否
"""


def _expect(roll):
    assert [v.voter_id for v in roll.voters] == ["O1", "O2", "D", "O3"]
    assert [v.area for v in roll.voters] == [17850, 10005, 18010, 7525]
    assert [v.developer for v in roll.voters] == [False, False, True, False]
    assert [p.area_source for p in roll.parts] == ["registered", "surveyed", "contract"] + ["registered"] * 3
    assert totals(roll) == Totals(heads=4, area=53390)


def test_english_utf8():
    _expect(read_roll(ENGLISH.encode(), "roll.csv"))


def test_chinese_headers_utf8_with_bom():
    roll = read_roll(b"\xef\xbb\xbf" + CHINESE.encode(), "roll.csv")
    _expect(roll)
    assert roll.names["O1"] == "张三"


def test_chinese_gb18030_as_excel_writes_it():
    data = CHINESE.replace("\n", "\r\n").encode("gb18030")
    assert data != CHINESE.encode()  # really not UTF-8
    _expect(read_roll(data, "roll.csv"))


def test_optional_columns_may_be_absent():
    roll = read_roll("Building, Room ,AREA,owner\n3,1201,99.99,A\n3,1202,0.01,B\n".encode(), "r.csv")
    assert [(p.building, p.unit, p.room, p.area) for p in roll.parts] == [("3", "", "1201", 9999), ("3", "", "1202", 1)]
    assert totals(roll) == Totals(2, 10000)


def test_quoted_multiline_field_keeps_line_numbers():
    data = 'building,room,area,owner,owner_name\n1,101,50,A,"two\nlines"\n1,102,5.555,B,x\n'.encode()
    with pytest.raises(CsvError) as err:
        read_roll(data, "r.csv")
    assert err.value.problems == ["r.csv:4: 面积 '5.555' 超过两位小数 / area '5.555' has more than two decimals"]


def refused(text: str, encoding="utf-8") -> list[str]:
    with pytest.raises(CsvError) as err:
        read_roll(text.encode(encoding), "roll.csv")
    return err.value.problems


def test_every_problem_listed_with_line_numbers():
    problems = refused(
        "building,unit,room,area,owner,developer_held\n"
        "1,1,101,88.505,A,no\n"      # 2: three decimals
        "1,1,102,0,B,no\n"           # 3: zero
        "1,1,101,50,C,no\n"          # 4: duplicate of line 2's part
        "2,1,101,50,D1,yes\n"        # 5
        "2,1,102,50,D2,yes\n"        # 6: second developer id
        "2,1,103,50,E,maybe\n"       # 7: bad flag
        ",1,104,50,F,no\n"           # 8: empty building
        "2,1,105,50,,no\n"           # 9: empty owner
        "2,1,106,50,110101199003077777,no\n"  # 10: ID card number as owner id
    )
    assert [p.split(": ")[0] for p in problems] == [
        "roll.csv:2", "roll.csv:3", "roll.csv:4", "roll.csv:6", "roll.csv:7", "roll.csv:8", "roll.csv:9", "roll.csv:10"]
    assert "more than two decimals" in problems[0]
    assert "must be greater than 0" in problems[1]
    assert "duplicate part 1-1-101 (first on line 2)" in problems[2]
    assert "owned by 'D2' but line 5 gave developer 'D1'" in problems[3]
    assert "developer_held must be yes or no" in problems[4]
    assert "building is empty" in problems[5]
    assert "owner is empty" in problems[6]
    assert "owner id looks like an ID card number ('110101199003077777')" in problems[7]


def test_missing_and_unknown_columns():
    problems = refused("building,room,size,owner,colour\n1,101,50,A,red\n")
    assert problems == [
        "roll.csv:1: 未知列 / unknown column 'size' (known: area, area_source, building, developer_held, owner, "
        "owner_name, phone, room, unit, 业主姓名, 业主编号, 单元, 开发商持有, 房号, 手机号, 楼栋, 面积, 面积来源)",
        "roll.csv:1: 未知列 / unknown column 'colour' (known: area, area_source, building, developer_held, owner, "
        "owner_name, phone, room, unit, 业主姓名, 业主编号, 单元, 开发商持有, 房号, 手机号, 楼栋, 面积, 面积来源)",
        "roll.csv:1: 缺少列 / missing column: area | 面积",
    ]


def test_duplicate_column_and_wrong_cell_count():
    problems = refused("building,room,area,owner,面积\n1,101,50,A,50\n1,102,50\n")
    assert problems[0] == "roll.csv:1: 列重复 / duplicate column '面积'"
    assert problems[1] == "roll.csv:3: 应有 5 个单元格，实有 3 / expected 5 cells, found 3"


def test_developer_id_on_a_plain_row_is_refused():
    problems = refused("building,room,area,owner,developer_held\n1,101,50,D,yes\n1,102,50,D,no\n")
    assert problems == ["roll.csv:3: 业主编号 'D' 是开发商（第 2 行），此行须标为开发商持有 / owner 'D' is the "
                        "developer (line 2); mark this part developer_held too"]


def test_bad_area_source():
    assert "area_source must be registered, surveyed or contract" in refused(
        "building,room,area,owner,area_source\n1,101,50,A,guessed\n")[0]


def test_empty_file_and_header_only():
    assert refused("") == ["roll.csv:1: 文件为空 / the file is empty"]
    assert refused("building,room,area,owner\n") == ["roll.csv:2: 名册没有房屋 / the roll has no parts"]


def test_not_utf8_nor_gb18030():
    with pytest.raises(CsvError, match="neither UTF-8 nor GB18030"):
        read_roll(b"building,room,area,owner\n1,\x81\x20,5,A\n", "roll.csv")


def test_scope_counts_only_parts_in_scope():
    roll = read_roll(ENGLISH.encode(), "roll.csv")
    stairwell = Scope(units=(("1", "1"),))
    assert [(v.voter_id, v.area) for v in voters_in_scope(roll, stairwell)] == [("O1", 17850)]
    assert totals(roll, Scope(buildings=("2",))) == Totals(heads=2, area=18010 + 7525)
    assert totals(roll, Scope(buildings=("2",), units=(("1", "2"),))) == Totals(heads=3, area=25535 + 10005)


# --- issue #7.5: owner ids that identify a person; #8.4: look-alike input; #8.3: limits ---------

HEAD = "building,unit,room,area,owner,owner_name,phone,developer_held\n"


@pytest.mark.parametrize("owner, reason", [
    ("13812345678", "owner id looks like a phone number"),
    ("138 1234 5678", "owner id looks like a phone number"),
    ("138-1234-5678", "owner id looks like a phone number"),
    ("１３８１２３４５６７８", "owner id looks like a phone number"),  # full-width
    ("110101199003077777", "owner id looks like an ID card number"),
    ("11010119900307777X", "owner id looks like an ID card number"),
    ("11010119900307777x", "owner id looks like an ID card number"),
    ("110101 19900307 777X", "owner id looks like an ID card number"),
    ("１１０１０１１９９００３０７７７７Ｘ", "owner id looks like an ID card number"),
    ("110101900307777", "owner id looks like an ID card number"),  # 15-digit first-generation card
    ("张三", "owner id contains Chinese characters, like a name"),
    ("M张0007", "owner id contains Chinese characters, like a name"),
    ("Zhang San", "owner id looks like a personal name"),
    ("Wang.Wei", "owner id looks like a personal name"),
    ("Zhangsan", "owner id looks like a personal name"),
    ("m1@b.cn", "owner id may only use letters, digits"),  # an e-mail address
])
def test_owner_ids_that_identify_a_person_are_refused_with_their_line(owner, reason):
    problems = refused(HEAD + "1,1,101,50,M0001,,,no\n" + f'1,1,102,50,"{owner}",,,no\n')
    assert len(problems) == 1 and problems[0].startswith("roll.csv:3: "), problems
    assert reason in problems[0] and "use a roll number such as M0007" in problems[0]


@pytest.mark.parametrize("owner", ["M0007", "A", "DEV", "3-2-1201", "B1-001", "1380013800", "123456789012"])
def test_roll_numbers_are_accepted(owner):
    assert read_roll((HEAD + f"1,1,101,50,{owner},,,no\n").encode(), "r.csv").parts[0].owner == owner


def test_full_width_labels_are_the_same_room_and_invisible_characters_are_refused():
    problems = refused(HEAD + "1,1,101,50,M1,,,no\n１,１,１０１,50,M2,,,no\n")
    assert problems == ["roll.csv:3: 房屋重复 / duplicate part 1-1-101 (first on line 2)"]
    for bad, code in (("1\u200b01", "U+200B"), ("101\u202e", "U+202E"), ("\u2066101", "U+2066"),
                      ("10\u00ad1", "U+00AD"), ("101\ufe0f", "U+FE0F"), ("1\x0001", "U+0000")):
        problems = refused(HEAD + f"1,1,101,50,M1,,,no\n1,1,{bad},50,M2,,,no\n")
        assert problems == [f"roll.csv:3: 房号 room 含有不可见或控制字符 {code} / room contains an invisible or "
                            f"control character {code}"], bad
    problems = refused(HEAD + "1,1,101,50,M\u200d1,,,no\n")
    assert "owner contains an invisible or control character U+200D" in problems[0]


def test_names_are_limited_and_clean():
    problems = refused(HEAD + f"1,1,101,50,M1,{'王' * 201},,no\n1,1,102,50,M2,王\x00五,,no\n")
    assert problems == ["roll.csv:2: 业主姓名 owner_name 过长（最多 200 字）/ owner_name longer than 200 characters",
                        "roll.csv:3: 业主姓名 owner_name 含有不可见或控制字符 U+0000 / owner_name contains an "
                        "invisible or control character U+0000"]
    assert read_roll((HEAD + f"1,1,101,50,M1,{'王' * 200},,no\n").encode(), "r.csv").names == {"M1": "王" * 200}


def test_areas_summing_above_2_to_the_53_are_refused():
    big = "45035996273704.96"  # 2^52 (0.01 m²): two of them reach 2^53
    problems = refused(HEAD + f"1,1,101,{big},M1,,,no\n1,1,102,{big},M2,,,no\n1,1,103,1,M3,,,no\n")
    assert problems == ["roll.csv:3: 面积合计超过上限 90071992547409.91 m² / the areas sum to more than "
                        "90071992547409.91 m²"]
    roll = read_roll((HEAD + f"1,1,101,{big},M1,,,no\n1,1,102,45035996273704.95,M2,,,no\n").encode(), "r.csv")
    assert sum(p.area for p in roll.parts) == 2**53 - 1


def test_phone_column_is_private_validated_and_one_per_owner():
    roll = read_roll((HEAD + "1,1,101,50,M1,,+86 138-1234-5678,no\n1,1,102,50,M1,,,no\n"
                      "1,1,103,50,M2,,１３９００００１１１１,no\n1,1,104,50,M3,,,no\n").encode(), "r.csv")
    assert roll.phones == {"M1": "13812345678", "M2": "13900001111"}
    problems = refused("楼栋,房号,面积,业主编号,手机号\n1,101,50,M1,13812345678\n1,102,50,M1,13900001111\n"
                       "1,103,50,M2,12345678901\n1,104,50,M3,0571-88886666\n")
    assert problems == [
        "roll.csv:3: 业主 'M1' 的手机号与第 2 行不同（每位业主一个手机号）/ owner 'M1' has another phone on line 2; "
        "one phone per owner id",
        "roll.csv:4: 手机号 '12345678901' 无效（应为 11 位大陆手机号，如 13812345678）/ phone must be an 11-digit "
        "mainland mobile number like 13812345678",
        "roll.csv:5: 手机号 '0571-88886666' 无效（应为 11 位大陆手机号，如 13812345678）/ phone must be an 11-digit "
        "mainland mobile number like 13812345678",
    ]
