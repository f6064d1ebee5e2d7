//! Artifact previews: the first bytes of an artifact's main file, shown as its materializer
//! suggests (pretty JSON, a table of JSON records, text, an image, a hex dump). A preview
//! reads at most [`PREVIEW_BYTES`] and only shows what it read: nothing in an artifact is
//! run, and every string reaches the page through the template's escaping.

use base64::Engine;
use serde_json::Value;
use zenml_artifact_store::ObjectPath;
use zenml_pipeline::artifact_io::CLAIM_FILE;

use crate::api::model::Preview;
use crate::backend::Stores;
use crate::error::RequestError;

/// How many bytes of an artifact a preview reads at most.
pub(crate) const PREVIEW_BYTES: u64 = 64 * 1024;

/// How many bytes a hex dump shows.
const HEX_BYTES: usize = 512;

/// How many rows and columns a table preview shows at most.
const TABLE_ROWS: usize = 50;
const TABLE_COLUMNS: usize = 30;

fn empty(kind: &str) -> Preview {
    Preview {
        kind: kind.to_owned(),
        file: None,
        text: None,
        image: None,
        hex: None,
        columns: Vec::new(),
        rows: Vec::new(),
        truncated: false,
    }
}

/// The preview of artifact `id`.
pub(crate) fn preview(stores: &Stores, id: &str) -> Result<Preview, RequestError> {
    let record = stores.client.stack().metadata_store.get_artifact(id)?;
    let store = stores.client.stack().artifact_store.as_ref();
    if record.artifact_store_uri != store.uri() {
        let mut preview = empty("none");
        preview.text = Some(format!(
            "This artifact lives in another artifact store ({}); the dashboard serves {}.",
            record.artifact_store_uri,
            store.uri()
        ));
        return Ok(preview);
    }
    let internal =
        |e: zenml_artifact_store::ArtifactStoreError| RequestError::Internal(e.to_string());
    let folder = ObjectPath::new(&record.path).map_err(|e| internal(e.into()))?;
    let mut files: Vec<_> = store
        .list(Some(&folder))
        .map_err(internal)?
        .into_iter()
        .filter(|meta| meta.path.as_str().rsplit('/').next() != Some(CLAIM_FILE))
        .collect();
    files.sort_by(|a, b| a.path.as_str().cmp(b.path.as_str()));
    let Some(file) = files.first() else {
        let mut preview = empty("none");
        preview.text = Some("The artifact holds no files.".to_owned());
        return Ok(preview);
    };
    let name = file
        .path
        .as_str()
        .strip_prefix(folder.as_str())
        .unwrap_or(file.path.as_str())
        .trim_start_matches('/')
        .to_owned();
    let mut preview = if record.materializer_id == "zenml.parquet" {
        parquet_preview(store, &file.path, file.size)
    } else {
        let read = file.size.min(PREVIEW_BYTES);
        let bytes = store.get_range(&file.path, 0..read).map_err(internal)?;
        let truncated = file.size > read;
        match record.materializer_id.as_str() {
            "zenml.json" => json_preview(&bytes, truncated),
            "zenml.bytes" => {
                let mut preview = bytes_preview(&bytes, truncated);
                if preview.kind != "image" {
                    preview.hex = Some(hex_dump(&bytes[..bytes.len().min(HEX_BYTES)]));
                }
                preview
            }
            _ => bytes_preview(&bytes, truncated),
        }
    };
    preview.file = Some(name);
    Ok(preview)
}

/// The largest Parquet file read into memory for its first rows when the store has no
/// local files (a bucket).
const PARQUET_IN_MEMORY: u64 = 32 * 1024 * 1024;

/// The first rows of a Parquet table, read by the row reader of the `parquet` crate: from
/// the file in place on a local store, or from its bytes when it is small enough to fetch.
fn parquet_preview(
    store: &dyn zenml_artifact_store::ArtifactStore,
    path: &ObjectPath,
    size: u64,
) -> Preview {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let rows = |reader: &dyn FileReader| -> Result<Preview, parquet::errors::ParquetError> {
        let mut preview = empty("table");
        let total = reader.metadata().file_metadata().num_rows();
        for row in reader.get_row_iter(None)?.take(TABLE_ROWS) {
            let row = row?;
            if preview.columns.is_empty() {
                preview.columns = row
                    .get_column_iter()
                    .take(TABLE_COLUMNS)
                    .map(|(name, _)| name.clone())
                    .collect();
            }
            preview.rows.push(
                row.get_column_iter()
                    .take(TABLE_COLUMNS)
                    .map(|(_, field)| match field {
                        parquet::record::Field::Str(text) => text.clone(),
                        parquet::record::Field::Null => String::new(),
                        other => other.to_string(),
                    })
                    .collect(),
            );
        }
        preview.truncated = total > TABLE_ROWS as i64;
        Ok(preview)
    };
    let local = store.local_files().and_then(|files| files.local_path(path));
    let read = match local {
        Some(local) => std::fs::File::open(&local)
            .map_err(parquet::errors::ParquetError::from)
            .and_then(SerializedFileReader::new)
            .and_then(|reader| rows(&reader)),
        None if size <= PARQUET_IN_MEMORY => match store.get(path) {
            Ok(bytes) => SerializedFileReader::new(bytes::Bytes::from(bytes))
                .and_then(|reader| rows(&reader)),
            Err(e) => Err(parquet::errors::ParquetError::General(e.to_string())),
        },
        None => {
            let mut preview = empty("none");
            preview.text = Some(format!(
                "A Parquet table of {size} bytes in a bucket: too large to fetch for a preview; \
                 its schema and statistics are below."
            ));
            return preview;
        }
    };
    read.unwrap_or_else(|e| {
        let mut preview = empty("none");
        preview.text = Some(format!("The Parquet file cannot be read: {e}"));
        preview
    })
}

