//! The one batching policy: a batch (one store transaction per kind) is cut at a number of records or a
//! number of bytes of JSON, whichever comes first, so that big records do not make big batches (memory)
//! while small ones still share a transaction.

use callrecords_model::reader::RawItem;

/// When a batch is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Items per batch at most (values below 1 count as 1).
    pub max_records: usize,
    /// A batch is cut once its items' JSON text reaches this many bytes (the item that reaches it is the
    /// batch's last one, so a single bigger item makes a batch of its own).
    pub max_bytes: usize,
}

impl BatchLimits {
    /// Default [`BatchLimits::max_records`].
    pub const DEFAULT_MAX_RECORDS: usize = 1000;
    /// Default [`BatchLimits::max_bytes`]: 16 MiB.
    pub const DEFAULT_MAX_BYTES: usize = 16 << 20;
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            max_records: Self::DEFAULT_MAX_RECORDS,
            max_bytes: Self::DEFAULT_MAX_BYTES,
        }
    }
}

/// Cuts a stream of items into batches by [`BatchLimits`].
#[derive(Debug)]
pub(crate) struct Batcher {
    limits: BatchLimits,
    items: Vec<RawItem>,
    bytes: usize,
}

impl Batcher {
    pub(crate) fn new(limits: BatchLimits) -> Self {
        let limits = BatchLimits {
            max_records: limits.max_records.max(1),
            ..limits
        };
        Batcher {
            items: Self::fresh(limits),
            limits,
            bytes: 0,
        }
    }

    fn fresh(limits: BatchLimits) -> Vec<RawItem> {
        Vec::with_capacity(limits.max_records.min(4096))
    }

    /// Adds an item; returns the batch it completes, if it does.
    pub(crate) fn push(&mut self, item: RawItem) -> Option<Vec<RawItem>> {
        // Text the reader could not cut out counts as nothing: it is not stored.
        self.bytes += item.text.as_ref().map_or(0, String::len);
        self.items.push(item);
        if self.items.len() >= self.limits.max_records || self.bytes >= self.limits.max_bytes {
            self.bytes = 0;
            return Some(std::mem::replace(&mut self.items, Self::fresh(self.limits)));
        }
        None
    }

    /// The last, incomplete batch, unless it is empty.
    pub(crate) fn finish(self) -> Option<Vec<RawItem>> {
        (!self.items.is_empty()).then_some(self.items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callrecords_model::reader::{Location, RecordKind};

    fn item(i: u64, len: usize) -> RawItem {
        RawItem {
            location: Location {
                source: "t".into(),
                line: Some(i + 1),
                index: None,
            },
            kind: RecordKind::CallRecord,
            text: Ok("x".repeat(len)),
            bytes_read: i,
        }
    }

    fn cut(limits: BatchLimits, items: impl IntoIterator<Item = RawItem>) -> Vec<Vec<u64>> {
        let mut b = Batcher::new(limits);
        let mut out = Vec::new();
        for it in items {
            out.extend(b.push(it));
        }
        out.extend(b.finish());
        out.iter()
            .map(|batch| batch.iter().map(|i| i.location.line.unwrap()).collect())
            .collect()
    }

    #[test]
    fn cuts_by_count() {
        let limits = BatchLimits {
            max_records: 3,
            ..BatchLimits::default()
        };
        let batches = cut(limits, (0..10).map(|i| item(i, 10)));
        assert_eq!(
            batches,
            [vec![1, 2, 3], vec![4, 5, 6], vec![7, 8, 9], vec![10]]
        );
        assert!(cut(limits, []).is_empty());
        // Exactly full: no empty batch at the end.
        assert_eq!(cut(limits, (0..3).map(|i| item(i, 10))).len(), 1);
        // Zero means one.
        let one = BatchLimits {
            max_records: 0,
            ..limits
        };
        assert_eq!(cut(one, (0..3).map(|i| item(i, 10))).len(), 3);
    }

    #[test]
    fn cuts_by_bytes() {
        let limits = BatchLimits {
            max_records: 1000,
            max_bytes: 250,
        };
        // 100 bytes each: the third item reaches 250.
        let batches = cut(limits, (0..7).map(|i| item(i, 100)));
        assert_eq!(batches, [vec![1, 2, 3], vec![4, 5, 6], vec![7]]);
        // An item bigger than the limit makes a batch of its own; the count restarts after a cut.
        let sizes = [10, 500, 10, 10, 240, 10];
        let batches = cut(
            limits,
            sizes.iter().enumerate().map(|(i, &n)| item(i as u64, n)),
        );
        assert_eq!(batches, [vec![1, 2], vec![3, 4, 5], vec![6]]);
        // Items without text weigh nothing.
        let bad = |i| RawItem {
            text: Err("broken".into()),
            ..item(i, 0)
        };
        assert_eq!(cut(limits, (0..5).map(bad)).len(), 1);
    }

    #[test]
    fn whichever_limit_comes_first() {
        let limits = BatchLimits {
            max_records: 4,
            max_bytes: 250,
        };
        let sizes = [1, 1, 1, 1, 1, 200, 100, 1];
        let batches = cut(
            limits,
            sizes.iter().enumerate().map(|(i, &n)| item(i as u64, n)),
        );
        assert_eq!(batches, [vec![1, 2, 3, 4], vec![5, 6, 7], vec![8]]);
    }
}
