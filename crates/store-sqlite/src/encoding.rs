//! How raw JSON is kept in `record_versions.raw`: deflated (the default) or as is.

use std::io::Read;

use callrecords_store::StoreError;

/// Raw JSON encodings in `record_versions.raw_encoding`.
pub(crate) const RAW_PLAIN: i64 = 0;
pub(crate) const RAW_DEFLATE: i64 = 1;

/// The stored form of a raw JSON text: deflated with `deflate` (reset first and reused across records: setting
/// one up costs about as much as compressing a small record), or as is.
pub(crate) fn encode_raw_with(
    raw: &str,
    compress: bool,
    deflate: &mut flate2::Compress,
) -> Result<(i64, Vec<u8>), StoreError> {
    if !compress {
        return Ok((RAW_PLAIN, raw.as_bytes().to_vec()));
    }
    Ok((RAW_DEFLATE, deflate_bytes(raw.as_bytes(), deflate)?))
}

/// `input` deflated with `deflate` (reset first).
pub(crate) fn deflate_bytes(
    input: &[u8],
    deflate: &mut flate2::Compress,
) -> Result<Vec<u8>, StoreError> {
    deflate.reset();
    let mut out = Vec::with_capacity(input.len() / 3 + 64);
    loop {
        let consumed = usize::try_from(deflate.total_in()).unwrap_or(usize::MAX);
        let status = deflate
            .compress_vec(
                input.get(consumed..).unwrap_or_default(),
                &mut out,
                flate2::FlushCompress::Finish,
            )
            .map_err(|e| StoreError::Backend(format!("compress: {e}")))?;
        match status {
            flate2::Status::StreamEnd => return Ok(out),
            _ => out.reserve(out.capacity().max(1024)),
        }
    }
}

/// A new deflate state of the kind [`encode_raw_with`] expects.
pub(crate) fn new_deflate() -> flate2::Compress {
    flate2::Compress::new(flate2::Compression::fast(), false)
}

/// The inverse of [`deflate_bytes`].
pub(crate) fn inflate_bytes(bytes: &[u8]) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(bytes.len() * 4);
    flate2::read::DeflateDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(|e| StoreError::Backend(format!("decompress: {e}")))?;
    Ok(out)
}

/// The raw JSON text back from its stored form.
pub(crate) fn decode_raw(encoding: i64, bytes: Vec<u8>) -> Result<String, StoreError> {
    let bytes = match encoding {
        RAW_PLAIN => bytes,
        RAW_DEFLATE => inflate_bytes(&bytes)?,
        other => {
            return Err(StoreError::Backend(format!("unknown raw encoding {other}")));
        }
    };
    String::from_utf8(bytes).map_err(|e| StoreError::Backend(format!("raw not UTF-8: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reused_deflate_state_round_trips() {
        let mut d = new_deflate();
        let big: String = (0..200_000).map(|i| format!("{{\"n\":{i}}}")).collect();
        for text in ["", "{}", "{\"id\":\"é\"}", big.as_str(), "{\"a\":1}"] {
            let (enc, bytes) = encode_raw_with(text, true, &mut d).unwrap();
            assert_eq!(decode_raw(enc, bytes).unwrap(), text);
            let (enc, bytes) = encode_raw_with(text, false, &mut d).unwrap();
            assert_eq!(decode_raw(enc, bytes).unwrap(), text);
        }
    }
}
