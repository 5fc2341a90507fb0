//! An `/ingest` body as the handler reads it: gzip-decoded when it is gzip (bounded, as the handler
//! bounds it), then cut into items and each item prepared as a call record.
#![no_main]
use std::io::Read;

use callrecords_model::reader::{RecordKind, prepare, read_items};
use libfuzzer_sys::fuzz_target;

const LIMIT: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let body: Vec<u8> = if data.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        if flate2::read::MultiGzDecoder::new(data)
            .take(LIMIT + 1)
            .read_to_end(&mut out)
            .is_err()
            || out.len() as u64 > LIMIT
        {
            return;
        }
        out
    } else {
        data.to_vec()
    };
    let mut items = Vec::new();
    let _ = read_items(
        "body",
        std::io::Cursor::new(body),
        RecordKind::CallRecord,
        &mut |i| items.push(i),
    );
    for item in items {
        if let Ok(text) = item.text {
            let _ = prepare(item.kind, text);
        }
    }
});
