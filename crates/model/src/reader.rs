//! Streams records out of files: one JSON object, a Graph page (`{"value": [...]}`, also a bare array), or
//! NDJSON (one value per line; a line may itself be a page). Gzip-compressed input is detected and decoded.
//! Memory is bounded by the largest single record, not by the file: NDJSON is read line by line, and a page
//! document is walked element by element.
//!
//! Each item comes with its [`Location`] and its exact text; [`prepare`] then parses, validates and strips the
//! OData control annotations.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::LogKind;
use crate::validate::{self, Issue, Report, Severity};

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// `microsoft.graph.callRecords.callRecord`.
    CallRecord,
    /// One of the log-row kinds.
    Log(LogKind),
}

impl RecordKind {
    /// `--kind` name: `callRecord`, `pstnCall`, ….
    pub fn cli_name(self) -> &'static str {
        match self {
            RecordKind::CallRecord => "callRecord",
            RecordKind::Log(k) => k.cli_name(),
        }
    }
    /// Qualified Graph type name.
    pub fn qualified_type(self) -> String {
        match self {
            RecordKind::CallRecord => crate::schema::cr("callRecord"),
            RecordKind::Log(k) => crate::schema::cr(k.type_name()),
        }
    }
    /// The kind named by an `@odata.context` URL (`…$metadata#Collection(microsoft.graph.callRecords.pstnCallLogRow)`,
    /// `…$metadata#communications/callRecords`), if it names one.
    pub fn from_context(context: &str) -> Option<RecordKind> {
        let fragment = context.rsplit_once('#').map_or(context, |(_, f)| f);
        if let Some(inner) = fragment
            .strip_prefix("Collection(")
            .and_then(|f| f.strip_suffix(')'))
        {
            let name = inner.strip_prefix("microsoft.graph.callRecords.")?;
            return match name {
                "callRecord" => Some(RecordKind::CallRecord),
                other => LogKind::from_type_name(other).map(RecordKind::Log),
            };
        }
        fragment
            .starts_with("communications/callRecords")
            .then_some(RecordKind::CallRecord)
    }
}

impl std::str::FromStr for RecordKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "callRecord" {
            return Ok(RecordKind::CallRecord);
        }
        s.parse::<LogKind>().map(RecordKind::Log).map_err(|_| {
            format!(
                "unknown kind `{s}` (expected callRecord, pstnCall, directRoutingCall, smsLog, pstnBlockedUser or pstnOnlineMeetingDialout)"
            )
        })
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.cli_name())
    }
}

/// Where an item came from: the source, the line (NDJSON) and the index inside a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// File path, `-` for stdin, or a name given by the caller.
    pub source: Arc<str>,
    /// 1-based line for NDJSON input.
    pub line: Option<u64>,
    /// 0-based index inside a page's `value` array.
    pub index: Option<u64>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(i) = self.index {
            write!(f, "[{i}]")?;
        }
        Ok(())
    }
}

/// One item read from a source: its exact text, or why no text could be cut out of the input.
#[derive(Debug)]
pub struct RawItem {
    /// Where it came from.
    pub location: Location,
    /// Its kind (from the page's `@odata.context`, else the caller's default).
    pub kind: RecordKind,
    /// The item's JSON text exactly as received, or a syntax error.
    pub text: Result<String, String>,
    /// Bytes of input consumed so far (for progress reporting).
    pub bytes_read: u64,
}

/// A record ready to be stored.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The JSON text exactly as received.
    pub raw: String,
    /// The parsed value, OData control annotations removed.
    pub value: Value,
    /// It arrived with `sessions@odata.nextLink` / `participants_v2@odata.nextLink`.
    pub partial: bool,
    /// Warnings from validation.
    pub warnings: Vec<Issue>,
}

/// Why [`prepare`] refused an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The text is not JSON at all (as opposed to JSON that does not fit the schema).
    pub malformed: bool,
    /// What is wrong, with JSON paths.
    pub issues: Vec<Issue>,
}

