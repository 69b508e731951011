//! `--output table`: a response's AWS JSON as tables, the way `aws --output table`
//! lays it out: the operation as the title, an object's scalars as name/value rows,
//! each nested object under its member's name, a list of objects as one table with
//! a column per member.

use std::fmt::Write as _;

use comfy_table::{Attribute, Cell, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use serde_json::{Map, Value};

/// Whether tables may use bold: on a terminal, unless NO_COLOR (`no_color`, its
/// value) is set to anything non-empty (<https://no-color.org>).
pub fn styled(to_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    to_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// The tables of `value`, each under its title (`title`, then `title.Member`...).
pub fn render(title: &str, value: &Value, styled: bool) -> String {
    let mut out = String::new();
    section(title, value, styled, &mut out);
    out
}

fn section(title: &str, value: &Value, styled: bool, out: &mut String) {
    let heading = if styled {
        format!("\x1b[1m{title}\x1b[0m")
    } else {
        title.to_owned()
    };
    match value {
        Value::Object(members) => {
            let scalars: Vec<(&String, &Value)> =
                members.iter().filter(|(_, v)| !is_nested(v)).collect();
            if !scalars.is_empty() {
                let mut table = new_table(styled);
                for (name, value) in scalars {
                    table.add_row([Cell::new(name), Cell::new(scalar(value))]);
                }
                let _ = writeln!(out, "{heading}\n{table}");
            }
            for (name, value) in members.iter().filter(|(_, v)| is_nested(v)) {
                section(&format!("{title}.{name}"), value, styled, out);
            }
        }
        Value::Array(items) if items.iter().all(Value::is_object) && !items.is_empty() => {
            let columns = columns(items);
            let mut table = new_table(styled);
            table.set_header(columns.iter().map(|c| header(c, styled)));
            for item in items.iter().filter_map(Value::as_object) {
                table.add_row(
                    columns
                        .iter()
                        .map(|c| Cell::new(item.get(c).map(cell_text).unwrap_or_default())),
                );
            }
            let _ = writeln!(out, "{heading}\n{table}");
        }
        Value::Array(items) if !items.is_empty() => {
            let mut table = new_table(styled);
            for item in items {
                table.add_row([Cell::new(cell_text(item))]);
            }
            let _ = writeln!(out, "{heading}\n{table}");
        }
        Value::Array(_) => {}
        other => {
            let mut table = new_table(styled);
            table.add_row([Cell::new(scalar(other))]);
            let _ = writeln!(out, "{heading}\n{table}");
        }
    }
}

fn new_table(styled: bool) -> Table {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if styled {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    table
}

fn header(text: &str, styled: bool) -> Cell {
    let cell = Cell::new(text);
    if styled {
        cell.add_attribute(Attribute::Bold)
    } else {
        cell
    }
}

/// Every member name of the items, in order of first appearance.
fn columns(items: &[Value]) -> Vec<String> {
    let mut columns: Vec<String> = Vec::new();
    for item in items.iter().filter_map(Value::as_object) {
        for name in item.keys() {
            if !columns.contains(name) {
                columns.push(name.clone());
            }
        }
    }
    columns
}

fn is_nested(value: &Value) -> bool {
    value.is_object() || value.is_array()
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A cell of a list's table: scalars as text, anything nested as compact JSON.
fn cell_text(value: &Value) -> String {
    match value {
        Value::Object(members) => compact(members),
        other => scalar(other),
    }
}

fn compact(members: &Map<String, Value>) -> String {
    serde_json::to_string(members).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_or_no_terminal_means_no_styling() {
        assert!(styled(true, None));
        assert!(styled(true, Some("".as_ref())));
        assert!(!styled(true, Some("1".as_ref())));
        assert!(!styled(false, None));
        let value = serde_json::json!({"KeyId": "k", "Aliases": [{"AliasName": "a"}]});
        assert!(render("DescribeKey", &value, true).contains("\x1b[1mDescribeKey\x1b[0m"));
        let plain = render("DescribeKey", &value, false);
        assert!(!plain.contains('\x1b'), "{plain}");
        assert!(plain.starts_with("DescribeKey\n"), "{plain}");
        assert!(plain.contains("DescribeKey.Aliases\n"), "{plain}");
    }
}
