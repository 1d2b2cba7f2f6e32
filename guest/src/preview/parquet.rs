//! Parquet: the schema from the footer and the first rows of the row groups that hold them,
//! read by the `parquet` crate (Apache Arrow's Rust implementation, without Arrow) from only
//! the byte ranges fetched: the footer, then those row groups' column chunks.
//!
//! Codecs: uncompressed, Snappy, Gzip, Brotli, LZ4 and LZ4_RAW decode here (pure Rust).
//! ZSTD and LZO are refused with a message: their only decoders are C, which the guest's
//! WebAssembly build does not compile.

use std::sync::Arc;

use bytes::Bytes;
use parquet::basic::{Compression, ConvertedType};
use parquet::errors::ParquetError;
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::reader::{ChunkReader, FileReader, Length, SerializedFileReader};
use serde_json::Value;

use super::{Column, Table};

/// The bytes of a Parquet file that have been fetched, at their offsets.
#[derive(Clone)]
pub struct Fetched {
    size: u64,
    pieces: Arc<Vec<(u64, Bytes)>>,
}

impl Fetched {
    pub fn new(size: u64) -> Self {
        Self {
            size,
            pieces: Arc::new(Vec::new()),
        }
    }

    pub fn add(&mut self, start: u64, bytes: Vec<u8>) {
        Arc::make_mut(&mut self.pieces).push((start, Bytes::from(bytes)));
    }

    fn slice(&self, start: u64, length: usize) -> Option<Bytes> {
        self.pieces.iter().find_map(|(at, bytes)| {
            let offset = usize::try_from(start.checked_sub(*at)?).ok()?;
            (offset + length <= bytes.len()).then(|| bytes.slice(offset..offset + length))
        })
    }
}

impl Length for Fetched {
    fn len(&self) -> u64 {
        self.size
    }
}

impl ChunkReader for Fetched {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        let piece = self
            .pieces
            .iter()
            .find(|(at, bytes)| start >= *at && start < at + bytes.len() as u64);
        match piece {
            Some((at, bytes)) => Ok(bytes::Buf::reader(bytes.slice((start - at) as usize..))),
            None => Err(ParquetError::General(format!(
                "byte {start} was not fetched"
            ))),
        }
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.slice(start, length).ok_or_else(|| {
            ParquetError::General(format!("bytes {start}+{length} were not fetched"))
        })
    }
}

/// The last 8 bytes: the footer's length, then `PAR1`.
pub fn footer_length(tail: &[u8]) -> Result<u64, String> {
    match tail {
        [.., a, b, c, d, b'P', b'A', b'R', b'1'] => {
            Ok(u64::from(u32::from_le_bytes([*a, *b, *c, *d])))
        }
        _ => Err("it does not end with PAR1, so it is not a Parquet file".into()),
    }
}

/// What to fetch after the footer: the row groups holding rows `offset..offset + max_rows`,
/// each with the byte range of its column chunks.
pub struct Needed {
    /// (row group index, its first row's number, start, length).
    groups: Vec<(usize, u64, u64, u64)>,
}

impl Needed {
    pub fn ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.groups
            .iter()
            .map(|(_, _, start, length)| (*start, *length))
    }
}

/// The most top-level columns previewed, and row groups read for one part.
const MAX_COLUMNS: usize = 256;
const MAX_GROUPS: usize = 64;
/// The most a row group read for a preview may hold decompressed, as its footer states: the
/// reader decompresses a page whole, in the guest's memory.
const MAX_GROUP_UNCOMPRESSED: u64 = 24 << 20;

/// The schema, the rows the row groups hold, and what to fetch, from a file whose footer is
/// in `fetched`. Every offset and length the footer states is checked against the object
/// before anything is read with it.
pub fn plan(
    fetched: &Fetched,
    offset: u64,
    max_rows: usize,
) -> Result<(Vec<Column>, u64, Needed), String> {
    let reader = SerializedFileReader::new(fetched.clone())
        .map_err(|e| format!("its footer cannot be read ({e})"))?;
    let metadata = reader.metadata();
    let fields = metadata
        .file_metadata()
        .schema_descr()
        .root_schema()
        .get_fields();
    if fields.len() > MAX_COLUMNS {
        return Err(format!(
            "it has {} columns, more than the {MAX_COLUMNS} previewed; query it with a SQL engine instead",
            fields.len()
        ));
    }
    let columns = fields
        .iter()
        .map(|field| Column {
            name: field.name().to_owned(),
            kind: type_name(field),
        })
        .collect();
    let end = offset.saturating_add(max_rows as u64);
    let mut needed = Needed { groups: Vec::new() };
    let mut row = 0u64;
    for (index, group) in metadata.row_groups().iter().enumerate() {
        let rows = u64::try_from(group.num_rows())
            .map_err(|_| "a row group has a negative row count".to_owned())?;
        if rows > 0 && row.saturating_add(rows) > offset && row < end {
            if needed.groups.len() == MAX_GROUPS {
                break;
            }
            let (start, length) = chunk_range(group.columns(), fetched.size)?;
            needed.groups.push((index, row, start, length));
        }
        row = row.saturating_add(rows);
    }
    Ok((columns, row, needed))
}