/// Parses and validates one item's text as `kind`.
pub fn prepare(kind: RecordKind, raw: String) -> Result<Prepared, Rejected> {
    let mut value: Value = serde_json::from_str(&raw).map_err(|e| Rejected {
        malformed: true,
        issues: vec![Issue {
            path: String::new(),
            message: format!("malformed JSON: {e}"),
            severity: Severity::Error,
        }],
    })?;
    let report: Report = match kind {
        RecordKind::CallRecord => validate::validate_call_record(&value),
        RecordKind::Log(_) => validate::validate_as(&kind.qualified_type(), &value),
    };
    if !report.is_valid() {
        return Err(Rejected {
            malformed: false,
            issues: report.errors,
        });
    }
    let partial = validate::strip_control_annotations(&mut value);
    Ok(Prepared {
        raw,
        value,
        partial,
        warnings: report.warnings,
    })
}

/// An input: a file or standard input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Standard input (`-`).
    Stdin,
    /// A file.
    File(PathBuf),
}

impl Input {
    /// The name used in locations.
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "-".into(),
            Input::File(p) => p.display().to_string(),
        }
    }
    /// Size in bytes when known (files).
    pub fn size(&self) -> Option<u64> {
        match self {
            Input::Stdin => None,
            Input::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
        }
    }
    /// Opens the input for reading (gzip is decoded by [`read_items`]).
    pub fn open(&self) -> io::Result<Box<dyn Read + Send>> {
        Ok(match self {
            Input::Stdin => Box::new(io::stdin()),
            Input::File(p) => Box::new(std::fs::File::open(p)?),
        })
    }
}

/// Expands command-line paths: `-` is stdin, files are taken as given, folders are walked recursively for
/// `*.json`, `*.ndjson`, `*.jsonl` (optionally `.gz`), in name order.
pub fn collect_inputs(paths: &[PathBuf]) -> io::Result<Vec<Input>> {
    let mut out = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            out.push(Input::Stdin);
        } else if p.is_dir() {
            walk(p, &mut out)?;
        } else if p.exists() {
            out.push(Input::File(p.clone()));
        } else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: no such file or directory", p.display()),
            ));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<Input>) -> io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let base = name.strip_suffix(".gz").unwrap_or(name);
            if [".json", ".ndjson", ".jsonl"]
                .iter()
                .any(|s| base.ends_with(s))
            {
                out.push(Input::File(path));
            }
        }
    }
    Ok(())
}

struct Counting<R> {
    inner: R,
    count: Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Reads every item of `reader`, calling `sink` for each (in order). `kind` is used unless a page's
/// `@odata.context` names another. Returns an error only for I/O failures; syntax errors become items.
pub fn read_items(
    source: &str,
    reader: impl Read,
    kind: RecordKind,
    sink: &mut dyn FnMut(RawItem),
) -> io::Result<()> {
    let source: Arc<str> = Arc::from(source);
    let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut buffered = BufReader::with_capacity(
        256 * 1024,
        Counting {
            inner: reader,
            count: count.clone(),
        },
    );
    let head = buffered.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        let decoded = flate2::read::MultiGzDecoder::new(buffered);
        return read_plain(
            source,
            BufReader::with_capacity(256 * 1024, decoded),
            kind,
            &count,
            sink,
        );
    }
    read_plain(source, buffered, kind, &count, sink)
}

fn read_plain(
    source: Arc<str>,
    mut reader: impl BufRead,
    kind: RecordKind,
    count: &std::sync::atomic::AtomicU64,
    sink: &mut dyn FnMut(RawItem),
) -> io::Result<()> {
    let bytes = || count.load(std::sync::atomic::Ordering::Relaxed);
    // Find the first non-empty line to decide between NDJSON and one (pretty-printed) document.
    let mut line = Vec::new();
    let mut line_no = 0u64;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(()); // empty input
        }
        line_no += 1;
        strip_bom(&mut line, line_no);
        if !line.trim_ascii().is_empty() {
            break;
        }
    }
    let first = line.trim_ascii();
    let complete = serde_json::from_slice::<de::IgnoredAny>(first).is_ok();
    let opens_document = first.len() < 2 || matches!(first.last(), Some(b'{' | b'[' | b',' | b':'));
    if !complete && opens_document {
        let rest = io::Cursor::new(std::mem::take(&mut line)).chain(reader);
        return read_document(source, rest, kind, &bytes, sink);
    }
    // NDJSON: every non-empty line is one value (or one page).
    loop {
        let text = line.trim_ascii();
        if !text.is_empty() {
            let location = Location {
                source: source.clone(),
                line: Some(line_no),
                index: None,
            };
            emit_line(location, text, kind, bytes(), sink);
        }
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        line_no += 1;
    }
}

