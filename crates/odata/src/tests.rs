//! Tests across the public API: documented URLs, rules, snapshots and property tests.

use crate::*;

fn f(s: &str) -> Expr {
    parse_filter(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn ferr(s: &str) -> ODataError {
    parse_filter(s).expect_err(s)
}

fn path(p: &str) -> Expr {
    Expr::Path(p.split('/').map(str::to_owned).collect())
}

fn s(v: &str) -> Expr {
    Expr::Literal(Literal::String(v.to_owned()))
}

fn cmp(op: CompareOp, l: Expr, r: Expr) -> Expr {
    Expr::Compare {
        op,
        left: Box::new(l),
        right: Box::new(r),
    }
}

// ---------------------------------------------------------------- query string

#[test]
fn documented_list_filters() {
    let q = parse_query(Some(
        "$filter=startDateTime%20ge%202023-09-25T09:25:00Z%20and%20startDateTime%20lt%202023-09-25T09:30:00Z",
    ))
    .unwrap();
    let lf = lower_list_filter(q.filter.as_ref().unwrap()).unwrap();
    let lo = parse_datetime_literal("2023-09-25T09:25:00Z").unwrap();
    let hi = parse_datetime_literal("2023-09-25T09:30:00Z").unwrap();
    assert_eq!(
        lf.start_lower,
        Some(Bound {
            micros: lo,
            inclusive: true
        })
    );
    assert_eq!(
        lf.start_upper,
        Some(Bound {
            micros: hi,
            inclusive: false
        })
    );
    assert!(lf.participant_ids.is_empty());

    let q = parse_query(Some(
        "$filter=participants_v2/any(p:p/id%20eq%20'821809f5-0000-0000-0000-3b5136c0e777')",
    ))
    .unwrap();
    let lf = lower_list_filter(q.filter.as_ref().unwrap()).unwrap();
    assert_eq!(
        lf.participant_ids,
        vec![vec!["821809f5-0000-0000-0000-3b5136c0e777".to_owned()]]
    );
    assert_eq!(lf.start_lower, None);
}

#[test]
fn expand_raw_and_encoded_agree() {
    let raw = parse_query(Some("$expand=sessions($expand=segments)")).unwrap();
    let enc = parse_query(Some("$expand=sessions%28%24expand%3Dsegments%29")).unwrap();
    assert_eq!(raw.expand, enc.expand);
    let items = raw.expand.unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].path, "sessions");
    let nested = items[0].options.expand.as_ref().unwrap();
    assert_eq!(nested[0].path, "segments");
    assert_eq!(nested[0].options, ExpandOptions::default());
}

#[test]
fn expand_nested_options() {
    let items = parse_expand(
        "sessions($expand=segments($select=id);$select=id,caller),participants_v2",
        0,
    )
    .unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0].options.select,
        Some(vec!["id".to_owned(), "caller".to_owned()])
    );
    let seg = &items[0].options.expand.as_ref().unwrap()[0];
    assert_eq!(seg.options.select, Some(vec!["id".to_owned()]));
    assert_eq!(items[1].path, "participants_v2");

    let items = parse_expand(
        "sessions($filter=id eq 'a,b);c'' (';$top=5;$count=TRUE;$orderby=id desc)",
        0,
    )
    .unwrap();
    let o = &items[0].options;
    assert_eq!(
        o.filter,
        Some(cmp(CompareOp::Eq, path("id"), s("a,b);c' (")))
    );
    assert_eq!((o.top, o.count), (Some(5), Some(true)));
    assert!(o.orderby.as_ref().unwrap()[0].descending);
    assert_eq!(
        parse_expand("sessions()", 0).unwrap()[0].options,
        ExpandOptions::default()
    );
}

