//! Excel workbooks for downloads (`rust_xlsxwriter`): one sheet, a bold header row that stays in
//! view, a filter on every column, and cells typed as what they are (text stays text, so an
//! RN or a system ID is never turned into a rounded number; a time is an Excel date).

use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, XlsxError};

use crate::error::PageError;

/// One cell of a row.
pub enum Cell {
    Text(String),
    Number(f64),
    /// Unix seconds, shown as a UTC date and time.
    Time(u64),
    /// Kopecks, shown as roubles with two decimals.
    Money(u64),
    Empty,
}

/// The workbook's bytes: `headers` over `rows`, on a sheet named `sheet`.
pub fn build(sheet: &str, headers: &[&str], rows: &[Vec<Cell>]) -> Result<Vec<u8>, PageError> {
    build_inner(sheet, headers, rows).map_err(|e| PageError::Internal(format!("workbook: {e}")))
}

fn build_inner(sheet: &str, headers: &[&str], rows: &[Vec<Cell>]) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name(sheet)?;
    let bold = Format::new().set_bold();
    let when = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let money = Format::new().set_num_format("#,##0.00");
    for (c, h) in headers.iter().enumerate() {
        ws.write_string_with_format(0, col(c)?, *h, &bold)?;
    }
    for (r, cells) in rows.iter().enumerate() {
        let row = u32::try_from(r + 1).map_err(|_| XlsxError::RowColumnLimitError)?;
        for (c, cell) in cells.iter().enumerate() {
            let c = col(c)?;
            match cell {
                Cell::Text(s) => {
                    ws.write_string(row, c, s)?;
                }
                Cell::Number(n) => {
                    ws.write_number(row, c, *n)?;
                }
                // Exact below 2^53 kopecks, far beyond any shift.
                Cell::Money(k) => {
                    ws.write_number_with_format(row, c, *k as f64 / 100.0, &money)?;
                }
                Cell::Time(t) => {
                    let t = i64::try_from(*t)
                        .map_err(|_| XlsxError::DateTimeRangeError(t.to_string()))?;
                    ws.write_datetime_with_format(
                        row,
                        c,
                        ExcelDateTime::from_timestamp(t)?,
                        &when,
                    )?;
                }
                Cell::Empty => {}
            }
        }
    }
    let last_row = u32::try_from(rows.len()).map_err(|_| XlsxError::RowColumnLimitError)?;
    if !headers.is_empty() {
        ws.autofilter(0, 0, last_row, col(headers.len() - 1)?)?;
    }
    ws.set_freeze_panes(1, 0)?;
    ws.autofit();
    wb.save_to_buffer()
}

fn col(c: usize) -> Result<u16, XlsxError> {
    u16::try_from(c).map_err(|_| XlsxError::RowColumnLimitError)
}
