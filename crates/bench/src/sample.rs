//! Deterministic sample contacts: row `i` always has the same phone, tags
//! and valued tag, so runs can be compared and re-imports are updates.

use std::fmt::Write;

use bytes::Bytes;

/// Rows per generated chunk.
pub const CHUNK_ROWS: u64 = 10_000;

const CITIES: [&str; 5] = ["madrid", "lima", "bogota", "mexico", "santiago"];
const NAMES: [&str; 8] = ["Ana", "Luis", "María", "José", "Carmen", "Jorge", "Lucía", "Pedro"];

/// The CSV, header first, in chunks of at most [`CHUNK_ROWS`] rows, each
/// with the number of data rows it holds.
pub fn chunks(rows: u64) -> impl Iterator<Item = (u64, Bytes)> {
    let header = std::iter::once((0, Bytes::from_static(b"phone,name,tags,vt:customer_id\n")));
    let body = (0..rows.div_ceil(CHUNK_ROWS)).map(move |c| {
        let start = c * CHUNK_ROWS;
        let end = (start + CHUNK_ROWS).min(rows);
        let mut s = String::with_capacity(((end - start) * 64) as usize);
        for i in start..end {
            let _ = writeln!(s, "{}", row(i));
        }
        (end - start, Bytes::from(s))
    });
    header.chain(body)
}

/// One row: a Spanish mobile number (+34 6xx xxx xxx, valid for any i below
/// 100 million), a name, three tags and a customer id.
fn row(i: u64) -> String {
    let name = NAMES[(i % 8) as usize];
    let city = CITIES[(i % 5) as usize];
    let segment = if i % 10 == 0 { "vip" } else { "regular" };
    format!("+346{i:08},{name} {i},customers;{city};{segment},C-{i:07}")
}
