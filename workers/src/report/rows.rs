//! One page of the ledger as CSV rows: the columns, readable reasons, RFC
//! 3339 times and the neutralisation of cells a spreadsheet would run as
//! formulas. Pure: no IO.

use std::{borrow::Cow, fmt::Write as _};

use chrono::{DateTime, SecondsFormat, Utc};
use domain::campaign::Exclusion;
use store::reports::build::{LedgerRow, StepRow};

/// The header row, in order (docs/reports.md describes each column).
pub const COLUMNS: [&str; 12] = [
    "phone",
    "name",
    "outcome",
    "error_code",
    "error_msg",
    "sent_at",
    "delivered_at",
    "read_at",
    "replied_at",
    "time_per_funnel_step",
    "wamid",
    "time_zone",
];

/// Writes `rows` (in contact order) with their funnel `steps` (in contact
/// order too) as CSV, after the header row when `header`.
pub fn page(rows: &[LedgerRow], steps: &[StepRow], header: bool) -> csv::Result<Vec<u8>> {
    let mut out = csv::WriterBuilder::new().from_writer(Vec::with_capacity(rows.len() * 160 + 128));
    if header {
        out.write_record(COLUMNS)?;
    }
    let mut steps = steps.iter().peekable();
    let mut funnel = String::new();
    for row in rows {
        while steps.next_if(|s| s.contact_id < row.contact_id).is_some() {}
        funnel.clear();
        funnel.push('{');
        while let Some(step) = steps.next_if(|s| s.contact_id == row.contact_id) {
            if funnel.len() > 1 {
                funnel.push(',');
            }
            // A JSON string (quotes and escapes) for the step name.
            funnel.push_str(&serde_json::Value::from(step.step.as_str()).to_string());
            let _ = write!(funnel, ":\"{}\"", time(step.reached_at));
        }
        funnel.push('}');
        let cells: [Cow<'_, str>; 12] = [
            Cow::Borrowed(&row.phone),
            Cow::Borrowed(row.name.as_deref().unwrap_or_default()),
            Cow::Borrowed(&row.state),
            Cow::Borrowed(row.reason_code.as_deref().unwrap_or_default()),
            error_msg(row).unwrap_or_default(),
            row.sent_at.map(time).map_or(Cow::Borrowed(""), Cow::Owned),
            row.delivered_at.map(time).map_or(Cow::Borrowed(""), Cow::Owned),
            row.read_at.map(time).map_or(Cow::Borrowed(""), Cow::Owned),
            row.replied_at.map(time).map_or(Cow::Borrowed(""), Cow::Owned),
            Cow::Borrowed(&funnel),
            Cow::Borrowed(row.wamid.as_deref().unwrap_or_default()),
            Cow::Borrowed(row.time_zone.as_deref().unwrap_or_default()),
        ];
        for cell in &cells {
            out.write_field(neutralise(cell).as_bytes())?;
        }
        out.write_record(None::<&[u8]>)?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

/// RFC 3339 in UTC to the second, e.g. `2026-11-20T10:15:00Z`.
fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Why the recipient was not sent to, or why its send failed: the stored
/// reason, else (planning stores only codes for exclusions) the sentence
/// for the exclusion code; Meta's error code when the reason lacks it.
fn error_msg(row: &LedgerRow) -> Option<Cow<'_, str>> {
    let message = match (&row.reason, &row.reason_code) {
        (Some(reason), _) => Cow::Borrowed(reason.as_str()),
        (None, Some(code)) => Cow::Owned(
            Exclusion::from_parts(
                code,
                row.reason_key.clone(),
                row.engaged_campaign_id,
                row.engaged_campaign_name.clone(),
            )
            .map_or_else(|| code.replace('_', " "), |e| e.to_string()),
        ),
        (None, None) => return None,
    };
    match row.meta_error_code {
        Some(meta) if !message.contains(&meta.to_string()) => {
            Some(Cow::Owned(format!("{message} (Meta error {meta})")))
        }
        _ => Some(message),
    }
}

/// A cell a spreadsheet would evaluate (it starts with `=`, `+`, `-`, `@`,
/// a tab or a carriage return) gets a leading `'`, so it is shown as text
/// (OWASP, "CSV Injection"). Phones start with `+`, so every phone is
/// written `'+34…`.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn row(contact_id: i64, state: &str) -> LedgerRow {
        LedgerRow {
            contact_id,
            phone: format!("+3461200000{contact_id}"),
            name: Some(format!("N{contact_id}")),
            state: state.into(),
            reason_code: None,
            reason: None,
            reason_key: None,
            meta_error_code: None,
            engaged_campaign_id: None,
            engaged_campaign_name: None,
            sent_at: None,
            delivered_at: None,
            read_at: None,
            replied_at: None,
            wamid: None,
            time_zone: None,
        }
    }

    fn parse(bytes: &[u8]) -> Vec<Vec<String>> {
        csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(bytes)
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect()
    }

    #[test]
    fn formula_cells_are_neutralised_and_others_kept() {
        for cell in ["=HYPERLINK(\"http://x\")", "+34612", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralise(cell), format!("'{cell}"));
        }
        for cell in ["", "Ana", "'quoted", " =spaced", "{}", "2026-11-20T10:15:00Z"] {
            assert_eq!(neutralise(cell), cell);
        }
    }

    #[test]
    fn a_page_has_the_columns_steps_and_reasons() {
        let t = Utc.with_ymd_and_hms(2026, 11, 20, 10, 15, 0).unwrap();
        let mut read = row(1, "read");
        (read.sent_at, read.delivered_at, read.read_at, read.wamid) =
            (Some(t), Some(t), Some(t), Some("wamid.A".into()));
        read.name = Some("=HYPERLINK(\"http://evil\",\"x\")".into());
        let mut excluded = row(2, "excluded");
        (excluded.reason_code, excluded.reason_key) = (Some("missing_valued_tag".into()), Some("order_id".into()));
        let mut failed = row(3, "failed");
        failed.reason_code = Some("not_on_whatsapp".into());
        failed.reason = Some("not a WhatsApp user".into());
        failed.meta_error_code = Some(131026);
        let steps = vec![
            StepRow { contact_id: 0, step: "orphan".into(), reached_at: t },
            StepRow { contact_id: 1, step: "opened".into(), reached_at: t },
            StepRow { contact_id: 1, step: "say \"hi\"".into(), reached_at: t + chrono::Duration::seconds(5) },
        ];
        let rows = parse(&page(&[read, excluded, failed], &steps, true).unwrap());
        assert_eq!(rows[0], COLUMNS);
        let t = "2026-11-20T10:15:00Z";
        assert_eq!(
            rows[1],
            [
                "'+34612000001",
                "'=HYPERLINK(\"http://evil\",\"x\")",
                "read",
                "",
                "",
                t,
                t,
                t,
                "",
                r#"{"opened":"2026-11-20T10:15:00Z","say \"hi\"":"2026-11-20T10:15:05Z"}"#,
                "wamid.A",
                ""
            ]
        );
        assert_eq!(
            rows[2][2..5],
            ["excluded", "missing_valued_tag", &Exclusion::MissingValuedTag { key: "order_id".into() }.to_string()]
        );
        assert_eq!(rows[2][9], "{}");
        assert_eq!(rows[3][4], "not a WhatsApp user (Meta error 131026)");
        let steps: serde_json::Value = serde_json::from_str(&rows[1][9]).unwrap();
        assert_eq!(steps["say \"hi\""], "2026-11-20T10:15:05Z");
    }
}