/// Where a row group's column chunks lie, checked to be inside the object, their codecs
/// ones this server decodes.
fn chunk_range(columns: &[ColumnChunkMetaData], size: u64) -> Result<(u64, u64), String> {
    let (mut first, mut last) = (u64::MAX, 0u64);
    let uncompressed: u64 = columns
        .iter()
        .map(|c| u64::try_from(c.uncompressed_size()).unwrap_or(u64::MAX))
        .fold(0, u64::saturating_add);
    if uncompressed > MAX_GROUP_UNCOMPRESSED {
        return Err(format!(
            "a row group it would read holds {} MiB decompressed, more than the {} MiB a preview decompresses; query it with SQL (athena_query_execute) instead",
            uncompressed >> 20,
            MAX_GROUP_UNCOMPRESSED >> 20
        ));
    }
    for column in columns {
        if let Some(refused) = refused_codec(column.compression()) {
            return Err(refused);
        }
        let start = column
            .dictionary_page_offset()
            .unwrap_or(column.data_page_offset());
        let start = u64::try_from(start).ok();
        let length = u64::try_from(column.compressed_size()).ok();
        let (Some(start), Some(length)) = (start, length) else {
            return Err("its footer gives a column chunk a negative offset or size".into());
        };
        let stop = start.checked_add(length).filter(|stop| *stop <= size);
        let Some(stop) = stop else {
            return Err("its footer places a column chunk outside the file".into());
        };
        first = first.min(start);
        last = last.max(stop);
    }
    if first >= last {
        return Err("a row group has no column data".into());
    }
    Ok((first, last - first))
}

/// The rows `offset..offset + max_rows`, once `needed`'s ranges are in `fetched`; `total` is
/// what the row groups hold.
pub fn rows(
    fetched: Fetched,
    columns: Vec<Column>,
    total: u64,
    needed: &Needed,
    offset: u64,
    max_rows: usize,
) -> Result<Table, String> {
    let reader =
        SerializedFileReader::new(fetched).map_err(|e| format!("it cannot be read ({e})"))?;
    let mut rows = Vec::new();
    'groups: for (index, first_row, _, _) in &needed.groups {
        let group = reader
            .get_row_group(*index)
            .map_err(|e| format!("row group {index} cannot be read ({e})"))?;
        let iter = group
            .get_row_iter(None)
            .map_err(|e| format!("row group {index} cannot be read ({e})"))?;
        for (row, read) in (*first_row..).zip(iter) {
            let read =
                read.map_err(|e| format!("a row of row group {index} cannot be read ({e})"))?;
            if row < offset {
                continue;
            }
            let json = read.to_json_value();
            rows.push(
                columns
                    .iter()
                    .map(|c| json.get(&c.name).cloned().unwrap_or(Value::Null))
                    .collect(),
            );
            if rows.len() == max_rows {
                break 'groups;
            }
        }
    }
    let next = offset.saturating_add(rows.len() as u64);
    Ok(Table {
        format: "parquet",
        columns,
        // No rows where the groups said there were some: no next part, which would be this one.
        next_offset: (!rows.is_empty() && next < total).then_some(next),
        rows,
        total_rows: Some(total),
        notes: Vec::new(),
    })
}

fn refused_codec(compression: Compression) -> Option<String> {
    let name = match compression {
        Compression::ZSTD(_) => "ZSTD",
        Compression::LZO => "LZO",
        _ => return None,
    };
    Some(format!(
        "it is compressed with {name}, which this server cannot decode (its decoders are C code, which the WebAssembly guest does not build); files compressed with Snappy, Gzip, Brotli, LZ4 or none can be previewed, or download it with bucket_object_link"
    ))
}