fn strip_bom(line: &mut Vec<u8>, line_no: u64) {
    if line_no == 1 && line.starts_with(&[0xef, 0xbb, 0xbf]) {
        line.drain(..3);
    }
}

fn emit_line(
    location: Location,
    text: &[u8],
    kind: RecordKind,
    bytes_read: u64,
    sink: &mut dyn FnMut(RawItem),
) {
    let text = match std::str::from_utf8(text) {
        Ok(t) => t,
        Err(e) => {
            sink(RawItem {
                location,
                kind,
                text: Err(format!("not UTF-8: {e}")),
                bytes_read,
            });
            return;
        }
    };
    // A line that is a page: expand its elements.
    if text.starts_with('{') && text.contains("\"value\"") {
        #[derive(serde::Deserialize)]
        struct Page<'a> {
            #[serde(rename = "@odata.context")]
            context: Option<String>,
            #[serde(borrow)]
            value: Vec<&'a RawValue>,
        }
        if let Ok(page) = serde_json::from_str::<Page<'_>>(text) {
            let kind = page
                .context
                .as_deref()
                .and_then(RecordKind::from_context)
                .unwrap_or(kind);
            for (i, raw) in page.value.into_iter().enumerate() {
                sink(RawItem {
                    location: Location {
                        index: Some(i as u64),
                        ..location.clone()
                    },
                    kind,
                    text: Ok(raw.get().to_owned()),
                    bytes_read,
                });
            }
            return;
        }
    }
    sink(RawItem {
        location,
        kind,
        text: Ok(text.to_owned()),
        bytes_read,
    });
}

fn read_document(
    source: Arc<str>,
    reader: impl Read,
    kind: RecordKind,
    bytes: &dyn Fn() -> u64,
    sink: &mut dyn FnMut(RawItem),
) -> io::Result<()> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut state = DocState {
        source: source.clone(),
        kind,
        bytes,
        sink,
        emitted: 0,
    };
    let result = DocSeed { state: &mut state }
        .deserialize(&mut de)
        .and_then(|()| de.end());
    if let Err(e) = result {
        if e.is_io() {
            return Err(io::Error::other(e.to_string()));
        }
        let at = state.emitted;
        (state.sink)(RawItem {
            location: Location {
                source,
                line: Some(e.line() as u64),
                index: (at > 0).then_some(at),
            },
            kind: state.kind,
            text: Err(format!("malformed JSON: {e}")),
            bytes_read: bytes(),
        });
    }
    Ok(())
}

struct DocState<'a> {
    source: Arc<str>,
    kind: RecordKind,
    bytes: &'a dyn Fn() -> u64,
    sink: &'a mut dyn FnMut(RawItem),
    emitted: u64,
}

impl DocState<'_> {
    fn emit(&mut self, text: String, index: Option<u64>) {
        (self.sink)(RawItem {
            location: Location {
                source: self.source.clone(),
                line: None,
                index,
            },
            kind: self.kind,
            text: Ok(text),
            bytes_read: (self.bytes)(),
        });
        self.emitted += 1;
    }
}

struct DocSeed<'s, 'a> {
    state: &'s mut DocState<'a>,
}