#[test]
fn expand_errors() {
    let levels = parse_expand("sessions($levels=2)", 0).unwrap_err();
    assert_eq!(levels.code, ErrorCode::InvalidRequest);
    assert!(levels.message.contains("$levels"), "{levels}");
    for bad in [
        "",
        "sessions(",
        "sessions)",
        "sessions($expand=segments",
        "sessions($top=-1)",
        "sessions($select=)",
        "sessions($foo=1)",
        "sessions($top=1;$top=2)",
        "sessions($filter=id eq 'x)",
        "sessions(x)y",
        "a b",
        "sessions,,x",
    ] {
        assert!(parse_expand(bad, 0).is_err(), "{bad}");
    }
    let deep = format!("{}x{}", "a($expand=".repeat(200), ")".repeat(200));
    assert!(parse_expand(&deep, 0).is_err());
}

#[test]
fn option_names_case_and_dollar() {
    let q = parse_query(Some(
        "$SELECT=id&Filter=startDateTime gt 2023-01-01&top=5&$Count=True",
    ))
    .unwrap();
    assert_eq!(q.select, Some(vec!["id".to_owned()]));
    assert!(q.filter.is_some());
    assert_eq!(q.top, Some(5));
    assert_eq!(q.count, Some(true));
    let names: Vec<_> = q.raw_pairs().iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["$select", "$filter", "$top", "$count"]);
    assert_eq!(q.raw_pairs()[1].raw_name, "Filter");
}

#[test]
fn query_errors() {
    let e = parse_query(Some("$top=1&top=2")).unwrap_err();
    assert!(e.message.contains("more than once"), "{e}");
    let e = parse_query(Some("$frobnicate=1")).unwrap_err();
    assert!(e.message.contains("'$frobnicate'"), "{e}");
    for bad in [
        "$top=-1",
        "$top=abc",
        "$top=",
        "$top=99999999999999999999999",
        "$skip=1.5",
        "$count=yes",
        "$select=",
        "$select=a,,b",
        "$select=a b",
        "$orderby=a up",
        "$orderby=",
        "$filter=",
        "$filter=%FF",
        "%FF=1",
    ] {
        let e = parse_query(Some(bad)).expect_err(bad);
        assert_eq!(e.code, ErrorCode::BadRequest, "{bad}");
    }
}

#[test]
fn query_values() {
    let q = parse_query(Some(
        "?$skip=10&$skiptoken=abc%2Bdef+x&$orderby=startDateTime desc,id&$search=%22x%22&$format=json&foo=bar&@p1='2019-11-01'&flag",
    ))
    .unwrap();
    assert_eq!(q.skip, Some(10));
    assert_eq!(q.skiptoken.as_deref(), Some("abc+def x"));
    let ob = q.orderby.as_ref().unwrap();
    assert_eq!(
        (ob[0].path.as_str(), ob[0].descending),
        ("startDateTime", true)
    );
    assert_eq!((ob[1].path.as_str(), ob[1].descending), ("id", false));
    assert_eq!(q.search.as_deref(), Some("\"x\""));
    assert_eq!(q.format.as_deref(), Some("json"));
    assert_eq!(
        q.custom,
        vec![("foo".into(), "bar".into()), ("flag".into(), String::new())]
    );
    assert_eq!(q.aliases, vec![("@p1".into(), "'2019-11-01'".into())]);
    assert_eq!(q.custom_value("@p1"), Some("'2019-11-01'"));
    assert_eq!(parse_query(None).unwrap(), QueryOptions::default());
    assert_eq!(parse_query(Some("")).unwrap(), QueryOptions::default());
    assert_eq!(parse_select("*,microsoft.graph.x,a/b").unwrap().len(), 3);
}

#[test]
fn to_query_string_carries_options_forward() {
    let q = parse_query(Some(
        "$Expand=sessions($expand=segments)&$skiptoken=abc&SKIP=3&$filter=id+eq+'a%26b%23c%2Bd%25'&x=1&flag",
    ))
    .unwrap();
    let s = q.to_query_string(&["$skiptoken", "$skip"]);
    assert_eq!(
        s,
        "$expand=sessions($expand=segments)&$filter=id%20eq%20'a%26b%23c%2Bd%25'&x=1&flag"
    );
    let again = parse_query(Some(&s)).unwrap();
    assert_eq!(again.expand, q.expand);
    assert_eq!(again.filter, q.filter);
    assert_eq!(again.custom, q.custom);
    assert_eq!(q.to_query_string(&[]).matches('&').count(), 5);
}