/// The column's physical type, with its logical type when it has one: `INT64`,
/// `BYTE_ARRAY (String)`, `group` for nested columns.
fn type_name(field: &parquet::schema::types::Type) -> String {
    if !field.is_primitive() {
        return "group".into();
    }
    let info = field.get_basic_info();
    let physical = format!("{:?}", field.get_physical_type());
    match (info.logical_type_ref(), info.converted_type()) {
        (Some(logical), _) => format!("{physical} ({logical:?})"),
        (None, ConvertedType::NONE) => physical,
        (None, converted) => format!("{physical} ({converted})"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use parquet::basic::{Compression, ZstdLevel};
    use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    use serde_json::json;

    use super::{Fetched, footer_length, plan, refused_codec, rows};

    /// Two row groups of three rows: id 0..6, name "n0".."n5", Snappy-compressed.
    fn file() -> Vec<u8> {
        let schema = Arc::new(
            parse_message_type("message m { required int64 id; required binary name (UTF8); }")
                .unwrap(),
        );
        let properties = Arc::new(
            WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .build(),
        );
        let mut out = Vec::new();
        let mut writer = SerializedFileWriter::new(&mut out, schema, properties).unwrap();
        for group in 0..2i64 {
            let mut row_group = writer.next_row_group().unwrap();
            let ids: Vec<i64> = (group * 3..group * 3 + 3).collect();
            let mut column = row_group.next_column().unwrap().unwrap();
            column
                .typed::<Int64Type>()
                .write_batch(&ids, None, None)
                .unwrap();
            column.close().unwrap();
            let names: Vec<ByteArray> = ids
                .iter()
                .map(|i| ByteArray::from(format!("n{i}").as_str()))
                .collect();
            let mut column = row_group.next_column().unwrap().unwrap();
            column
                .typed::<ByteArrayType>()
                .write_batch(&names, None, None)
                .unwrap();
            column.close().unwrap();
            row_group.close().unwrap();
        }
        writer.close().unwrap();
        out
    }

    /// What the tool does: the footer, then only the planned ranges.
    fn preview(bytes: &[u8], offset: u64, max_rows: usize) -> (super::Table, usize) {
        let size = bytes.len() as u64;
        let footer = footer_length(&bytes[bytes.len() - 8..]).unwrap() + 8;
        let mut fetched = Fetched::new(size);
        fetched.add(size - footer, bytes[(size - footer) as usize..].to_vec());
        let (columns, total, needed) = plan(&fetched, offset, max_rows).unwrap();
        for (start, length) in needed.ranges() {
            fetched.add(
                start,
                bytes[start as usize..(start + length) as usize].to_vec(),
            );
        }
        let groups = needed.ranges().count();
        (
            rows(fetched, columns, total, &needed, offset, max_rows).unwrap(),
            groups,
        )
    }

    #[test]
    fn schema_and_first_rows_from_the_row_groups_that_hold_them() {
        let bytes = file();
        let (table, groups) = preview(&bytes, 0, 2);
        assert_eq!(groups, 1, "only the first row group is read");
        let names: Vec<(&str, &str)> = table
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.kind.as_str()))
            .collect();
        assert_eq!(names, [("id", "INT64"), ("name", "BYTE_ARRAY (UTF8)")]);
        assert_eq!(
            table.rows,
            [[json!(0), json!("n0")], [json!(1), json!("n1")]]
        );
        assert_eq!((table.total_rows, table.next_offset), (Some(6), Some(2)));
        // A part across both row groups, then the last one.
        let (table, groups) = preview(&bytes, 2, 3);
        assert_eq!(groups, 2);
        let ids: Vec<_> = table.rows.iter().map(|r| r[0].clone()).collect();
        assert_eq!(ids, [json!(2), json!(3), json!(4)]);
        let (table, _) = preview(&bytes, 5, 10);
        assert_eq!((table.rows.len(), table.next_offset), (1, None));
    }

    #[test]
    fn not_parquet_and_c_only_codecs_are_refused_in_words() {
        assert!(footer_length(b"12345678").unwrap_err().contains("PAR1"));
        let refused = refused_codec(Compression::ZSTD(ZstdLevel::default())).unwrap();
        assert!(
            refused.contains("ZSTD") && refused.contains("Snappy"),
            "{refused}"
        );
        assert!(refused_codec(Compression::SNAPPY).is_none());
    }

    /// A footer's offsets and sizes are checked before the reader (which asserts on them) or
    /// a ranged GET sees them.
    #[test]
    fn column_chunks_outside_the_file_are_refused_in_words() {
        use parquet::file::metadata::ColumnChunkMetaData;
        use parquet::schema::types::SchemaDescriptor;

        let schema = parse_message_type("message m { required int64 id; }").unwrap();
        let descriptor = SchemaDescriptor::new(Arc::new(schema));
        let chunk = |offset: i64, size: i64| {
            ColumnChunkMetaData::builder(descriptor.column(0))
                .set_data_page_offset(offset)
                .set_total_compressed_size(size)
                .set_total_uncompressed_size(size.max(0))
                .build()
                .unwrap()
        };
        let huge = ColumnChunkMetaData::builder(descriptor.column(0))
            .set_data_page_offset(4)
            .set_total_compressed_size(10)
            .set_total_uncompressed_size(1 << 30)
            .build()
            .unwrap();
        let error = super::chunk_range(&[huge], 100).unwrap_err();
        assert!(error.contains("1024 MiB decompressed"), "{error}");
        for (offset, size, says) in [
            (-5, 10, "negative"),
            (4, -1, "negative"),
            (90, 20, "outside"),
            (i64::MAX, 10, "outside"),
        ] {
            let error = super::chunk_range(&[chunk(offset, size)], 100).unwrap_err();
            assert!(error.contains(says), "{offset}+{size}: {error}");
        }
        assert_eq!(
            super::chunk_range(&[chunk(4, 10), chunk(30, 5)], 100),
            Ok((4, 31))
        );
    }
}
