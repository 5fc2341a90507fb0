//! The file reader of `import` and `/ingest`: one object, a Graph page or NDJSON, cut into items, each
//! parsed and validated as its kind. The first byte picks the kind.
#![no_main]
use callrecords_model::LogKind;
use callrecords_model::reader::{RecordKind, prepare, read_items};
use libfuzzer_sys::fuzz_target;

fn kind(b: u8) -> RecordKind {
    match b % 6 {
        0 => RecordKind::CallRecord,
        n => RecordKind::Log(LogKind::ALL[usize::from(n - 1) % LogKind::ALL.len()]),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&k, body)) = data.split_first() else {
        return;
    };
    let kind = kind(k);
    let mut items = Vec::new();
    let _ = read_items("fuzz", std::io::Cursor::new(body), kind, &mut |i| {
        items.push(i)
    });
    for item in items {
        if let Ok(text) = item.text {
            let _ = prepare(item.kind, text);
        }
    }
});
