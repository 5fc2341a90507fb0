//! Which media is which, by `media.label` (call-quality.md, "Which media is which").

use serde::Serialize;

/// A stream's kind, from its media's label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// `main-audio`.
    Audio,
    /// `main-video`.
    Video,
    /// `applicationsharing-video`: video-based screen sharing.
    Vbss,
    /// Any other label starting with `applicationsharing` (RDP application sharing).
    AppSharing,
    /// Not a quality stream: `data` (`known: true`), or a label this code does not know / no label at all
    /// (`known: false`, Unclassified with reason "unknown media label").
    Other { known: bool },
}

impl MediaKind {
    /// The kind of a media with this label. Labels are matched exactly (case-sensitive), as Graph writes
    /// them; a missing label is unknown.
    pub fn from_label(label: Option<&str>) -> MediaKind {
        match label {
            Some("main-audio") => MediaKind::Audio,
            Some("main-video") => MediaKind::Video,
            Some("applicationsharing-video") => MediaKind::Vbss,
            Some(l) if l.starts_with("applicationsharing") => MediaKind::AppSharing,
            Some("data") => MediaKind::Other { known: true },
            _ => MediaKind::Other { known: false },
        }
    }

    /// The name used in rows and summaries: `audio`, `video`, `vbss`, `appSharing`, `other`.
    pub fn name(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
            MediaKind::Vbss => "vbss",
            MediaKind::AppSharing => "appSharing",
            MediaKind::Other { .. } => "other",
        }
    }
}

impl Serialize for MediaKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(MediaKind::from_label(Some("main-audio")), MediaKind::Audio);
        assert_eq!(MediaKind::from_label(Some("main-video")), MediaKind::Video);
        assert_eq!(
            MediaKind::from_label(Some("applicationsharing-video")),
            MediaKind::Vbss
        );
        assert_eq!(
            MediaKind::from_label(Some("applicationsharing")),
            MediaKind::AppSharing
        );
        assert_eq!(
            MediaKind::from_label(Some("applicationsharing-rdp")),
            MediaKind::AppSharing
        );
        assert_eq!(
            MediaKind::from_label(Some("data")),
            MediaKind::Other { known: true }
        );
        for unknown in [
            None,
            Some(""),
            Some("Main-Audio"),
            Some("panoramic-video"),
            Some("audio"),
        ] {
            assert_eq!(
                MediaKind::from_label(unknown),
                MediaKind::Other { known: false },
                "{unknown:?}"
            );
        }
    }
}