// ---------------------------------------------------------------- $filter

#[test]
fn plus_in_query_string_offsets() {
    let want = parse_datetime_literal("2023-09-25T07:25:00Z").unwrap();
    for raw in [
        "$filter=startDateTime+ge+2023-09-25T09:25:00+02:00",
        "$filter=startDateTime%20ge%202023-09-25T09:25:00%2B02:00",
        "filter=startDateTime ge 2023-09-25T09:25:00+02:00 and startDateTime lt 2023-09-25T11:25:00 02:00",
    ] {
        let q = parse_query(Some(raw)).unwrap();
        let lf = lower_list_filter(q.filter.as_ref().unwrap()).unwrap();
        assert_eq!(
            lf.start_lower,
            Some(Bound {
                micros: want,
                inclusive: true
            }),
            "{raw}"
        );
    }
}

#[test]
fn long_chains_do_not_overflow() {
    let chain = vec!["startDateTime ge 2023-01-01"; 250].join(" and ");
    let e = f(&chain);
    assert_eq!(parse_filter(&e.to_string()), Ok(e.clone()));
    assert!(lower_list_filter(&e).is_ok());
    let ors = format!(
        "participants_v2/any(p:{})",
        vec!["p/id eq 'x'"; 300].join(" or ")
    );
    assert_eq!(
        lower_list_filter(&f(&ors)).unwrap().participant_ids[0].len(),
        300
    );
    let too_many = vec!["a eq 1"; 700].join(" or ");
    assert!(ferr(&too_many).message.contains("too many tokens"));
}

#[test]
fn precedence_and_word_boundaries() {
    // and binds tighter than or
    assert_eq!(
        f("a eq 'x' and b eq 'y' or c eq 'z'").to_string(),
        "a eq 'x' and b eq 'y' or c eq 'z'"
    );
    assert!(matches!(
        f("a eq 'x' and b eq 'y' or c eq 'z'"),
        Expr::Or(..)
    ));
    assert!(
        matches!(f("a eq 'x' or b eq 'y' and c eq 'z'"), Expr::Or(_, r) if matches!(*r, Expr::And(..)))
    );
    // not binds tightest
    assert!(
        matches!(f("not aa eq 1 and bb eq 2"), Expr::And(l, _) if matches!(&*l, Expr::Compare { left, .. } if matches!(**left, Expr::Not(_))))
    );
    assert!(matches!(f("not (a eq 1)"), Expr::Not(_)));
    assert_eq!(
        f("notes eq 1"),
        cmp(CompareOp::Eq, path("notes"), Expr::Literal(Literal::Int(1)))
    );
    assert_eq!(
        f("android eq true or orange ne null").to_string(),
        "android eq true or orange ne null"
    );
    assert_eq!(
        f("(a eq 1 or b eq 2) and c eq 3").to_string(),
        "(a eq 1 or b eq 2) and c eq 3"
    );
    assert_eq!(f("A EQ 1 AND NOT B"), f("A eq 1 and not B"));
}