/// JSON: a table for an array of records, pretty text otherwise (or the raw text when the
/// preview cut it).
fn json_preview(bytes: &[u8], truncated: bool) -> Preview {
    if !truncated && let Ok(value) = serde_json::from_slice::<Value>(bytes) {
        if let Some(table) = records_table(&value) {
            return table;
        }
        let mut preview = empty("json");
        preview.text = serde_json::to_string_pretty(&value).ok();
        return preview;
    }
    text_or_hex(bytes, truncated)
}

/// An array of JSON objects as a table: the union of their keys as columns.
fn records_table(value: &Value) -> Option<Preview> {
    let rows = value.as_array()?;
    if rows.is_empty() || !rows.iter().all(Value::is_object) {
        return None;
    }
    let mut columns: Vec<String> = Vec::new();
    for row in rows.iter().filter_map(Value::as_object) {
        for key in row.keys() {
            if !columns.contains(key) && columns.len() < TABLE_COLUMNS {
                columns.push(key.clone());
            }
        }
    }
    let mut preview = empty("table");
    preview.rows = rows
        .iter()
        .take(TABLE_ROWS)
        .map(|row| {
            columns
                .iter()
                .map(|column| match &row[column] {
                    Value::Null => String::new(),
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect();
    preview.truncated = rows.len() > TABLE_ROWS;
    preview.columns = columns;
    Some(preview)
}

/// Raw bytes: an image when they start like one, text when they are UTF-8, hex otherwise.
fn bytes_preview(bytes: &[u8], truncated: bool) -> Preview {
    let media = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else {
        None
    };
    if let Some(media) = media
        && !truncated
    {
        let mut preview = empty("image");
        preview.image = Some(format!(
            "data:{media};base64,{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ));
        return preview;
    }
    text_or_hex(bytes, truncated)
}

fn text_or_hex(bytes: &[u8], truncated: bool) -> Preview {
    // A cut may split a character: only the last three bytes may be incomplete.
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => Some(text),
        Err(e) if truncated && bytes.len() - e.valid_up_to() < 4 && e.error_len().is_none() => {
            std::str::from_utf8(&bytes[..e.valid_up_to()]).ok()
        }
        Err(_) => None,
    };
    if let Some(text) = text.filter(|t| !t.chars().any(|c| c.is_control() && !c.is_whitespace())) {
        let mut preview = empty("text");
        preview.text = Some(text.to_owned());
        preview.truncated = truncated;
        return preview;
    }
    let mut preview = empty("hex");
    preview.text = Some(hex_dump(&bytes[..bytes.len().min(HEX_BYTES)]));
    preview.truncated = truncated || bytes.len() > HEX_BYTES;
    preview
}

/// `offset  hex bytes  |ascii|`, 16 bytes a line.
fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (line, chunk) in bytes.chunks(16).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        let ascii: String = chunk
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        out.push_str(&format!(
            "{:08x}  {:<47}  |{ascii}|\n",
            line * 16,
            hex.join(" ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_follow_the_content() {
        let json = json_preview(br#"{"b": [1, 2], "a": "<script>"}"#, false);
        assert_eq!(json.kind, "json");
        assert!(json.text.unwrap().contains("\"<script>\""));
        let table = json_preview(br#"[{"x": 1, "y": "a"}, {"x": 2, "z": null}]"#, false);
        assert_eq!(table.kind, "table");
        assert_eq!(table.columns, vec!["x", "y", "z"]);
        assert_eq!(table.rows[1], vec!["2", "", ""]);
        let cut = json_preview(br#"{"a": [1, 2"#, true);
        assert_eq!((cut.kind.as_str(), cut.truncated), ("text", true));
        let png = bytes_preview(b"\x89PNG\r\n\x1a\nrest", false);
        assert_eq!(png.kind, "image");
        assert!(png.image.unwrap().starts_with("data:image/png;base64,"));
        let binary = bytes_preview(&[0, 1, 2, 255, b'a'], false);
        assert_eq!(binary.kind, "hex");
        assert_eq!(
            binary.text.unwrap(),
            "00000000  00 01 02 ff 61                                   |....a|\n"
        );
        let text = bytes_preview("héllo\n".as_bytes(), false);
        assert_eq!(text.text.as_deref(), Some("héllo\n"));
        // A multi-byte character cut by the preview's limit is dropped, not a reason for hex.
        let split = bytes_preview(&"aé".as_bytes()[..2], true);
        assert_eq!(
            (split.kind.as_str(), split.text.as_deref()),
            ("text", Some("a"))
        );
    }
}