impl<'de> DeserializeSeed<'de> for DocSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DocSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object (a record or a page) or an array of records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        ElementsSeed { state: self.state }.visit_seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut fields: Vec<(String, Box<RawValue>)> = Vec::new();
        let mut page = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "value" && !fields.iter().any(|(k, _)| k == "id") {
                page = true;
                map.next_value_seed(ElementsSeed {
                    state: &mut *self.state,
                })?;
            } else {
                let raw: Box<RawValue> = map.next_value()?;
                if key == "@odata.context"
                    && let Some(k) = serde_json::from_str::<String>(raw.get())
                        .ok()
                        .as_deref()
                        .and_then(RecordKind::from_context)
                {
                    self.state.kind = k;
                }
                if !page {
                    fields.push((key, raw));
                }
            }
        }
        if !page {
            let mut text = String::from("{");
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    text.push(',');
                }
                text.push_str(&serde_json::to_string(k).map_err(de::Error::custom)?);
                text.push(':');
                text.push_str(v.get());
            }
            text.push('}');
            self.state.emit(text, None);
        }
        Ok(())
    }
}

struct ElementsSeed<'s, 'a> {
    state: &'s mut DocState<'a>,
}

impl<'de> DeserializeSeed<'de> for ElementsSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ElementsSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0u64;
        while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
            self.state.emit(raw.get().to_owned(), Some(i));
            i += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(input: &str) -> Vec<(String, RecordKind, Result<String, String>)> {
        let mut out = Vec::new();
        read_items("t", input.as_bytes(), RecordKind::CallRecord, &mut |it| {
            out.push((it.location.to_string(), it.kind, it.text))
        })
        .unwrap();
        out
    }

    #[test]
    fn ndjson_lines_with_a_broken_one() {
        let got = items(
            "{\"id\":\"a\",\"version\":1}\n\n{\"id\":\"b\",\"vers\n{\"id\":\"c\",\"version\":2}\n",
        );
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].0, "t:3");
        assert!(prepare(RecordKind::CallRecord, got[1].2.clone().unwrap()).is_err());
        assert_eq!(got[2].2.as_ref().unwrap(), "{\"id\":\"c\",\"version\":2}");
    }

    #[test]
    fn pretty_page_with_context() {
        let doc = "{\n  \"@odata.context\": \"https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.callRecords.smsLogRow)\",\n  \"value\": [\n    {\"id\": \"1\"},\n    {\"id\": \"2\"}\n  ],\n  \"@odata.nextLink\": \"x\"\n}\n";
        let got = items(doc);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].0, "t[1]");
        assert_eq!(got[0].1, RecordKind::Log(LogKind::SmsLog));
        assert_eq!(got[1].2.as_ref().unwrap(), "{\"id\": \"2\"}");
    }

    #[test]
    fn pretty_single_record_and_truncated_document() {
        let got =
            items("{\n \"id\": \"a\",\n \"version\": 1,\n \"sessions\": [ {\"id\": \"s\"} ]\n}\n");
        assert_eq!(got.len(), 1);
        let p = prepare(RecordKind::CallRecord, got[0].2.clone().unwrap()).unwrap();
        assert_eq!(p.value["sessions"][0]["id"], "s");
        let got = items("{\n \"value\": [\n {\"id\": \"a\", \"version\": 1},\n {\"id\": \"b\"");
        assert_eq!(got.len(), 2);
        assert!(got[1].2.is_err());
    }

    #[test]
    fn gzip_input() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"{\"id\":\"a\",\"version\":1}\n{\"id\":\"b\",\"version\":1}\n")
            .unwrap();
        let gz = enc.finish().unwrap();
        let mut n = 0;
        read_items("t", &gz[..], RecordKind::CallRecord, &mut |it| {
            assert!(it.text.is_ok());
            n += 1
        })
        .unwrap();
        assert_eq!(n, 2);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        use proptest::prelude::*;
        proptest!(|(bytes in proptest::collection::vec(any::<u8>(), 0..300))| {
            let _ = read_items("t", &bytes[..], RecordKind::CallRecord, &mut |it| {
                if let Ok(t) = it.text { let _ = prepare(it.kind, t); }
            });
        });
        proptest!(|(s in "[\\[\\]{}\":,a-z0-9 \n]{0,200}")| {
            let _ = read_items("t", s.as_bytes(), RecordKind::CallRecord, &mut |it| {
                if let Ok(t) = it.text { let _ = prepare(it.kind, t); }
            });
        });
    }
}