#[test]
fn literals() {
    let lit = |s: &str| match f(&format!("x eq {s}")) {
        Expr::Compare { right, .. } => match *right {
            Expr::Literal(l) => l,
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    assert_eq!(lit("'it''s'"), Literal::String("it's".into()));
    assert_eq!(lit("''"), Literal::String(String::new()));
    assert_eq!(lit("-42"), Literal::Int(-42));
    assert_eq!(lit("3.25"), Literal::Decimal("3.25".into()));
    assert_eq!(lit("1e-3"), Literal::Decimal("1e-3".into()));
    assert_eq!(lit("TRUE"), Literal::Bool(true));
    assert_eq!(lit("null"), Literal::Null);
    let z = parse_datetime_literal("2023-09-25T07:25:00Z").unwrap();
    assert_eq!(lit("2023-09-25T09:25:00+02:00"), Literal::DateTimeOffset(z));
    assert_eq!(lit("2023-09-25T09:25:00 02:00"), Literal::DateTimeOffset(z));
    assert_eq!(lit("2023-09-25T07:25:00Z"), Literal::DateTimeOffset(z));
    assert_eq!(
        lit("2023-09-25T09:25:00.1234567Z"),
        Literal::DateTimeOffset(parse_datetime_literal("2023-09-25T09:25:00.123456Z").unwrap())
    );
    assert_eq!(
        lit("2023-09-25"),
        Literal::Date(Date::new(2023, 9, 25).unwrap())
    );
    assert_eq!(
        lit("821809f5-0000-0000-0000-3b5136c0e777"),
        Literal::Guid("821809f5-0000-0000-0000-3b5136c0e777".into())
    );
    assert_eq!(
        lit("abcdef01-0000-0000-0000-3b5136c0e777"),
        Literal::Guid("abcdef01-0000-0000-0000-3b5136c0e777".into())
    );
    assert_eq!(lit("duration'PT1S'"), Literal::Duration("PT1S".into()));
    assert_eq!(
        lit("microsoft.graph.callRecords.callType'groupCall'"),
        Literal::Enum {
            type_name: "microsoft.graph.callRecords.callType".into(),
            member: "groupCall".into()
        }
    );
}

#[test]
fn lambdas_functions_in() {
    let e = f("participants/any(p: p/id eq 'a' or p/id eq 'b')");
    let Expr::Lambda {
        path: lp,
        kind,
        predicate: Some((var, body)),
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(
        (lp.as_slice(), *kind, var.as_str()),
        (&["participants".to_owned()][..], LambdaKind::Any, "p")
    );
    assert!(matches!(**body, Expr::Or(..)));
    assert_eq!(
        f("participants_v2/any()").to_string(),
        "participants_v2/any()"
    );
    assert_eq!(f("a/b/all(x:x/c gt 1)").to_string(), "a/b/all(x:x/c gt 1)");
    assert_eq!(
        f("startswith(a,'x') and contains(b, 'y') or endswith(c,'z')").to_string(),
        "startswith(a,'x') and contains(b,'y') or endswith(c,'z')"
    );
    assert_eq!(
        f("p/id in ('a', 'b')"),
        Expr::In {
            value: Box::new(path("p/id")),
            list: vec![s("a"), s("b")]
        }
    );
    assert_eq!(
        f("organizer_v2/id eq 'x'"),
        cmp(CompareOp::Eq, path("organizer_v2/id"), s("x"))
    );
}

#[test]
fn filter_errors_name_problem_and_position() {
    let e = ferr("startDateTime foo 1");
    assert_eq!(
        e.message,
        "$filter: expected a comparison operator after 'startDateTime' at position 14, found 'foo'"
    );
    assert_eq!(e.code, ErrorCode::BadRequest);
    let deep = format!("{}a eq 1{}", "(".repeat(150), ")".repeat(150));
    assert!(ferr(&deep).message.contains("nested too deeply"));
    let nots = format!("{}a", "not ".repeat(5000));
    assert!(
        ferr(&nots).message.contains("nested too deeply")
            || ferr(&nots).message.contains("too long")
    );
    assert_eq!(ferr("a add 1").code, ErrorCode::InvalidRequest);
    assert!(
        ferr(&"a".repeat(MAX_FILTER_LEN + 1))
            .message
            .contains("too long")
    );
}

#[test]
fn error_snapshots() {
    let cases = [
        "startDateTime ge",
        "startDateTime ge 2023-13-01T00:00:00Z",
        "a eq 'unterminated",
        "(a eq 1",
        "a eq 1)",
        "a eq 1 b",
        "p/any(p p/id eq 1)",
        "a in ()",
        "a eq 99999999999999999999",
        "a eq foo'x'",
        "a eq #",
        "and eq 1",
        "x/ eq 1",
        "   ",
    ];
    let out: Vec<String> = cases
        .iter()
        .map(|c| format!("{c:?} => {}", ferr(c).message))
        .collect();
    insta::assert_snapshot!(out.join("\n"));
}

#[test]
fn ast_snapshots() {
    insta::assert_debug_snapshot!(f(
        "startDateTime ge 2023-09-25T09:25:00Z and startDateTime lt 2023-09-25T09:30:00Z"
    ));
    insta::assert_debug_snapshot!(f(
        "participants_v2/any(p:p/id eq '821809f5-0000-0000-0000-3b5136c0e777')"
    ));
    insta::assert_debug_snapshot!(f(
        "not (type eq microsoft.graph.callRecords.callType'groupCall') or startswith(joinWebUrl,'https') and p/id in ('a','it''s')"
    ));
    insta::assert_debug_snapshot!(
        parse_query(Some(
            "$expand=sessions($expand=segments($select=id);$select=id,caller)&$select=id"
        ))
        .unwrap()
    );
}

// ---------------------------------------------------------------- list filter lowering

fn lower(s: &str) -> Result<ListFilter, ODataError> {
    lower_list_filter(&f(s))
}

#[test]
fn lowering_bounds() {
    let t = |s: &str| parse_datetime_literal(s).unwrap();
    let lf = lower("2023-01-01T00:00:00Z le startDateTime and startDateTime gt 2023-01-02 and startDateTime lt 2023-02-01T00:00:00Z and startDateTime le 2023-02-01T00:00:00Z").unwrap();
    assert_eq!(
        lf.start_lower,
        Some(Bound {
            micros: t("2023-01-02"),
            inclusive: false
        })
    );
    assert_eq!(
        lf.start_upper,
        Some(Bound {
            micros: t("2023-02-01"),
            inclusive: false
        })
    );
    let lf = lower("startDateTime ge 2023-01-02 and startDateTime gt 2023-01-02").unwrap();
    assert_eq!(
        lf.start_lower,
        Some(Bound {
            micros: t("2023-01-02"),
            inclusive: false
        })
    );
    let lf = lower("startDateTime gt 2023-01-01 and startDateTime ge 2023-01-02").unwrap();
    assert_eq!(
        lf.start_lower,
        Some(Bound {
            micros: t("2023-01-02"),
            inclusive: true
        })
    );
}

#[test]
fn lowering_participants() {
    let lf = lower("participants_v2/any(x:x/id eq 'a' or 'b' eq x/id) and participants_v2/any(y:y/id in ('c','d')) and startDateTime ge 2023-01-01").unwrap();
    assert_eq!(
        lf.participant_ids,
        vec![
            vec!["a".to_owned(), "b".to_owned()],
            vec!["c".to_owned(), "d".to_owned()]
        ]
    );
    assert!(lf.start_lower.is_some());
}

#[test]
fn lowering_rejections() {
    let cases = [
        "startDateTime eq 2023-01-01T00:00:00Z",
        "startDateTime ne 2023-01-01T00:00:00Z",
        "startDateTime ge '2023-01-01T00:00:00Z'",
        "endDateTime ge 2023-01-01T00:00:00Z",
        "foo eq 1",
        "startDateTime ge 2023-01-01 or startDateTime lt 2023-02-01",
        "not (startDateTime ge 2023-01-01)",
        "startswith(id,'a')",
        "participants/any(p:p/id eq 'a')",
        "participants_v2/all(p:p/id eq 'a')",
        "participants_v2/any()",
        "participants_v2/any(p:p/id ne 'a')",
        "participants_v2/any(p:q/id eq 'a')",
        "participants_v2/any(p:p/id eq 'a' and p/id eq 'b')",
        "startDateTime in (2023-01-01)",
        "startDateTime",
        "true",
    ];
    let out: Vec<String> = cases
        .iter()
        .map(|c| {
            let e = lower(c).expect_err(c);
            format!("{c:?} => [{}] {}", e.code, e.message)
        })
        .collect();
    insta::assert_snapshot!(out.join("\n"));
}

// ---------------------------------------------------------------- function & key segments

#[test]
fn function_segments() {
    let from = parse_datetime_literal("2019-11-01").unwrap();
    let to = parse_datetime_literal("2019-12-01").unwrap();
    let fc = parse_function_segment("getPstnCalls(fromDateTime=2019-11-01,toDateTime=2019-12-01)")
        .unwrap()
        .unwrap();
    assert_eq!((fc.name.as_str(), fc.qualified()), ("getPstnCalls", false));
    assert_eq!(fc.datetime_param("fromDateTime", &[]), Ok(from));
    assert_eq!(fc.datetime_param("toDateTime", &[]), Ok(to));

    // `%2B` decoded by the path layer gives `+`; a raw `+` decoded as a space is accepted too.
    for seg in [
        "microsoft.graph.callRecords.getDirectRoutingCalls(fromDateTime=2019-11-01T00:00:00+00:00,toDateTime=2019-12-01T00:00:00.000000+00:00)",
        "microsoft.graph.callRecords.getDirectRoutingCalls(fromDateTime=2019-11-01T00:00:00 00:00,toDateTime='2019-12-01T00:00:00Z')",
        "microsoft.graph.callRecords.getDirectRoutingCalls( fromDateTime = '2019-11-01' , toDateTime=2019-12-01T00:00:00Z )",
    ] {
        let fc = parse_function_segment(seg).unwrap().unwrap();
        assert_eq!(fc.name, "getDirectRoutingCalls", "{seg}");
        assert_eq!(fc.namespace.as_deref(), Some(NAMESPACE));
        assert_eq!(fc.datetime_param("fromDateTime", &[]), Ok(from), "{seg}");
        assert_eq!(fc.datetime_param("toDateTime", &[]), Ok(to), "{seg}");
    }
    let encoded = "microsoft.graph.callRecords.getPstnCalls(fromDateTime=2019-11-01T00:00:00%2B00:00,toDateTime=2019-12-01)";
    let decoded = percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .unwrap();
    let fc = parse_function_segment(&decoded).unwrap().unwrap();
    assert_eq!(fc.datetime_param("fromDateTime", &[]), Ok(from));

    let fc = parse_function_segment(encoded).unwrap().unwrap();
    assert_eq!(fc.datetime_param("fromDateTime", &[]), Ok(from));

    // aliases from the query string
    let q = parse_query(Some("@p1=2019-11-01&@p2='2019-12-01T00:00:00Z'")).unwrap();
    let fc = parse_function_segment("getSmsLog(fromDateTime=@p1,toDateTime=@p2)")
        .unwrap()
        .unwrap();
    assert_eq!(
        fc.param("fromDateTime"),
        Some(&ParamValue::Alias("@p1".into()))
    );
    assert_eq!(fc.datetime_param("fromDateTime", &q.aliases), Ok(from));
    assert_eq!(fc.datetime_param("toDateTime", &q.aliases), Ok(to));
    assert!(
        fc.datetime_param("fromDateTime", &[])
            .unwrap_err()
            .message
            .contains("@p1")
    );
    assert!(
        fc.datetime_param("missing", &[])
            .unwrap_err()
            .message
            .contains("missing")
    );

    let fc = parse_function_segment("getPstnCalls()").unwrap().unwrap();
    assert!(fc.params.is_empty());
    assert_eq!(parse_function_segment("sessions").unwrap(), None);
    assert_eq!(parse_function_segment("callRecords('abc')").unwrap(), None);
    assert_eq!(parse_function_segment("a b(x=1)").unwrap(), None);
    for bad in [
        "getPstnCalls(fromDateTime=2019-11-01",
        "getPstnCalls(fromDateTime=1,fromDateTime=2)",
        "getPstnCalls(fromDateTime=)",
        "getPstnCalls(fromDateTime='x,toDateTime=1)",
        "getPstnCalls(from DateTime=1)",
        "getPstnCalls(a=1,b)",
    ] {
        assert!(parse_function_segment(bad).is_err(), "{bad}");
    }
    let fc = parse_function_segment("getPstnCalls(fromDateTime=garbage,toDateTime=2019-12-01)")
        .unwrap()
        .unwrap();
    assert!(
        fc.datetime_param("fromDateTime", &[])
            .unwrap_err()
            .message
            .contains("fromDateTime")
    );
}

#[test]
fn key_segments() {
    assert_eq!(
        parse_key_segment("callRecords('abc')"),
        Some(("callRecords".into(), "abc".into()))
    );
    assert_eq!(
        parse_key_segment("sessions('it''s')"),
        Some(("sessions".into(), "it's".into()))
    );
    assert_eq!(parse_key_segment("sessions('a'b')"), None);
    assert_eq!(parse_key_segment("sessions(abc)"), None);
    assert_eq!(parse_key_segment("sessions"), None);
    assert_eq!(parse_key_segment("getPstnCalls(fromDateTime=1)"), None);
}

// ---------------------------------------------------------------- Prefer

#[test]
fn prefer_header() {
    let p = parse_prefer([
        "odata.maxpagesize=0, ODATA.MAXPAGESIZE=\"10\", odata.maxpagesize=20",
        " Include-Unknown-Enum-Members ; x=y, return=minimal, omit-values=Nulls, foo=\"a,b\"",
    ]);
    assert_eq!(
        p,
        Prefer {
            max_page_size: Some(10),
            include_unknown_enum_members: true,
            omit_nulls: true
        }
    );
    assert_eq!(
        p.applied_header(Some(10)).as_deref(),
        Some("odata.maxpagesize=10, include-unknown-enum-members, omit-values=nulls")
    );
    assert_eq!(
        p.applied_header(None).as_deref(),
        Some("include-unknown-enum-members, omit-values=nulls")
    );
    let p = parse_prefer([
        "odata.maxpagesize=abc",
        "maxpagesize=-1",
        "omit-values=defaults",
    ]);
    assert_eq!(p, Prefer::default());
    assert_eq!(p.applied_header(None), None);
    assert_eq!(parse_prefer(["maxpagesize=5"]).max_page_size, Some(5));
}

// ---------------------------------------------------------------- property tests

mod props {
    use super::*;
    use proptest::prelude::*;

    const KEYWORDS: &[&str] = &[
        "and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le", "in", "has", "add", "sub", "mul",
        "div", "divby", "mod", "true", "false", "null", "any", "all", "duration",
    ];

    fn ident() -> impl Strategy<Value = String> {
        "[a-zA-Z_][a-zA-Z0-9_]{0,7}".prop_filter("keyword", |s| {
            !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(s))
        })
    }

    fn micros() -> impl Strategy<Value = i64> {
        // 0001-01-01 .. 9999-12-31
        -62_135_596_800_000_000i64..253_402_300_799_999_999i64
    }

    fn literal() -> impl Strategy<Value = Literal> {
        prop_oneof![
            Just(Literal::Null),
            any::<bool>().prop_map(Literal::Bool),
            any::<i64>().prop_map(Literal::Int),
            "-?[0-9]{1,5}\\.[0-9]{1,5}".prop_map(Literal::Decimal),
            any::<String>().prop_map(Literal::String),
            micros().prop_map(Literal::DateTimeOffset),
            (1i32..=9999, 1u8..=12, 1u8..=28)
                .prop_map(|(y, m, d)| Literal::Date(Date::new(y, m, d).unwrap())),
            "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}".prop_map(Literal::Guid),
            "P[0-9]{1,3}DT[0-9]{1,2}H[0-9]{1,2}M[0-9]{1,2}(\\.[0-9]{1,3})?S"
                .prop_map(Literal::Duration),
            (ident(), "[a-zA-Z]{1,8}").prop_map(|(t, m)| Literal::Enum {
                type_name: format!("microsoft.graph.callRecords.{t}"),
                member: m
            }),
        ]
    }

    fn expr() -> impl Strategy<Value = Expr> {
        let leaf = prop_oneof![
            literal().prop_map(Expr::Literal),
            prop::collection::vec(ident(), 1..4).prop_map(Expr::Path),
        ];
        leaf.prop_recursive(5, 48, 4, |inner| {
            let op = prop_oneof![
                Just(CompareOp::Eq),
                Just(CompareOp::Ne),
                Just(CompareOp::Gt),
                Just(CompareOp::Ge),
                Just(CompareOp::Lt),
                Just(CompareOp::Le)
            ];
            prop_oneof![
                (op, inner.clone(), inner.clone()).prop_map(|(op, l, r)| Expr::Compare {
                    op,
                    left: Box::new(l),
                    right: Box::new(r)
                }),
                (inner.clone(), prop::collection::vec(inner.clone(), 1..3)).prop_map(
                    |(v, list)| Expr::In {
                        value: Box::new(v),
                        list
                    }
                ),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Expr::And(Box::new(a), Box::new(b))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Expr::Or(Box::new(a), Box::new(b))),
                inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
                (
                    prop::collection::vec(ident(), 1..3),
                    prop_oneof![Just(LambdaKind::Any), Just(LambdaKind::All)],
                    prop::option::of((ident(), inner.clone()))
                )
                    .prop_map(|(path, kind, p)| Expr::Lambda {
                        path,
                        kind,
                        predicate: p.map(|(v, b)| (v, Box::new(b)))
                    }),
                (ident(), prop::collection::vec(inner, 0..3))
                    .prop_map(|(name, args)| Expr::Call { name, args }),
            ]
        })
    }

    proptest! {
        #[test]
        fn filter_print_parse_round_trip(e in expr()) {
            let printed = e.to_string();
            let parsed = parse_filter(&printed);
            prop_assert_eq!(parsed, Ok(e), "printed: {}", printed);
        }

        #[test]
        fn filter_round_trips_through_the_query_string(e in expr()) {
            let q = parse_query(Some(&format!("$filter={}", percent_encoding::utf8_percent_encode(&e.to_string(), percent_encoding::NON_ALPHANUMERIC)))).unwrap();
            let again = parse_query(Some(&q.to_query_string(&[]))).unwrap();
            prop_assert_eq!(again.filter, Some(e));
        }

        #[test]
        fn datetime_round_trip(m in micros()) {
            let s = format_datetime_micros(m);
            prop_assert_eq!(parse_datetime_literal(&s), Ok(m), "{}", s);
        }

        #[test]
        fn datetime_offsets(m in micros(), h in 0i64..14, mi in 0i64..60, neg: bool) {
            let off = (h * 3600 + mi * 60) * if neg { -1 } else { 1 };
            let local = format_datetime_micros(m + off * 1_000_000);
            let base = local.trim_end_matches('Z');
            let sign = if neg { '-' } else { '+' };
            let text = format!("{base}{sign}{h:02}:{mi:02}");
            prop_assert_eq!(parse_datetime_literal(&text), Ok(m), "{}", text);
            if !neg {
                prop_assert_eq!(parse_datetime_literal(&format!("{base} {h:02}:{mi:02}")), Ok(m));
            }
        }

        #[test]
        fn no_panics_on_strings(s in any::<String>()) {
            let _ = parse_query(Some(&s));
            let _ = parse_filter(&s);
            let _ = parse_function_segment(&s);
            let _ = parse_key_segment(&s);
            let _ = parse_prefer([s.as_str()]);
            let _ = parse_datetime_literal(&s);
            let _ = parse_expand(&s, 0);
            if let Ok(e) = parse_filter(&s) {
                let _ = lower_list_filter(&e);
            }
        }

        #[test]
        fn no_panics_on_odata_soup(s in "[ a-z0-9$'()=,;/:&%+@.TZ_-]{0,80}") {
            let _ = parse_query(Some(&s));
            if let Ok(e) = parse_filter(&s) {
                let _ = lower_list_filter(&e);
                prop_assert_eq!(parse_filter(&e.to_string()), Ok(e));
            }
            let _ = parse_function_segment(&s);
            let _ = parse_prefer([s.as_str()]);
        }

        #[test]
        fn no_panics_on_bytes(b in prop::collection::vec(any::<u8>(), 0..200)) {
            let s = String::from_utf8_lossy(&b);
            let _ = parse_query(Some(&s));
            let _ = parse_filter(&s);
            let _ = parse_function_segment(&s);
            let _ = parse_prefer([s.as_ref()]);
        }
    }
}
