//! The `mime` column: a media type guessed from the file name's extension, from a fixed table
//! (docs/format.md §19.1). The table is part of the format, not taken from a library: a guess
//! is stored in the segment, so a different guess would give the same files another segment
//! id. New entries come only with a new files table version.

/// Extension (lowercase ASCII) → media type, sorted by extension.
const TABLE: &[(&str, &str)] = &[
    ("aac", "audio/aac"),
    ("avif", "image/avif"),
    ("bmp", "image/bmp"),
    ("csv", "text/csv"),
    ("doc", "application/msword"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("flac", "audio/flac"),
    ("gif", "image/gif"),
    ("gz", "application/gzip"),
    ("heic", "image/heic"),
    ("htm", "text/html"),
    ("html", "text/html"),
    ("jpeg", "image/jpeg"),
    ("jpg", "image/jpeg"),
    ("json", "application/json"),
    ("jsonl", "application/jsonl"),
    ("m4a", "audio/mp4"),
    ("md", "text/markdown"),
    ("mkv", "video/x-matroska"),
    ("mov", "video/quicktime"),
    ("mp3", "audio/mpeg"),
    ("mp4", "video/mp4"),
    ("npy", "application/x-npy"),
    ("npz", "application/x-npz"),
    ("ogg", "audio/ogg"),
    ("opus", "audio/opus"),
    ("parquet", "application/vnd.apache.parquet"),
    ("pdf", "application/pdf"),
    ("png", "image/png"),
    ("svg", "image/svg+xml"),
    ("tar", "application/x-tar"),
    ("tif", "image/tiff"),
    ("tiff", "image/tiff"),
    ("tsv", "text/tab-separated-values"),
    ("txt", "text/plain"),
    ("wav", "audio/wav"),
    ("webm", "video/webm"),
    ("webp", "image/webp"),
    ("xml", "application/xml"),
    ("yaml", "application/yaml"),
    ("yml", "application/yaml"),
    ("zip", "application/zip"),
];

/// The media type of `path` by its extension (the text after the last `.` of the last
/// component, ASCII case ignored), if the table has it.
pub(crate) fn guess(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next()?;
    let (stem, ext) = name.rsplit_once('.')?;
    if stem.is_empty() || ext.len() > 8 {
        return None;
    }
    let ext = ext.to_ascii_lowercase();
    TABLE
        .binary_search_by(|(e, _)| (*e).cmp(ext.as_str()))
        .ok()
        .map(|i| TABLE[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_guesses() {
        assert!(TABLE.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(guess("cat/1.JPG"), Some("image/jpeg"));
        assert_eq!(guess("a.b/clip.wav"), Some("audio/wav"));
        assert_eq!(guess("README"), None);
        assert_eq!(guess(".png"), None);
        assert_eq!(guess("x.unknown"), None);
    }
}
