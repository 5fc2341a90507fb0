//! The OData query-string parser ($filter, $select, $expand, $top, $skiptoken, …), the `$filter` grammar on
//! its own, and `Prefer`: any bytes must give a value or an `ODataError`, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = callrecords_odata::parse_query(Some(s));
    let _ = callrecords_odata::parse_filter(s);
    let _ = callrecords_odata::parse_prefer(s.split('\n'));
    if let Ok(f) = callrecords_odata::parse_filter(s) {
        let _ = callrecords_odata::lower_list_filter(&f);
    }
});
